"""The classify stage on a real PostgreSQL: chunked commits, resume after a crash, backfill with a
second model version, the active model, stale classifications after a text change."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sentinel.db.models import Article, Classification, Model

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Two tiny random models with different weights (so different versions)."""
    from sentinel.classify.testing import write_tiny_multitask

    root = tmp_path_factory.mktemp("models")
    return write_tiny_multitask(root / "a", name="tiny", seed=1), write_tiny_multitask(
        root / "b", name="tiny", seed=2
    )


@pytest.fixture
def stage_settings(settings, model_dirs):
    return settings.model_copy(
        update={
            "model_dir": model_dirs[0],
            "precision": "fp32",
            "device": "cpu",
            "classify_chunk": 4,
        }
    )


@pytest.fixture
def options(stage_settings):
    from sentinel.options import classify_options

    return classify_options(stage_settings)


def add_articles(engine, n: int, start: int = 0) -> None:
    rows = []
    for i in range(start, start + n):
        title = f"stock {i} rises after earnings"
        rows.append(
            {
                "identity": f"test:{i}",
                "title": title,
                "summary": "oil falls. fed rates rise.",
                "published_at": T0 + timedelta(hours=i),
                "fetched_at": T0 + timedelta(hours=i),
                "content_hash": hashlib.sha256(title.encode()).hexdigest(),
            }
        )
    with engine.begin() as conn:
        conn.execute(sa.insert(Article), rows)


def counts_by_model(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Model.version, sa.func.count(Classification.id))
            .join(Classification, Classification.model_id == Model.id)
            .group_by(Model.version)
        ).all()
    return dict(rows)


class CrashAfter:
    """Wraps a classifier; raises on the n-th call (a crash mid-run)."""

    def __init__(self, inner, calls: int):
        self.inner, self.calls = inner, calls

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def classify(self, texts):
        self.calls -= 1
        if self.calls < 0:
            raise RuntimeError("simulated crash")
        return self.inner.classify(texts)


def test_resume_after_crash_loses_nothing_and_duplicates_nothing(db, options) -> None:
    from sentinel.classify.stage import classify_pending, get_classifier

    add_articles(db, 10)
    classifier = get_classifier(options.classifier)
    with pytest.raises(RuntimeError, match="simulated crash"):
        classify_pending(db, options, classifier=CrashAfter(classifier, calls=2))
    assert counts_by_model(db) == {classifier.version: 8}  # two committed chunks of 4

    result = classify_pending(db, options, classifier=classifier)
    assert result["classified"] == 2 and result["version"] == classifier.version
    assert counts_by_model(db) == {classifier.version: 10}
    assert classify_pending(db, options, classifier=classifier)["classified"] == 0

    with db.connect() as conn:
        row = conn.execute(sa.select(Classification).limit(1)).one()
        model = conn.execute(sa.select(Model)).one()
    assert row.sentiment in ("negative", "neutral", "positive")
    assert row.p_negative + row.p_neutral + row.p_positive == pytest.approx(1.0, abs=1e-4)
    assert row.topic and 0 < row.topic_prob <= 1
    assert model.active and model.name == "tiny" and model.tasks["sentiment"][0] == "negative"


def test_changed_text_is_classified_again(db, options) -> None:
    from sentinel.classify.stage import classify_pending

    add_articles(db, 3)
    classify_pending(db, options)
    with db.begin() as conn:
        conn.execute(
            sa.update(Article)
            .where(Article.identity == "test:1")
            .values(title="stock plunges", content_hash="changed")
        )
    assert classify_pending(db, options)["classified"] == 1
    with db.connect() as conn:
        hashes = conn.scalars(sa.select(Classification.content_hash)).all()
    assert "changed" in hashes and len(hashes) == 3


def test_backfill_with_second_version_keeps_both(db, options, model_dirs) -> None:
    from sentinel.classify.stage import classify_pending, get_classifier, reclassify_range

    add_articles(db, 6)
    first = classify_pending(db, options)
    result = reclassify_range(
        db, options, model=model_dirs[1], since=T0, until=T0 + timedelta(hours=4)
    )
    second = get_classifier(options.classifier, model_dirs[1]).version
    assert result["classified"] == 4 and result["version"] == second != first["version"]
    assert counts_by_model(db) == {first["version"]: 6, second: 4}
    with db.connect() as conn:
        active = conn.scalars(sa.select(Model.version).where(Model.active)).all()
    assert active == [first["version"]]  # the backfill did not change the current model

    again = reclassify_range(
        db, options, model=model_dirs[1], since=T0, until=T0 + timedelta(hours=4)
    )
    assert again["classified"] == 4 and counts_by_model(db)[second] == 4  # replaced, not added
