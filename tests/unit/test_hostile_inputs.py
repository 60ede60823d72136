"""The pure parts of the hostile-world guarantees (docs/operations.md "Reliability"): no I/O here.

The address guard's decisions, Retry-After in both RFC 9110 forms, credentials masked in what is
printed, impossible and implausible dates, URLs that must be refused when a feeds file is read,
settings bounds, and which database errors mean "the connection is gone".
"""

from __future__ import annotations

import ipaddress
import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from sentinel.db.engine import lost_connection
from sentinel.ingest.feeds import check_url
from sentinel.ingest.normalize import DATE_FLOOR, entry_time, impossible_date
from sentinel.ingest.run import host_key
from sentinel.ingest.transport import AddressPolicy
from sentinel.redact import MaskSecrets, mask_secrets
from sentinel.retry_after import MAX_RETRY_AFTER_S, parse_retry_after
from sentinel.settings import Settings, allowed_values, load_settings

# --- the address guard ----------------------------------------------------------------------


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata endpoint
    ("fe80::1", "link-local"), ("fd12:3456::1", "private"), ("0.0.0.0", "unspecified"),
    ("224.0.0.251", "multicast"), ("100.64.0.1", "not a public address"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
])
def test_internal_addresses_are_refused(address, kind):
    reason = AddressPolicy().refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_listed_networks_are_allowed_and_nothing_else():
    policy = AddressPolicy.from_strings(["127.0.0.1", "10.20.0.0/16"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None  # the same host
    assert "loopback" in policy.refusal(ipaddress.ip_address("127.0.0.2"))
    assert "private" in policy.refusal(ipaddress.ip_address("10.21.0.1"))


# --- Retry-After ----------------------------------------------------------------------------


def test_retry_after_in_both_forms():
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Sun, 29 Nov 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("Sunday, 29-Nov-26 12:00:10 GMT", now) == 10.0  # RFC 850 form
    assert parse_retry_after("99999999999999999999") == MAX_RETRY_AFTER_S
    for unreadable in ("soon", "-5", "1.5", "", None, "Sun, 99 Foo 2026"):
        assert parse_retry_after(unreadable, now) is None


def test_slack_429_with_a_date_is_a_retry_not_a_crash():
    from sentinel.alerts.slack import _rate_limited

    when = datetime.fromtimestamp(time.time() + 300, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    outcome = _rate_limited({"Retry-After": when})
    assert outcome.status == "retry" and 290 <= outcome.retry_after <= 300
    assert _rate_limited({"Retry-After": "garbage"}).retry_after == 60.0
    assert _rate_limited({}).retry_after == 60.0


# --- credentials ----------------------------------------------------------------------------


def test_credentials_are_masked_in_text():
    text = ("GET http://ann:hunter2@feeds.example.com/rss?lang=en&token=abc123 failed; "
            "retry https://tok3n@x.example/a?api_key=k&page=2")
    masked = mask_secrets(text)
    for secret in ("hunter2", "ann:", "abc123", "tok3n", "api_key=k&"):
        assert secret not in masked
    assert "http://***@feeds.example.com/rss?lang=en&token=***" in masked
    assert "page=2" in masked and mask_secrets("no secrets here") == "no secrets here"


def test_log_filter_masks_http_request_lines():
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s"',
                               ("GET", "http://u:pw@h.example/feed", "HTTP/1.1 200 OK"), None)
    assert MaskSecrets().filter(record)
    assert record.getMessage() == 'HTTP Request: GET http://***@h.example/feed "HTTP/1.1 200 OK"'


# --- dates ----------------------------------------------------------------------------------


FETCHED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def parsed_entry(raw: str) -> dict:
    from feedparser.datetimes import _parse_date

    return {"published": raw, "published_parsed": _parse_date(raw)}


@pytest.mark.parametrize("raw", ["2024-13-45T99:99:99Z", "2024-02-30T10:00:00Z",
                                 "2026-11-29T09:00:00+25:00", "2026-11-29T25:10:00Z"])
def test_impossible_dates_are_flagged_missing(raw):
    assert parsed_entry(raw)["published_parsed"] is not None  # feedparser rolls them over
    assert impossible_date(raw)
    assert entry_time(parsed_entry(raw), FETCHED, timedelta(hours=24)) == (FETCHED, "missing")


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00Z", "1800-01-01T00:00:00Z",
                                 "Mon, 01 Jan 1979 10:00:00 GMT"])
def test_dates_before_the_floor_are_flagged_like_future_ones(raw):
    assert entry_time(parsed_entry(raw), FETCHED, timedelta(hours=24)) == (FETCHED, "too_old")


@pytest.mark.parametrize("raw", ["2026-11-29T09:00:00Z", "2024-02-29T24:00:00Z",
                                 "2016-12-31T23:59:60Z", "Sun, 29 Nov 2026 09:00:00 +0000",
                                 "1990-01-01T00:00:00Z"])
def test_real_dates_are_kept(raw):
    when, flag = entry_time(parsed_entry(raw), FETCHED, timedelta(hours=24))
    assert flag is None and DATE_FLOOR <= when <= FETCHED


# --- feed URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize("url, needle", [
    ("http://[::1", "Invalid IPv6 URL"), ("http://", "names no host"),
    ("https:///rss", "names no host"), ("https://a.example:99999/rss", "Port out of range"),
    ("https://a.example:x/rss", "Port could not be cast"),
    ("https://a b.example/rss", "spaces or control characters"),
    ("ftp://a.example/rss", "must start with http:// or https://"),
    ("http://u:secret@[::1/rss", "Invalid IPv6 URL"),
])
def test_malformed_urls_are_refused_with_the_reason(url, needle):
    with pytest.raises(ValueError) as error:
        check_url(url)
    assert needle in str(error.value) and "secret" not in str(error.value)


