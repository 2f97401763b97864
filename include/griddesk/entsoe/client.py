"""HTTP client for the ENTSO-E Transparency Platform REST API (or GridDesk's simulator of it).

The client knows the API's shape and its token; HTTP itself (bounded retries, exponential backoff with jitter,
Retry-After, retrying bodies cut short) is the one every feed shares, :class:`griddesk.feeds.http.FeedHttpClient`.
``get`` returns raw XML bytes, ``fetch_document`` the parsed document (``griddesk.entsoe.parser``), and a body
that is not well-formed XML (a truncated answer) is fetched again. Storage lives in ``griddesk.warehouse.loader``.

The ``securityToken`` is a query parameter, so it is part of every request URL: no error, log line or stored
URL carries it (``public_url``, :mod:`griddesk.redaction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import requests

from griddesk.entsoe.parser import MalformedXmlError, ParsedDocument, parse_document
from griddesk.feeds.errors import FeedAuthError, FeedHttpError
from griddesk.feeds.http import SIM_NOW_HEADER, BodyError, FeedHttpClient, RequestOptions, RetryPolicy
from griddesk.redaction import redact_text, register_secret

#: ENTSO-E serves at most one year per request.
MAX_REQUEST_SPAN = timedelta(days=365)
#: ENTSO-E answers a refused query with 400 and an acknowledgement document, which the parser explains.
_ACKNOWLEDGED_STATUS = frozenset({400})

__all__ = ["MAX_REQUEST_SPAN", "SIM_NOW_HEADER", "EntsoeClient", "EntsoeHttpError", "entsoe_time"]


class EntsoeHttpError(RuntimeError):
    """The API failed after the retry budget, or answered with a non-retryable error."""


def entsoe_time(ts: datetime) -> str:
    """ENTSO-E's ``yyyyMMddHHmm`` in UTC."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: ENTSO-E windows must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y%m%d%H%M")


def _parse_retrying_malformed(body: bytes) -> ParsedDocument:
    try:
        return parse_document(body)
    except MalformedXmlError as exc:
        raise BodyError(str(exc)) from None


@dataclass
class EntsoeClient:
    """A small ENTSO-E client on the shared feed HTTP base.

    Attributes:
        base_url: e.g. ``https://web-api.tp.entsoe.eu`` or the simulator's ``http://127.0.0.1:8765``.
        token: the securityToken; never logged and never stored (see ``public_url``).
        sim_now: the simulated clock, sent to the simulator so it reveals only what is published by then.
        max_attempts, backoff_s, timeout_s: the retry policy (first try included; base of the backoff; read timeout).
    """

    base_url: str
    token: str = field(repr=False)
    sim_now: datetime | None = None
    max_attempts: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        register_secret(self.token)
        self._http = FeedHttpClient(
            self.base_url,
            "entsoe",
            policy=RetryPolicy(max_attempts=self.max_attempts, backoff_s=self.backoff_s, timeout_s=self.timeout_s),
            session=self.session,
        )

    @property
    def call_log(self):
        """Every attempt so far (:class:`griddesk.feeds.http.CallLog`): no token, no query string."""
        return self._http.call_log

    def public_url(self, params: dict[str, str]) -> str:
        """The request URL without the token, as stored in raw for provenance."""
        return f"{self.base_url.rstrip('/')}/api?{urlencode(params)}"

    def get(self, params: dict[str, str]) -> bytes:
        """GET ``/api`` with ``params`` (token added here); the body of a 200 answer, or of a 400 acknowledgement.

        Raises:
            EntsoeHttpError: on 401 and other 4xx at once, and on 429/5xx/timeouts after ``max_attempts``.
        """
        return self._request(params, None).body

    def fetch_document(self, params: dict[str, str]) -> ParsedDocument:
        """GET and parse; a body that is not well-formed XML (cut short) counts as a failed attempt and is retried.

        Raises:
            EntsoeHttpError: as :meth:`get`, and when every attempt got a malformed body.
            NoMatchingDataError, EntsoeAcknowledgementError, EntsoeParseError: from the parser, at once.
        """
        return self._request(params, _parse_retrying_malformed).data

    def _request(self, params: dict[str, str], parse):
        self._http.sim_now = self.sim_now
        endpoint = f"entsoe.{params.get('documentType', '')}"
        try:
            return self._http.request(
                "GET",
                "/api",
                endpoint,
                params={**params, "securityToken": self.token},
                options=RequestOptions(
                    decode_json=False, parse=parse, accept_status=_ACKNOWLEDGED_STATUS, secrets=(self.token,)
                ),
            )
        except FeedAuthError as exc:
            if "HTTP 401" in str(exc):
                raise EntsoeHttpError(
                    f"401 Unauthorized from {self.public_url(params)}: check the security token"
                ) from None
            raise EntsoeHttpError(redact_text(f"{self.public_url(params)}: {exc}", (self.token,))) from None
        except FeedHttpError as exc:
            raise EntsoeHttpError(redact_text(f"{self.public_url(params)}: {exc}", (self.token,))) from None
