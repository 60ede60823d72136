"""A real HTTP server on 127.0.0.1 that speaks enough of Slack for the alert tests.

Web API (``base_url`` = ``server.base_url``, as slack-sdk's WebClient takes it): ``auth.test``,
``chat.postMessage`` (bearer token, channel id or #name, blocks, metadata, thread_ts,
reply_broadcast), ``conversations.history`` and ``conversations.replies`` (channel ids only,
``oldest``, ``limit``/``cursor`` pages, metadata only with ``include_all_metadata``), and an
incoming webhook at ``server.webhook_url``. Requests are answered like Slack answers them: HTTP
200 with ``{"ok": false, "error": ...}`` for API errors, 429 with Retry-After, plain-text errors
for webhooks.

Faults (``server.fail(endpoint, kind, times=1)``), for ``chat.postMessage`` or ``webhook``:

    500 / 503         an HTML error page; nothing posted
    429               rate limited, Retry-After: ``retry_after``; nothing posted
    invalid_auth, channel_not_found, invalid_token, no_service   the API / webhook error
    slow_store        the message is posted, the answer comes after ``delay`` (client timeout)
    slow_drop         no answer for ``delay``, then the connection closes; nothing posted
    drop_after_store  the message is posted and the connection closes without an answer: the
                      process "crashes" between Slack's side and ours
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WEBHOOK_PATH = "/services/T000TEST/B000TEST/webhooksecret"


@dataclass
class Fault:
    kind: str
    retry_after: int | str = 30  # seconds, or an HTTP date (both are RFC 9110)
    delay: float = 1.5


@dataclass
class SlackState:
    token: str = "xoxb-test-token"
    channels: dict[str, str] = field(default_factory=lambda: {"C0ALERTS": "alerts"})
    messages: list[dict[str, Any]] = field(default_factory=list)   # posted via the Web API
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    clock: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_ts(self) -> str:
        with self.lock:
            self.clock = max(self.clock + 0.000100, time.time())
            return f"{self.clock:.6f}"


class _Handler(BaseHTTPRequestHandler):
    state: SlackState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _read(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(urlsplit(self.path).query))
        if raw:
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update(dict(parse_qsl(raw)))
        return params

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            kind = "text/plain" if isinstance(body, str) else "application/json; charset=utf-8"
            if isinstance(body, str) and body.startswith("<"):
                kind = "text/html"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout fault)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)

    def do_GET(self) -> None:  # noqa: N802
        self.do_POST()

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        params = self._read()
        endpoint = "webhook" if path == WEBHOOK_PATH else path.rsplit("/", 1)[-1]
        self.state.calls.append((endpoint, params))
        fault = None
        with self.state.lock:
            if self.state.faults.get(endpoint):
                fault = self.state.faults[endpoint].pop(0)
        if endpoint == "webhook":
            return self._webhook(params, fault)
        if fault and self._early_fault(fault):
            return None
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token != self.state.token:
            return self._reply(200, {"ok": False, "error": "invalid_auth"})
        handler = {"auth.test": self._auth_test, "chat.postMessage": self._post,
                   "conversations.history": self._history,
                   "conversations.replies": self._replies}.get(endpoint)
        if handler is None:
            return self._reply(404, {"ok": False, "error": "unknown_method"})
        return handler(params, fault)

    def _early_fault(self, fault: Fault) -> bool:
        """Faults answered before the request is looked at; True when handled."""
        if fault.kind in ("500", "503"):
            self._reply(int(fault.kind), "<html><body>Service unavailable</body></html>")
        elif fault.kind == "429":
            self._reply(429, {"ok": False, "error": "ratelimited"},
                        {"Retry-After": str(fault.retry_after)})
        elif fault.kind in ("invalid_auth", "channel_not_found"):
            self._reply(200, {"ok": False, "error": fault.kind})
        elif fault.kind == "slow_drop":
            time.sleep(fault.delay)
            self._drop()
        else:
            return False
        return True

    def _auth_test(self, params: dict[str, Any], fault: Fault | None) -> None:
        self._reply(200, {"ok": True, "user_id": "UBOT", "team": "Test", "bot_id": "BBOT"})

    def _channel(self, name: str) -> str | None:
        name = name.removeprefix("#")
        if name in self.state.channels:
            return name
        return next((cid for cid, n in self.state.channels.items() if n == name), None)

    def _post(self, params: dict[str, Any], fault: Fault | None) -> None:
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return self._reply(200, {"ok": False, "error": "channel_not_found"})
        if not params.get("text") and not params.get("blocks"):
            return self._reply(200, {"ok": False, "error": "no_text"})
        blocks = params.get("blocks")
        message = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "channel": channel,
                   "ts": self.state.next_ts(), "text": params.get("text", ""),
                   "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
                   "metadata": params.get("metadata"), "thread_ts": params.get("thread_ts"),
                   "reply_broadcast": params.get("reply_broadcast") in (True, "true", "1"),
                   "request": params}
        if isinstance(message["metadata"], str):
            message["metadata"] = json.loads(message["metadata"])
        with self.state.lock:
            self.state.messages.append(message)
        if fault and fault.kind == "drop_after_store":
            return self._drop()
        if fault and fault.kind == "slow_store":
            time.sleep(fault.delay)
        public = {k: v for k, v in message.items() if k not in ("request", "channel")}
        return self._reply(200, {"ok": True, "channel": channel, "ts": message["ts"],
                                 "message": public})

    def _visible(self, message: dict[str, Any], include_metadata: bool) -> dict[str, Any]:
        shown = {k: v for k, v in message.items()
                 if k not in ("request", "channel", "metadata") and v is not None}
        if message.get("thread_ts") and message.get("reply_broadcast"):
            shown["subtype"] = "thread_broadcast"
        if include_metadata and message.get("metadata"):
            shown["metadata"] = message["metadata"]
        return shown

    def _page(self, found: list[dict[str, Any]], params: dict[str, Any]) -> None:
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit") or 100), 1000)
        include = str(params.get("include_all_metadata")).lower() in ("true", "1")
        page = found[start:start + limit]
        more = start + limit < len(found)
        self._reply(200, {"ok": True, "messages": [self._visible(m, include) for m in page],
                          "has_more": more,
                          "response_metadata": {"next_cursor": str(start + limit) if more
                                                else ""}})

    def _history(self, params: dict[str, Any], fault: Fault | None) -> None:
        channel = str(params.get("channel", ""))
        if channel not in self.state.channels:  # names are not accepted here, as in Slack
            return self._reply(200, {"ok": False, "error": "channel_not_found"})
        oldest = float(params.get("oldest") or 0)
        found = [m for m in reversed(self.state.messages) if m["channel"] == channel
                 and float(m["ts"]) > oldest
                 and (not m.get("thread_ts") or m.get("reply_broadcast"))]
        return self._page(found, params)

    def _replies(self, params: dict[str, Any], fault: Fault | None) -> None:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if channel not in self.state.channels:
            return self._reply(200, {"ok": False, "error": "channel_not_found"})
        thread = [m for m in self.state.messages if m["channel"] == channel
                  and (m["ts"] == ts or m.get("thread_ts") == ts)]
        if not thread:
            return self._reply(200, {"ok": False, "error": "thread_not_found"})
        return self._page(thread, params)

    def _webhook(self, params: dict[str, Any], fault: Fault | None) -> None:
        if fault:
            if fault.kind in ("500", "503"):
                return self._reply(int(fault.kind), "<html>Service unavailable</html>")
            if fault.kind == "429":
                return self._reply(429, "rate_limited", {"Retry-After": str(fault.retry_after)})
            if fault.kind in ("invalid_token", "action_prohibited"):
                return self._reply(403, fault.kind)
            if fault.kind in ("no_service", "channel_not_found"):
                return self._reply(404, fault.kind)
            if fault.kind == "slow_drop":
                time.sleep(fault.delay)
                return self._drop()
        if not params.get("text") and not params.get("blocks"):
            return self._reply(400, "no_text")
        with self.state.lock:
            self.state.webhook_posts.append(params)
        if fault and fault.kind == "drop_after_store":
            return self._drop()
        if fault and fault.kind == "slow_store":
            time.sleep(fault.delay)
        return self._reply(200, "ok")


class SlackServer:
    """Start with ``with SlackServer() as slack:``; read ``slack.messages`` afterwards."""

    def __init__(self, **state: Any):
        self.state = SlackState(**state)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SlackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{WEBHOOK_PATH}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.state.messages

    @property
    def webhook_posts(self) -> list[dict[str, Any]]:
        return self.state.webhook_posts

    def fail(self, endpoint: str, kind: str, times: int = 1, **options: Any) -> None:
        with self.state.lock:
            self.state.faults[endpoint].extend(Fault(kind, **options) for _ in range(times))

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        return [params for name, params in self.state.calls if name == endpoint]

    def delivery_ids(self) -> list[int]:
        """The delivery id in each posted message's metadata, in posting order."""
        return [m["metadata"]["event_payload"]["delivery_id"] for m in self.messages
                if m.get("metadata")]
