"""Fetch one feed's bytes, politely and defensively.

http(s) through one shared :class:`httpx.Client`: connect/read timeouts plus a hard deadline for
the whole attempt, connect, headers and body together (a server that drips its status line or
its body a byte at a time cannot hold a worker; see :mod:`sentinel.ingest.transport`), an
address guard (loopback, private and link-local destinations refused, after every redirect,
unless ``allowed_networks`` lists them), an optional stop time for the whole stage (``stop_at``:
no attempt runs past it, no retry starts after it), a streamed body cap (checked on the decoded
bytes, so a gzip bomb stops at the cap too), gzip/deflate, a bounded
number of redirects, an honest User-Agent, and a conditional GET with the stored ETag and
Last-Modified. Timeouts, connection failures, 5xx and 429 are retried with exponential backoff
(tenacity); a Retry-After header is honoured, and one longer than ``retry_after_cap_s`` ends the
attempts for this run instead of blocking it. 404, 410 and other 4xx are never retried.

``file://`` URLs are read only below the allowed roots (the staged sample feeds, and
``SENTINEL_ALLOWED_FILE_ROOTS``); every other scheme is refused.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, stop_after_attempt

from sentinel.ingest.transport import (
    AddressPolicy,
    AddressRefused,
    AttemptDeadline,
    attempt_deadline,
    guarded_transport,
)
from sentinel.redact import mask_http_logs
from sentinel.retry_after import parse_retry_after

if TYPE_CHECKING:
    from sentinel.settings import Settings

__all__ = ["FetchOptions", "FetchResult", "fetch_feed", "make_client", "parse_retry_after"]

ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
RETRY_STATUS = {429, 500, 502, 503, 504, 507, 508, 520, 521, 522, 523, 524}


@dataclass(frozen=True)
class FetchOptions:
    """Everything a fetch needs to know; built from Settings by the stage, set directly in tests."""

    user_agent: str = "Sentinel/0.1 (financial news monitor)"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    attempt_deadline_s: float = 60.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    retry_after_cap_s: float = 30.0
    allowed_roots: tuple[Path, ...] = ()
    allowed_networks: tuple[str, ...] = ()  # internal networks feeds may reach (CIDRs)
    stop_at: float | None = None  # time.monotonic() by which every attempt must have ended

    @classmethod
    def from_settings(cls, settings: Settings, extra_roots: tuple[Path, ...] = (),
                      **overrides: Any) -> FetchOptions:
        return cls(user_agent=settings.user_agent,
                   connect_timeout_s=settings.fetch_connect_timeout_s,
                   read_timeout_s=settings.fetch_read_timeout_s,
                   attempt_deadline_s=settings.fetch_attempt_deadline_s,
                   max_bytes=settings.fetch_max_bytes,
                   max_redirects=settings.fetch_max_redirects,
                   attempts=settings.fetch_retries,
                   allowed_roots=(*settings.allowed_file_roots, *extra_roots),
                   allowed_networks=tuple(settings.fetch_allowed_networks), **overrides)

    def time_left(self) -> float | None:
        """Seconds until ``stop_at`` (None: no stop time)."""
        return None if self.stop_at is None else self.stop_at - time.monotonic()


@dataclass
class FetchResult:
    url: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.error is None

    @property
    def gone(self) -> bool:
        return self.status == 410


def make_client(options: FetchOptions, max_connections: int = 32) -> httpx.Client:
    """One client for a whole run (connection reuse); safe to share between threads. It
    connects only through the guarded transport, and ignores proxy variables (a proxy would
    reach addresses the guard cannot see)."""
    mask_http_logs()  # httpx logs every request's full URL, credentials included
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    return httpx.Client(
        timeout=httpx.Timeout(options.read_timeout_s, connect=options.connect_timeout_s),
        follow_redirects=True, max_redirects=options.max_redirects, trust_env=False,
        transport=guarded_transport(AddressPolicy.from_strings(options.allowed_networks), limits),
        headers={"User-Agent": options.user_agent, "Accept": ACCEPT,
                 "Accept-Encoding": "gzip, deflate"},
    )


def _gunzip_capped(body: bytes, max_bytes: int) -> bytes | None:
    """A body that is itself a gzip file (served as .xml.gz without Content-Encoding)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        return body
    return None if len(data) > max_bytes else data


