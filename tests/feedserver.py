"""A real HTTP server on 127.0.0.1 that serves feeds the way the real web does.

Each path answers with a programmed sequence of :class:`Reply` objects (the last one repeats):
any status code and headers, ETag / Last-Modified validators that turn a matching conditional
GET into a 304, Retry-After, redirects, a delay, a connection that is accepted but never
answered, a status line and headers that drip in a byte at a time, a body that drips in slowly,
bodies with or without Content-Length, gzip. It listens on 127.0.0.1, or on another loopback
address (``FeedServer(host="127.0.0.2")``) when a test needs a second internal host. Every
request is recorded (path, headers, time), and the number of requests in flight is tracked,
per server and across servers sharing one :class:`Gauge`.

    with FeedServer() as server:
        url = server.route("/feed.xml", Reply(body=xml, etag='"v1"'))
"""

from __future__ import annotations

import gzip
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # read the request, then never answer
    drip: float | None = None  # seconds between 16-byte pieces of the body
    drip_headers: float | None = None  # seconds between single bytes of the status line/headers
    gzip: bool = False  # Content-Encoding: gzip
    content_length: bool = True  # False: stream the body and close the connection


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float


class Gauge:
    """Requests in flight now, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> Gauge:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


class FeedServer:
    def __init__(self, gauge: Gauge | None = None, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self.gauge = Gauge()
        self.shared = gauge
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.host = host
        self.httpd = ThreadingHTTPServer((host, 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       kwargs={"poll_interval": 0.05})

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> str:
        """Program ``path``: successive requests get ``replies`` in order, the last repeats."""
        with self.lock:
            self.routes[path] = list(replies) or [Reply(status=404)]
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _next_reply(self, path: str) -> Reply:
        with self.lock:
            replies = self.routes.get(path)
            if not replies:
                return Reply(status=404, body=b"not found", content_type="text/plain")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with server.lock:
                    server.requests.append(Request(self.path, dict(self.headers), time.time()))
                with server.gauge, server.shared or nullcontext():
                    self._answer(server._next_reply(self.path))

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    server.stopping.wait()
                    return
                if reply.drip_headers is not None:
                    head = (f"HTTP/1.1 {reply.status} OK\r\nContent-Type: {reply.content_type}"
                            f"\r\nContent-Length: {len(reply.body)}\r\n\r\n").encode()
                    for byte in head:
                        if server.stopping.wait(reply.drip_headers):
                            return
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            self.close_connection = True
                            return
                    self.wfile.write(reply.body)
                    return
                if reply.delay:
                    server.stopping.wait(reply.delay)
                if self._not_modified(reply):
                    self.send_response(304)
                    if reply.etag:
                        self.send_header("ETag", reply.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = gzip.compress(reply.body) if reply.gzip else reply.body
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.etag:
                    self.send_header("ETag", reply.etag)
                if reply.last_modified:
                    self.send_header("Last-Modified", reply.last_modified)
                if reply.gzip:
                    self.send_header("Content-Encoding", "gzip")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.content_length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    self._write(body, reply.drip)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _write(self, body: bytes, drip: float | None) -> None:
                if drip is None:
                    for start in range(0, len(body), 65536):
                        self.wfile.write(body[start:start + 65536])
                    return
                for start in range(0, len(body), 16):
                    if server.stopping.wait(drip):
                        return
                    self.wfile.write(body[start:start + 16])
                    self.wfile.flush()

            def _not_modified(self, reply: Reply) -> bool:
                tag = self.headers.get("If-None-Match")
                since = self.headers.get("If-Modified-Since")
                return bool((reply.etag and tag == reply.etag)
                            or (reply.last_modified and since == reply.last_modified))

        return Handler