def test_host_key_never_raises():
    assert host_key("http://[::1") == "http://[::1"
    assert host_key("HTTPS://News.Example.com/rss") == "https://news.example.com"


# --- settings -------------------------------------------------------------------------------


def numeric_fields() -> list[str]:
    return [name for name, field in Settings.model_fields.items()
            if field.annotation in (int, float, int | None, float | None)]


def test_every_numeric_setting_has_a_lower_and_an_upper_bound():
    unbounded = []
    for name in numeric_fields():
        kinds = {k for m in Settings.model_fields[name].metadata for k in ("ge", "gt", "le", "lt")
                 if hasattr(m, k)}
        if not kinds & {"ge", "gt"} or not kinds & {"le", "lt"}:
            unbounded.append(name)
    assert unbounded == [], f"give these settings bounds (Field(ge=..., le=...)): {unbounded}"
    assert len(numeric_fields()) >= 25


@pytest.mark.parametrize("name, value, needle", [
    ("fetch_max_bytes", "-1", "SENTINEL_FETCH_MAX_BYTES='-1': expected an integer from 1024 to"),
    ("fetch_max_redirects", "-1", "SENTINEL_FETCH_MAX_REDIRECTS='-1': expected an integer from 0"),
    ("fetch_read_timeout_s", "0", "expected a number greater than 0 and at most 600"),
    ("bucket_minutes", "abc", "SENTINEL_BUCKET_MINUTES='abc': expected an integer from 1 to 1440"),
    ("device", "tpu", "SENTINEL_DEVICE='tpu': expected one of auto, cpu, cuda, mps"),
    ("sentiment_labels", "notjson", "SENTINEL_SENTIMENT_LABELS='notjson': expected a JSON object"),
    ("classify_chunk", "-5", "SENTINEL_CLASSIFY_CHUNK='-5': expected an integer from 1 to"),
    ("threads", "-2", "SENTINEL_THREADS='-2': expected an integer from 1 to 1024"),
    ("fetch_connect_timeout_s", "-1",
     "SENTINEL_FETCH_CONNECT_TIMEOUT_S='-1': expected a number greater than 0 and at most 300"),
    ("fetch_concurrency", "0", "SENTINEL_FETCH_CONCURRENCY='0': expected an integer from 1 to 256"),
    ("fetch_per_host", "100", "SENTINEL_FETCH_PER_HOST='100': expected an integer from 1 to 64"),
    ("false_alerts_per_week", "0", "SENTINEL_FALSE_ALERTS_PER_WEEK='0': expected a number "
     "greater than 0 and at most 100"),
    ("slack_timeout_s", "-3", "SENTINEL_SLACK_TIMEOUT_S='-3': expected a number greater than 0"),
    ("run_lease_s", "1", "SENTINEL_RUN_LEASE_S='1': expected a number from 10 to 86400"),
    ("max_length", "4096", "SENTINEL_MAX_LENGTH='4096': expected an integer from 8 to 512"),
    ("fetch_allowed_networks", "10.0.0.0/8,nope", "'nope' is not an IP address or network"),
    ("fast_parse", "maybe", "expected true or false"),
])
def test_a_bad_setting_is_one_line_naming_the_variable_and_the_range(monkeypatch, name, value,
                                                                     needle):
    from sentinel.errors import ConfigError

    monkeypatch.setenv(f"SENTINEL_{name.upper()}", value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    message = str(error.value)
    assert needle in message and "\n" not in message, message
    assert message.startswith("invalid setting: ") and message.endswith("environment or .env")


def test_secrets_are_not_echoed_in_setting_errors(monkeypatch):
    from sentinel.errors import ConfigError

    monkeypatch.setenv("SENTINEL_DATABASE_URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("SENTINEL_THREADS", "0")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert "hunter2" not in str(error.value) and "SENTINEL_THREADS" in str(error.value)


def test_the_cli_prints_a_bad_setting_as_one_error_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from sentinel.cli import app
    from sentinel.settings import get_settings

    series = tmp_path / "series.csv"
    series.write_text("t,v\n2026-02-01T00:00:00Z,3\n2026-02-01T01:00:00Z,4\n")
    monkeypatch.setenv("SENTINEL_MIN_NEGATIVE", "-5")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["spikes", "--csv", str(series), "--time-col", "t",
                                          "--value-col", "v"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: invalid setting: SENTINEL_MIN_NEGATIVE='-5': expected an integer from 1 to "
        "1000000; fix it in the environment or .env"]


def test_allowed_values_read_naturally():
    assert allowed_values("fetch_concurrency") == "an integer from 1 to 256"
    assert allowed_values("share_threshold") == "a number greater than 0 and at most 1"
    assert allowed_values("precision") == "one of auto, fp32, bf16, fp16, int8"


# --- a database that went away --------------------------------------------------------------


def test_lost_connection_is_told_apart_from_other_database_errors():
    gone = OperationalError("SELECT 1", {}, psycopg2.OperationalError(
        "server closed the connection unexpectedly\n\tThis probably means the server "
        "terminated abnormally"))
    line = lost_connection(gone)
    assert line.startswith("lost the database connection (server closed the connection")
    assert "\n" not in line and "run the command again" in line
    assert lost_connection(IntegrityError("INSERT", {}, psycopg2.IntegrityError("dup"))) is None
    assert lost_connection(ValueError("x")) is None