def fetch_file(url: str, options: FetchOptions) -> FetchResult:
    """Read a file:// URL, but only below one of the allowed roots."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return FetchResult(url, error=f"file:// URL names a host ({parts.netloc}); only local "
                                      "files below SENTINEL_ALLOWED_FILE_ROOTS can be read")
    path = Path(unquote(parts.path)).resolve()
    if not any(path.is_relative_to(Path(root).resolve()) for root in options.allowed_roots):
        return FetchResult(url, error=f"file:// path {path} is outside the allowed roots; "
                                      "add its directory to SENTINEL_ALLOWED_FILE_ROOTS")
    try:
        with path.open("rb") as handle:
            body = handle.read(options.max_bytes + 1)
    except OSError as exc:
        return FetchResult(url, error=f"cannot read {path}: {exc.strerror}")
    if len(body) > options.max_bytes:
        return FetchResult(url, error=f"body larger than the {options.max_bytes}-byte cap")
    return FetchResult(url, status=200, body=body, final_url=url)


def fetch_once(client: httpx.Client, url: str, etag: str | None, last_modified: str | None,
               options: FetchOptions) -> FetchResult:
    """One GET: conditional, streamed, capped, with a hard deadline for the whole attempt."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    cap = options.max_bytes
    left = options.time_left()
    budget = options.attempt_deadline_s if left is None else min(options.attempt_deadline_s, left)
    if budget <= 0:
        return FetchResult(url, error="not fetched: the ingest stage's deadline has passed")
    phase, status = "still connecting or waiting for the response headers", None
    try:
        with attempt_deadline(budget), client.stream("GET", url, headers=headers) as response:
            phase, status = "body still arriving", response.status_code
            result = FetchResult(url, status=response.status_code,
                                 etag=response.headers.get("ETag"),
                                 last_modified=response.headers.get("Last-Modified"),
                                 final_url=str(response.url))
            if response.status_code == 304:
                return result
            if response.status_code >= 400 or response.status_code < 200:
                result.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                result.retryable = response.status_code in RETRY_STATUS
                result.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                return result
            if response.status_code >= 300:  # a redirect without a usable Location
                result.error = f"HTTP {response.status_code} without a usable Location header"
                return result
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                result.error = f"body larger than the {cap}-byte cap (Content-Length {declared})"
                return result
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    result.error = f"body larger than the {cap}-byte cap"
                    return result
                chunks.append(chunk)
            body = b"".join(chunks)
            if body[:2] == b"\x1f\x8b":
                unzipped = _gunzip_capped(body, cap)
                if unzipped is None:
                    result.error = f"body larger than the {cap}-byte cap (after gunzip)"
                    return result
                body = unzipped
            result.body = body
            return result
    except AttemptDeadline:
        which = ("the attempt's deadline" if budget >= options.attempt_deadline_s
                 else "the ingest stage's deadline")
        return FetchResult(url, status=status, retryable=True,
                           error=f"timed out: {phase} after {budget:.3g}s ({which})")
    except AddressRefused as exc:
        return FetchResult(url, error=str(exc))
    except httpx.TooManyRedirects:
        return FetchResult(url, error=f"redirect loop or more than {options.max_redirects} "
                                      "redirects")
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__.replace("Timeout", " timeout").lower().strip()
        return FetchResult(url, error=f"timed out ({kind})", retryable=True)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        return FetchResult(url, error=f"{type(exc).__name__}: {exc}", retryable=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return FetchResult(url, error=f"{type(exc).__name__}: {exc}")


def _wait(options: FetchOptions) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        """Exponential backoff with jitter, or the server's Retry-After when that is longer."""
        result = _attempted(state)
        base = options.backoff_base_s
        delay = min(options.backoff_cap_s, base * 2 ** (state.attempt_number - 1))
        delay += random.uniform(0, base)
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
        delay = min(delay, max(options.backoff_cap_s, options.retry_after_cap_s))
        left = options.time_left()
        return delay if left is None else max(0.0, min(delay, left))
    return wait


def _attempted(state: RetryCallState) -> FetchResult:
    """The result of the attempt just made (fetch_once returns every failure as a result;
    anything it raises is a bug and is re-raised here)."""
    assert state.outcome is not None
    return state.outcome.result()


def _stop(options: FetchOptions) -> Callable[[RetryCallState], bool]:
    attempts = stop_after_attempt(options.attempts)

    def stop(state: RetryCallState) -> bool:
        result = _attempted(state)
        too_long = result.retry_after is not None and result.retry_after > options.retry_after_cap_s
        left = options.time_left()
        out_of_time = left is not None and left <= 0
        return attempts(state) or too_long or out_of_time
    return stop


def fetch_feed(client: httpx.Client, url: str, *, etag: str | None = None,
               last_modified: str | None = None, options: FetchOptions,
               sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Fetch ``url`` (http(s) with retries, or an allowed file://); never raises for the web."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return fetch_file(url, options)
    if scheme not in {"http", "https"}:
        return FetchResult(url, error=f"unsupported URL scheme {scheme or '(none)'!r}; "
                                      "feeds must be http(s)")
    retrying = Retrying(
        stop=_stop(options), wait=_wait(options), sleep=sleep, reraise=True,
        retry=lambda state: (state.outcome is not None and not state.outcome.failed
                             and _attempted(state).retryable),
        retry_error_callback=_attempted,
    )
    result = retrying(fetch_once, client, url, etag, last_modified, options)
    result.attempts = retrying.statistics.get("attempt_number", 1)
    if result.error and result.attempts > 1:
        result.error += f" (after {result.attempts} attempts)"
    left = options.time_left()
    if (result.retryable and result.error and result.attempts < options.attempts
            and left is not None and left <= 0):
        result.error += "; the ingest stage's deadline left no time for another attempt"
    if result.retry_after is not None and result.retry_after > options.retry_after_cap_s:
        result.error = (f"{result.error}; Retry-After {result.retry_after:g}s is longer than the "
                        f"{options.retry_after_cap_s:g}s this run waits, so the next run retries")
    return result
