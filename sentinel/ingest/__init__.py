"""Ingest stage: fetch feeds (HTTP), parse (feedparser, from bytes), normalise, upsert."""
