"""The classify stage: what ``pipeline.run_classify`` / ``run_reclassify`` call.

``classify_pending`` classifies every article that has no classification by the configured
(active) model version, or whose text changed since (``content_hash`` differs), in chunks of
``classify_chunk`` articles; each chunk is one transaction, so a crash loses at most the chunk in
flight and the next run resumes where it stopped. ``reclassify_range`` classifies the articles
published in [since, until) again with another model version (backfill); both versions' rows
are kept, and the active model's stay the "current" ones.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from sentinel.classify.classifier import (
    Classifier,
    ClassifierSpec,
    Prediction,
    TextClassifier,
)
from sentinel.db.models import Article, Classification, Model
from sentinel.ingest.language import reads_language
from sentinel.progress import Progress, track

log = logging.getLogger(__name__)
PREDICTION_COLUMNS = tuple(f.name for f in fields(Prediction))  # named as in classification

_CACHE: dict[str, Classifier] = {}


def article_text(title: str, summary: str | None) -> str:
    """Title + summary, the text the classifier scores (long ones are chunked, not truncated)."""
    title, summary = (title or "").strip(), (summary or "").strip()
    if not summary or summary == title:
        return title
    joiner = " " if title.endswith((".", "!", "?", ":")) else ". "
    return f"{title}{joiner}{summary}"


@dataclass(frozen=True)
class ClassifyOptions:
    """What the classify stage is told (``sentinel.options.classify_options``)."""

    classifier: ClassifierSpec
    chunk: int = 512  # articles classified and committed per transaction


def get_classifier(spec: ClassifierSpec, model_dir: str | Path | None = None) -> Classifier:
    """The classifier ``spec`` describes, loaded once per process. ``model_dir`` (a backfill
    with another model version) answers both tasks, whatever external models are configured."""
    if model_dir:
        spec = spec.only(model_dir)
    key = repr(spec)
    if key not in _CACHE:
        _CACHE[key] = spec.load()
    return _CACHE[key]


def configured_source(spec: ClassifierSpec) -> str:
    """The ``model.source`` the configured classifier registers, without loading it (as
    ``load_classifier`` joins it: the model directory unless both tasks come from external
    checkpoints, then the external ones)."""
    external = [str(m) for m in (spec.sentiment_model, spec.topic_model) if m]
    own = [str(spec.model_dir)] if spec.model_dir is not None and len(external) < 2 else []
    return ";".join(own + external)


def has_pending_work(conn: Connection, spec: ClassifierSpec) -> bool:
    """Whether ``classify_pending`` would find work, answered from the database alone so an
    idle run never loads the model: an article without a current verdict by the active model
    while that model is the configured one (same source and, for a Sentinel model directory,
    the name and version in its sentinel.json). No active model yet, or another one configured:
    True as soon as there is any article."""
    active = conn.execute(sa.select(Model.id, Model.name, Model.version, Model.source)
                          .where(Model.active)).first()
    if active is None or active.source != configured_source(spec) or \
            _model_changed(spec, active.name, active.version):
        return conn.scalar(sa.select(sa.exists().select_from(Article))) or False
    mine, pending = _unclassified(active.id)
    return conn.scalar(sa.select(sa.exists(
        sa.select(Article.id).outerjoin(Classification, mine).where(pending)))) or False


def _unclassified(model_id: int) -> tuple[Any, Any]:
    """The join to ``model_id``'s verdicts, and the condition of an article that has none for
    its present text (never classified, or its content changed since)."""
    mine = sa.and_(Classification.article_id == Article.id, Classification.model_id == model_id)
    pending = sa.or_(Classification.id.is_(None),
                     Classification.content_hash != Article.content_hash)
    return mine, pending


def _model_changed(spec: ClassifierSpec, name: str, version: str) -> bool:
    """A Sentinel model directory whose metadata (sentinel.json, read as plain JSON: no torch)
    names another model or version than the active row: retrained in place."""
    if spec.sentiment_model or spec.topic_model or spec.model_dir is None:
        return False
    try:
        meta = json.loads((Path(spec.model_dir) / "sentinel.json").read_text())
    except (OSError, ValueError):
        return False  # missing or unreadable: loading it reports that, if there is work
    return isinstance(meta, dict) and (meta.get("name"), meta.get("version")) != (name, version)


def register_model(conn: Connection, classifier: TextClassifier, *, activate: bool) -> int:
    """Insert (or refresh) the ``model`` row for this name + version; optionally make it the
    active model (the one whose classifications are current). Returns its id."""
    info = classifier.describe()
    stmt = insert(Model).values(
        name=info["name"],
        version=info["version"],
        source=info["source"],
        tasks=info["tasks"],
        metrics=info["metrics"],
    )
    model_id = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[Model.name, Model.version],
            set_={
                "source": stmt.excluded.source,
                "tasks": stmt.excluded.tasks,
                "metrics": stmt.excluded.metrics,
            },
        ).returning(Model.id)
    ).scalar_one()
    if activate:
        conn.execute(
            sa.update(Model).where(Model.active, Model.id != model_id).values(active=False)
        )
        conn.execute(sa.update(Model).where(Model.id == model_id).values(active=True))
    return int(model_id)


def classify_pending(
    engine: Engine, options: ClassifyOptions, *, classifier: TextClassifier | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Classify what the active model has not classified yet (or classified for older text)."""
    classifier = classifier or get_classifier(options.classifier)
    with engine.begin() as conn:
        model_id = register_model(conn, classifier, activate=True)
    mine, pending = _unclassified(model_id)
    return _classify_chunks(
        engine, classifier, model_id, pending, mine, chunk=options.chunk, limit=limit
    )


