"""The demo's path through the real pipeline stages: the bundled sample feeds (a week of ordinary
news, then a burst of negative HLVP stories), a stand-in classifier (keywords, written straight
into the tables: these tests never depend on the real model), detect and notify without Slack.
The burst must be detected and printed, and a second run must send nothing new."""

from __future__ import annotations

import re

import sqlalchemy as sa

from sentinel.pipeline import run_detect, run_ingest, run_notify

NEGATIVE = re.compile(r"\b(sues?|probe|fraud|lawsuit|fined|investigation|subpoenas?|charged|warns|"
                      r"halt|freezes|resigns|accuse[sd]?|loses|misses|cuts|contracts)\b", re.I)


def classify_by_keywords(engine) -> int:
    with engine.begin() as conn:
        model = conn.scalar(sa.text("SELECT id FROM model WHERE active"))
        if model is None:
            model = conn.scalar(sa.text(
                "INSERT INTO model (name, version, source, tasks, active) VALUES "
                "('keywords', '1', 'tests', '{}', true) RETURNING id"))
        rows = conn.execute(sa.text(
            "SELECT a.id, a.title, a.content_hash FROM article a LEFT JOIN classification c "
            "ON c.article_id = a.id AND c.model_id = :m WHERE c.id IS NULL"), {"m": model}).all()
        for row in rows:
            negative = bool(NEGATIVE.search(row.title))
            conn.execute(sa.text(
                "INSERT INTO classification (article_id, model_id, content_hash, sentiment, "
                "p_negative, topic) VALUES (:a, :m, :h, :s, :p, :t)"),
                {"a": row.id, "m": model, "h": row.content_hash,
                 "s": "negative" if negative else "neutral", "p": 0.9 if negative else 0.1,
                 "t": "Legal" if "Halvorsen" in row.title else "Markets"})
    return len(rows)


def test_the_sample_burst_is_detected_printed_once(db, demo_settings, capsys):
    settings = demo_settings
    assert run_ingest(db, settings).status == "ok"
    assert classify_by_keywords(db) > 150
    detected = run_detect(db, settings)
    assert detected.status == "ok" and detected.counts["fired"] >= 1, detected.line()
    notified = run_notify(db, settings)
    printed = capsys.readouterr().out
    assert notified.counts["sent"] == detected.counts["queued"] >= 1
    assert "ALERT: negative news spike in all news" in printed
    # the samples' own watchlist maps "Halvorsen Pharmaceuticals" to HLVP: 13 of the 18 burst
    # titles name the company without a cashtag
    assert "ALERT: negative news spike in ticker HLVP" in printed
    assert "Halvorsen" in printed and "FROM v_article_current" in printed
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT channel, status FROM alert_delivery")).all()
    assert {tuple(r) for r in stored} == {("log", "sent")}

    # the demo again: same feeds, nothing new is classified, detected or sent
    run_ingest(db, settings)
    assert classify_by_keywords(db) == 0
    again = run_detect(db, settings)
    assert again.counts["opened"] == again.counts["queued"] == 0
    assert run_notify(db, settings).counts["sent"] == 0
    assert capsys.readouterr().out == ""
