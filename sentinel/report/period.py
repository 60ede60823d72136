"""The period a report may cover: at most :data:`MAX_PERIOD`, between 1970 and 2200.

Kept free of heavy imports, so ``sentinel report`` refuses a bad period at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.errors import SentinelError

MAX_PERIOD = timedelta(days=366)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_period(since: datetime | None, until: datetime | None, *,
                 now: datetime) -> tuple[datetime, datetime]:
    """The report period: ``until`` defaults to ``now``, ``since`` to 7 days before it. Dates
    outside 1970..2200 and periods longer than MAX_PERIOD are refused with one clear line."""
    def within(name: str, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise SentinelError(f"report {name} must be timezone-aware, got "
                                f"{value.isoformat()}; add a UTC offset such as +00:00")
        if not EARLIEST <= value <= LATEST:
            raise SentinelError(f"report --{name} {value.isoformat()} is outside the dates a "
                                f"report covers ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} UTC); "
                                "pass a date in that range")
        return value.astimezone(UTC)

    until = within("until", until if until is not None else now)
    since = within("since", since) if since is not None else until - timedelta(days=7)
    if since >= until:
        raise SentinelError(f"report period is empty: since {since.isoformat()} is not before "
                            f"until {until.isoformat()}; pass an earlier --since")
    if until - since > MAX_PERIOD:
        raise SentinelError(f"report period {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC "
                            f"is {(until - since).days:,} days long; a report covers at most "
                            f"{MAX_PERIOD.days} days: pass a later --since or an earlier --until")
    return since, until
