"""What `sentinel status` shows: feed health, counts, last runs, open alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sentinel.db.models import (
    Alert,
    AlertDelivery,
    Article,
    ArticleFeed,
    Classification,
    Feed,
    Model,
    PipelineRun,
)
from sentinel.pipeline import DEFAULT_LEASE_S, abandoned_reason, stale_runs_query


@dataclass
class Status:
    feeds: list[dict[str, Any]] = field(default_factory=list)
    articles: int = 0
    classifications: int = 0
    by_sentiment: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)
    last_runs: list[dict[str, Any]] = field(default_factory=list)
    open_alerts: list[dict[str, Any]] = field(default_factory=list)
    failed_deliveries: list[dict[str, Any]] = field(default_factory=list)
    unread_languages: dict[str, dict[str, int]] = field(default_factory=dict)


def unread_language_counts(conn: Connection, since: datetime | None = None,
                           until: datetime | None = None) -> dict[str, dict[str, int]]:
    """``{feed name: {language: articles}}``: articles (published in [since, until) when given)
    whose current classification by the active model was withheld because the model does not
    read their language. Feeds without any are left out."""
    published = [cond for cond in (
        Article.published_at >= since if since is not None else None,
        Article.published_at < until if until is not None else None) if cond is not None]
    rows = conn.execute(
        sa.select(Feed.name, Classification.unread_language, sa.func.count())
        .select_from(Classification)
        .join(Model, sa.and_(Model.id == Classification.model_id, Model.active))
        .join(Article, sa.and_(Article.id == Classification.article_id,
                               Article.content_hash == Classification.content_hash))
        .join(ArticleFeed, ArticleFeed.article_id == Article.id)
        .join(Feed, Feed.id == ArticleFeed.feed_id)
        .where(Classification.unread_language.is_not(None), *published)
        .group_by(Feed.name, Classification.unread_language)
        .order_by(Feed.name, sa.func.count().desc(), Classification.unread_language))
    out: dict[str, dict[str, int]] = {}
    for feed, language, count in rows:
        if language is not None:  # (the query keeps only these)
            out.setdefault(feed, {})[language] = count
    return out


def unread_articles_per_feed(conn: Connection, since: datetime,
                             until: datetime) -> dict[str, int]:
    """Per feed, the articles of [since, until) left unclassified for their language (what the
    report's feed table shows)."""
    return {feed: sum(languages.values())
            for feed, languages in unread_language_counts(conn, since, until).items()}


def collect_status(conn: Connection, lease_s: float = DEFAULT_LEASE_S) -> Status:
    """Everything `sentinel status` shows. Reads only: a ``running`` row whose lease ran out is
    shown as abandoned (the next stage run records it so)."""
    status = Status()
    unhealthy_first = sa.case((Feed.consecutive_failures > 0, 0), else_=1)
    feeds = conn.execute(sa.select(Feed).order_by(unhealthy_first, Feed.consecutive_failures.desc(),
                                                  Feed.name)).mappings()
    status.feeds = [
        {"name": f["name"], "healthy": f["consecutive_failures"] == 0,
         "failures": f["consecutive_failures"], "last_success_at": f["last_success_at"],
         "last_http_status": f["last_http_status"], "last_error": f["last_error"]}
        for f in feeds
    ]
    status.articles = conn.scalar(sa.select(sa.func.count()).select_from(Article)) or 0
    status.classifications = conn.scalar(
        sa.select(sa.func.count()).select_from(Classification)) or 0
    latest_model = sa.select(sa.func.max(Classification.model_id)).scalar_subquery()
    for column, target in ((Classification.sentiment, status.by_sentiment),
                           (Classification.topic, status.by_topic)):
        rows = conn.execute(sa.select(column, sa.func.count())
                            .where(Classification.model_id == latest_model, column.is_not(None))
                            .group_by(column).order_by(sa.func.count().desc()))
        target.update({label: n for label, n in rows if label is not None})
    latest = (sa.select(PipelineRun.stage, sa.func.max(PipelineRun.id).label("id"))
              .group_by(PipelineRun.stage).subquery())
    runs = conn.execute(sa.select(PipelineRun).join(latest, PipelineRun.id == latest.c.id)
                        .order_by(PipelineRun.started_at)).mappings()
    stale = dict(conn.execute(stale_runs_query(lease_s)).all())
    status.last_runs = [
        {"stage": r["stage"], "status": "abandoned" if r["id"] in stale else r["status"],
         "started_at": r["started_at"], "finished_at": r["finished_at"], "counts": r["counts"],
         "error": abandoned_reason(stale[r["id"]], lease_s) if r["id"] in stale else r["error"]}
        for r in runs
    ]
    alerts = conn.execute(sa.select(Alert).where(Alert.state != "resolved")
                          .order_by(Alert.started_at.desc())).mappings()
    status.open_alerts = [
        {"segment": a["dedup_key"], "state": a["state"], "observed": a["observed"],
         "expected": a["expected"], "started_at": a["started_at"]}
        for a in alerts
    ]
    status.unread_languages = unread_language_counts(conn)
    unsure = (AlertDelivery.status == "in_flight") & AlertDelivery.last_error.is_not(None)
    dead = conn.execute(sa.select(AlertDelivery)
                        .where(AlertDelivery.status.in_(["dead", "failed"]) | unsure)
                        .order_by(AlertDelivery.id.desc()).limit(20)).mappings()
    status.failed_deliveries = [
        {"id": d["id"], "alert_id": d["alert_id"], "status": d["status"],
         "attempts": d["attempts"], "last_error": d["last_error"]}
        for d in dead
    ]
    return status


COUNT_ORDER = ["feeds", "fetched", "not_modified", "failed", "items", "new", "updated",
               "duplicates", "classified", "texts_per_s", "alerts", "sent"]


def _ordered(counts: dict[str, Any]) -> list[tuple[str, Any]]:
    """Counts in reading order (JSONB does not keep the order they were written in)."""
    rank = {key: i for i, key in enumerate(COUNT_ORDER)}
    return sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def format_when(value: datetime | None) -> str:
    """A timestamp as the CLI and the report show it: ``2026-11-29 09:00 UTC``, or never."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def render_status(status: Status) -> str:
    lines = [f"Feeds ({len(status.feeds)}):"]
    for f in status.feeds:
        mark = "ok  " if f["healthy"] else "FAIL"
        line = f"  {mark} {f['name']:<32} last success {format_when(f['last_success_at'])}"
        if not f["healthy"]:
            line += f"  failures={f['failures']} error={f['last_error']}"
        lines.append(line)
    lines.append(f"Articles: {status.articles}   Classifications: {status.classifications}")
    if status.by_sentiment:
        lines.append("  by sentiment: "
                     + ", ".join(f"{k}={v}" for k, v in status.by_sentiment.items()))
    if status.by_topic:
        lines.append("  by topic: " + ", ".join(f"{k}={v}" for k, v in status.by_topic.items()))
    if status.unread_languages:
        lines.append("  not classified, in a language the model does not read:")
        for feed, by_language in status.unread_languages.items():
            lines.append(f"    {feed:<32} "
                         + ", ".join(f"{k}={v}" for k, v in by_language.items()))
    lines.append("Last runs:")
    for r in status.last_runs or [{"stage": "-", "status": "none yet", "started_at": None,
                                   "counts": {}, "error": None}]:
        counts = " ".join(f"{k}={v}" for k, v in _ordered(r["counts"] or {}))
        extra = f" ({r['error']})" if r["error"] else ""
        lines.append(f"  {r['stage']:<9} {r['status']:<9} {format_when(r['started_at'])} "
                     f"{counts}{extra}")
    lines.append(f"Open alerts ({len(status.open_alerts)}):")
    for a in status.open_alerts:
        lines.append(f"  {a['state']:<8} {a['segment']:<36} observed={a['observed']:g} "
                     f"expected={a['expected']:.2f} since {format_when(a['started_at'])}")
    if status.failed_deliveries:
        lines.append("Undelivered notifications:")
        for d in status.failed_deliveries:
            lines.append(f"  delivery {d['id']} (alert {d['alert_id']}) {d['status']} "
                         f"after {d['attempts']} attempts: {d['last_error']}")
    return "\n".join(lines)