def reclassify_range(
    engine: Engine,
    options: ClassifyOptions,
    *,
    model: str | Path | None,
    since: datetime,
    until: datetime,
    classifier: TextClassifier | None = None,
) -> dict[str, Any]:
    """Classify every article published in [since, until) with ``model`` (a model directory;
    None: the configured one), replacing that model version's earlier verdicts only."""
    classifier = classifier or get_classifier(options.classifier, model)
    with engine.begin() as conn:
        active = conn.scalar(sa.select(sa.func.count()).select_from(Model).where(Model.active))
        model_id = register_model(conn, classifier, activate=not active)
    mine, _ = _unclassified(model_id)
    in_range = sa.and_(Article.published_at >= since, Article.published_at < until)
    return _classify_chunks(
        engine, classifier, model_id, in_range, mine, chunk=options.chunk
    )


def _track(engine: Engine, where: Any, join_on: Any, *, limit: int | None,
           chunk: int) -> Progress:
    """Progress over the articles to classify: a bar on a terminal, log lines otherwise
    (announced when there is more than one chunk of work)."""
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(Article)
                            .outerjoin(Classification, join_on).where(where)) or 0
    return track(total if limit is None else min(total, limit), "classify", unit="article",
                 announce_from=chunk + 1)


def _classify_chunks(
    engine: Engine,
    classifier: TextClassifier,
    model_id: int,
    where: Any,
    join_on: Any,
    *,
    chunk: int,
    limit: int | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    classified, chunks, seconds_in_model, last_id, unread = 0, 0, 0.0, 0, 0
    progress = _track(engine, where, join_on, limit=limit, chunk=chunk)
    while limit is None or classified < limit:
        size = chunk if limit is None else min(chunk, limit - classified)
        with engine.begin() as conn:  # one chunk = one transaction
            rows = conn.execute(
                sa.select(Article.id, Article.title, Article.summary, Article.content_hash,
                          Article.language)
                .outerjoin(Classification, join_on)
                .where(where, Article.id > last_id)
                .order_by(Article.id)
                .limit(size)
                .with_for_update(of=Article, skip_locked=True)
            ).all()
            if not rows:
                break
            # articles in a language the model does not read get no verdict, only a mark
            readable = [r for r in rows if reads_language(r.language, classifier.languages)]
            tick = time.perf_counter()
            predictions = dict(zip((r.id for r in readable), classifier.classify(
                [article_text(r.title, r.summary) for r in readable]), strict=True))
            seconds_in_model += time.perf_counter() - tick
            values = [{"article_id": r.id, "model_id": model_id, "content_hash": r.content_hash,
                       **asdict(predictions.get(r.id, Prediction())),
                       "unread_language": None if r.id in predictions else r.language}
                      for r in rows]
            unread += len(rows) - len(readable)
            stmt = insert(Classification).values(values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[Classification.article_id, Classification.model_id],
                    set_={c: stmt.excluded[c]
                          for c in ("content_hash", "unread_language", *PREDICTION_COLUMNS)}
                    | {"created_at": sa.func.now()},
                )
            )
        last_id = rows[-1].id
        classified += len(rows)
        chunks += 1
        progress.update(len(rows))
    progress.close()
    rate = (classified - unread) / seconds_in_model if seconds_in_model > 0 else 0.0
    counts = {
        "model": classifier.name,
        "version": classifier.version,
        "classified": classified - unread,
        "unread_language": unread,
        "chunks": chunks,
        "texts_per_s": round(rate, 1),
        "device": classifier.device,
        "precision": classifier.precision,
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("classify %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts
