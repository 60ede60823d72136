"""Credentials out of anything printed or logged: ``http://user:pass@host/feed?token=...``.

A feed URL may carry a login (``user:password@``) or a key in its query (``?token=``,
``api_key=``...). Sentinel needs them to fetch, so they stay in ``feeds.yaml`` and the ``feed``
table, but every place that shows a URL or an error that may quote one (``sentinel feeds``,
stored fetch errors, logs, httpx's own request log) passes it through :func:`mask_secrets`.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
SECRET_PARAMS = ("token", "access_token", "auth", "auth_token", "api_key", "apikey", "key",
                 "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#@]+@")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#\s'\"]+")


def mask_secrets(text: str | None) -> str:
    """``text`` with every URL's user info and secret-looking query values replaced by ***."""
    if not text:
        return text or ""
    if "@" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    return text


class MaskSecrets(logging.Filter):
    """A logging filter that masks credentials in a record's message and arguments (httpx logs
    ``HTTP Request: GET <the full URL>`` at INFO, which ``sentinel -v`` and Airflow show)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {k: mask_secrets(str(v)) if _may_hold_url(v) else v
                           for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(mask_secrets(str(a)) if _may_hold_url(a) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def _may_hold_url(value: object) -> bool:
    return not isinstance(value, int | float) and "://" in str(value)


_FILTER = MaskSecrets()


def mask_http_logs() -> None:
    """Install the filter on the loggers of the HTTP stack (idempotent)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
