"""Fetch one feed's bytes: http(s) with conditional GET, or file:// inside allowed roots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx


@dataclass
class FetchResult:
    url: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch_file(url: str, allowed_roots: list[Path], max_bytes: int) -> FetchResult:
    """Read a file:// URL, but only below one of ``allowed_roots``."""
    path = Path(unquote(urlsplit(url).path)).resolve()
    if not any(path.is_relative_to(root.resolve()) for root in allowed_roots):
        return FetchResult(url, error=f"file:// path {path} is outside the allowed roots; "
                                      "add its directory to SENTINEL_ALLOWED_FILE_ROOTS")
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        return FetchResult(url, error=f"cannot read {path}: {exc.strerror}")
    if len(body) > max_bytes:
        return FetchResult(url, error=f"body larger than the {max_bytes}-byte cap")
    return FetchResult(url, status=200, body=body)


def fetch_http(client: httpx.Client, url: str, etag: str | None, last_modified: str | None,
               max_bytes: int) -> FetchResult:
    """GET with If-None-Match / If-Modified-Since; the body is streamed and capped."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            result = FetchResult(url, status=response.status_code,
                                 etag=response.headers.get("ETag"),
                                 last_modified=response.headers.get("Last-Modified"))
            if response.status_code == 304:
                return result
            if response.status_code >= 400:
                result.error = f"HTTP {response.status_code}"
                return result
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    result.error = f"body larger than the {max_bytes}-byte cap"
                    return result
                chunks.append(chunk)
            result.body = b"".join(chunks)
            return result
    except httpx.HTTPError as exc:
        return FetchResult(url, error=f"{type(exc).__name__}: {exc}")
