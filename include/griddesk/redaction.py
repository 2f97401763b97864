"""Keep secrets out of text: one helper for every client error, log line and stored message.

GridDesk holds four kinds of secret (docs/architecture.md, "Security and safety"): the ENTSO-E ``securityToken``
(a query parameter, so it is part of every request URL), the CKW OAuth client secret and the bearer tokens it
buys, the order API's bearer token, and the warehouse password inside a libpq URL. Anything that turns a
request or an exception into text goes through :func:`redact_text` before it is logged, raised or stored:

- values the process was told about (:func:`register_secret`, which every client calls with its own secret)
  are masked wherever they appear, plain or URL-encoded;
- whatever the registry misses is caught by shape: ``securityToken=…`` and other secret query parameters,
  ``user:password@`` in URLs, and ``Bearer …`` headers.

Libraries log too: urllib3 writes the full request URL, query string included, at DEBUG.
:func:`install_log_redaction` puts a filter on the loggers of the HTTP stack that masks their records the same
way, and registered secrets are handed to Airflow's own secrets masker when the code runs inside an Airflow
task, so Airflow's task logs mask them as well.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Query parameters whose value is a secret (case-insensitive).
SECRET_PARAMS = (
    "securityToken",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
)
#: Loggers of the HTTP stack that may write request URLs.
HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.response", "requests")
#: Shorter values would mask ordinary words; no real secret is this short.
MIN_SECRET_LENGTH = 4

_PARAM_RE = re.compile(r"(?i)(?<![A-Za-z0-9_])(" + "|".join(re.escape(p) for p in SECRET_PARAMS) + r")=([^&\s'\"<>]+)")
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):([^@/\s]+)@")
_BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` in everything redacted from now on (and in Airflow's task logs, inside a task)."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if secret in _registered:
            return
        _registered.add(secret)
    _tell_airflow(secret)


def _tell_airflow(secret: str) -> None:
    # Only when Airflow is already loaded (inside a task): importing it here would cost seconds everywhere else.
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # an Airflow without the task SDK's masker
        return
    mask_secret(secret)


def _variants(secret: str) -> list[str]:
    return list(dict.fromkeys((secret, quote(secret, safe=""), quote_plus(secret))))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret and every secret-shaped value masked as ``***``.

    Args:
        text: an error message, a URL, a response body, a log line.
        secrets: secrets to mask besides the registered ones (e.g. the caller's own token).
    """
    if not text:
        return text
    with _lock:
        known = set(_registered)
    known.update(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
    for secret in sorted(known, key=len, reverse=True):
        for variant in _variants(secret):
            text = text.replace(variant, MASK)
    text = _PARAM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _USERINFO_RE.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return _BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_url(url: str) -> str:
    """The URL with its password and secret query parameters masked (for logs, summaries and raw provenance)."""
    return redact_text(url)


class RedactingFilter(logging.Filter):
    """Renders a record's message and masks secrets in it (and in its exception text) before handlers see it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own error handling
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()


def install_log_redaction(loggers: Iterable[str] = HTTP_LOGGERS) -> None:
    """Put the redacting filter on ``loggers`` (idempotent). Records they emit are masked at the source."""
    for name in loggers:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


__all__ = [
    "HTTP_LOGGERS",
    "MASK",
    "SECRET_PARAMS",
    "RedactingFilter",
    "install_log_redaction",
    "redact_text",
    "redact_url",
    "register_secret",
]
