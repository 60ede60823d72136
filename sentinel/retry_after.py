"""``Retry-After`` (RFC 9110, section 10.2.3): delay-seconds or an HTTP date, for the feed fetcher
and the Slack outbox alike."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 7 * 24 * 3600.0  # a longer (or absurd) value is read as a week


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``120`` or ``Wed, 21 Oct 2026 07:28:00 GMT`` (a date in the past
    is 0); None when the header is absent or unreadable. Never more than a week."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)
