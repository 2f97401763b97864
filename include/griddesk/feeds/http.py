"""The HTTP base every feed client shares: retries, backoff, Retry-After, rate limits, bearer tokens, call log.

One request is up to ``RetryPolicy.max_attempts`` attempts. Retried: connection errors and timeouts, 429,
5xx, and 200 answers whose body is not what was promised: not the JSON of a JSON request, or a body the caller's
``parse`` refuses with :class:`BodyError` (truncated or malformed; the ENTSO-E client uses this for XML).
A 401 with a token provider invalidates the token, fetches a new one and tries once more, outside the retry
budget; a second 401 fails. Other 4xx fail at once with the API's message, unless the caller accepts that status
(``accept_status``: ENTSO-E explains a refused query in an XML body). Every attempt, token requests included, is
recorded as an :class:`ApiCall` (endpoint label, status, latency, bytes, error) in a :class:`CallLog`; tokens,
secrets and query strings never are, and every error text goes through :func:`griddesk.redaction.redact_text`.

Rate limits: ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (milliseconds until
the window resets, as CKW documents) are read from every answer. With no request left in the window the next
request waits for the reset instead of earning a 429; a 429 waits for the longest of Retry-After, the reset
and the backoff.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from griddesk.feeds.errors import FeedAuthError, FeedHttpError
from griddesk.redaction import install_log_redaction, redact_text, register_secret

log = logging.getLogger(__name__)

#: Header carrying the simulated clock to GridDesk's simulator; real APIs ignore it.
SIM_NOW_HEADER = "X-GridDesk-Sim-Now"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Longest wait for a rate-limit window or a Retry-After before the client gives up instead, s.
MAX_RATE_WAIT_S = 120.0


@dataclass(frozen=True)
class ApiCall:
    """One HTTP attempt, as stored in ``raw.api_call_log``. Holds no token, secret or query string."""

    feed: str
    endpoint: str  # stable label, e.g. "ckw.dynamic_prices"
    method: str
    url_path: str  # path only
    status_code: int | None  # None: no answer (timeout, connection error)
    latency_ms: float
    response_bytes: int
    error: str | None  # None on success
    attempt: int
    requested_at_utc: datetime  # wall clock
    sim_now_utc: datetime | None

    @property
    def is_success(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class CallLog:
    """Thread-safe collector of :class:`ApiCall` records; written to ``raw.api_call_log`` by the task."""

    calls: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def drain(self) -> list[ApiCall]:
        """The calls recorded so far, removed from the log (so a second write cannot duplicate them)."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: ``max_attempts`` tries, waits ``backoff_s * 2**(n-1) * (1 + U[0,1))`` between them."""

    max_attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt ``attempt`` (1-based): exponential with full jitter on top, capped."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1) * (1 + random.random()))


class BodyError(ValueError):
    """Raised by a ``parse`` callback: the body is cut short or corrupt, so the request is worth repeating."""


@dataclass(frozen=True)
class RequestOptions:
    """How :meth:`FeedHttpClient.request` makes one request and reads its answer.

    Attributes:
        decode_json: Decode the body as JSON into ``FeedResponse.data`` (when there is no ``parse``).
        authenticated: Send the token provider's bearer token (if the client has one).
        retry: Spend the retry budget; False makes a single attempt.
        parse: Turns the body into ``FeedResponse.data`` (instead of JSON decoding); a :class:`BodyError` it
            raises makes the attempt fail and be retried, any other exception propagates at once.
        accept_status: Non-2xx statuses whose body is returned (and parsed) instead of raising.
        secrets: Values in the query parameters (e.g. a token in the query string) to mask in every error text.
    """

    decode_json: bool = True
    authenticated: bool = True
    retry: bool = True
    parse: Callable[[bytes], Any] | None = None
    accept_status: frozenset[int] = frozenset()
    secrets: tuple[str, ...] = ()


#: The options of a plain authenticated JSON request with retries.
JSON_REQUEST = RequestOptions()


class TokenProvider(Protocol):
    """Something that hands out bearer tokens: :class:`griddesk.feeds.auth.ClientCredentials`."""

    def bearer(self, http: FeedHttpClient) -> str: ...

    def invalidate(self) -> None: ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class FeedResponse:
    """A successful answer: status, headers, raw body and (for JSON requests) the decoded payload."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes
    data: Any
    url_path: str


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class FeedHttpClient:
    """HTTP for one feed API (see module docstring).

    Attributes:
        base_url: API root, e.g. ``http://127.0.0.1:8765/ckw/api``; paths are appended to it.
        feed: Feed name written to the call log (e.g. ``ckw``).
        auth: Bearer token provider, or None for open endpoints.
        sim_now: The simulated clock, sent as ``X-GridDesk-Sim-Now`` (the real APIs ignore it).
        call_log: Where every attempt is recorded.
        extra_headers: Sent with every request (e.g. the simulator's ``X-GridDesk-Fault`` in tests).
    """

    base_url: str
    feed: str
    auth: TokenProvider | None = None
    sim_now: datetime | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    call_log: CallLog = field(default_factory=CallLog)
    extra_headers: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    _rate_remaining: int | None = field(default=None, init=False, repr=False)
    _rate_reset_at: float = field(default=0.0, init=False, repr=False)  # time.monotonic() of the window reset

    # ---------------------------------------------------------------------------------------------------------

    def __post_init__(self) -> None:
        install_log_redaction()
        for secret in self.auth.secrets() if self.auth is not None else ():
            register_secret(secret)

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def get_json(self, path: str, endpoint: str, params: Mapping[str, str] | None = None) -> FeedResponse:
        """GET ``path`` and decode its JSON body; see the module docstring for retries and auth.

        Raises:
            FeedHttpError: non-retryable 4xx, or the retry budget is spent (the message names the endpoint, the
                attempts and the last error).
            FeedAuthError: the token was refused twice, or the token endpoint refused the credentials.
        """
        return self.request("GET", path, endpoint, params=params, options=JSON_REQUEST)

    def post_json(
        self, path: str, endpoint: str, body: Any, *, authenticated: bool = True, retry: bool = True
    ) -> FeedResponse:
        """POST a JSON body and decode the JSON answer (same rules as :meth:`get_json`)."""
        return self.request(
            "POST",
            path,
            endpoint,
            json_body=body,
            options=RequestOptions(decode_json=True, authenticated=authenticated, retry=retry),
        )

    def request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        options: RequestOptions = JSON_REQUEST,
    ) -> FeedResponse:
        """One logical request: attempts, waits, token refresh (see module docstring).

        Args:
            params: Query parameters.
            form: Form-encoded body.
            json_body: JSON body.
            options: How the request is made and its answer read (auth, retries, parsing, accepted statuses,
                secrets to mask); see :class:`RequestOptions`.
        """
        url = self.url(path)
        url_path = urlsplit(url).path
        max_attempts = self.policy.max_attempts if options.retry else 1
        refreshed = False
        last_error = ""
        attempt = 0
        while attempt < max_attempts:
            attempt += 1
            self._wait_for_rate_window()
            headers = self._headers(options)
            started_wall = datetime.now(UTC)
            started = time.perf_counter()
            resp, body, error = self._send(method, url, params, form, json_body, headers)
            latency_ms = (time.perf_counter() - started) * 1000.0
            data: Any = None
            refused: Exception | None = None
            if resp is not None:
                self._note_rate_limit(resp.headers)
                data, error, refused = self._read_answer(resp, body, options)
            self.call_log.record(
                ApiCall(
                    feed=self.feed,
                    endpoint=endpoint,
                    method=method,
                    url_path=url_path,
                    status_code=resp.status_code if resp is not None else None,
                    latency_ms=latency_ms,
                    response_bytes=len(body),
                    error=error,
                    attempt=attempt,
                    requested_at_utc=started_wall,
                    sim_now_utc=self.sim_now,
                )
            )
            if refused is not None:
                raise refused
            if error is None and resp is not None:
                return FeedResponse(resp.status_code, resp.headers, body, data, url_path)
            last_error = error or "unknown error"
            status = resp.status_code if resp is not None else None
            if status == 401 and options.authenticated and self.auth is not None:
                self._refresh_token_once(refreshed, endpoint, url_path, last_error)
                refreshed = True
                attempt -= 1
                continue
            if status is not None and status not in _RETRY_STATUS and status >= 300:
                cls = FeedAuthError if status in (401, 403) else FeedHttpError
                raise cls(f"{self.feed} {endpoint} {method} {url_path} refused: {last_error}")
            if attempt >= max_attempts:
                break
            delay = self._retry_delay(resp, attempt, endpoint)
            log.warning(
                "%s %s failed (%s), attempt %d/%d; retrying in %.2f s",
                self.feed,
                endpoint,
                last_error,
                attempt,
                max_attempts,
                delay,
            )
            self.sleep(delay)
        raise FeedHttpError(
            f"{self.feed} {endpoint} {method} {url_path} failed after {max_attempts} attempts; last error: {last_error}"
        )

    def _headers(self, options: RequestOptions) -> dict[str, str]:
        """Headers of one attempt: the extra ones, Accept, the simulated clock and the bearer token."""
        headers = {
            **self.extra_headers,
            "Accept": "application/json" if options.decode_json and options.parse is None else "*/*",
        }
        if self.sim_now is not None:
            headers[SIM_NOW_HEADER] = self.sim_now.astimezone(UTC).isoformat()
        if options.authenticated and self.auth is not None:
            headers["Authorization"] = f"Bearer {self.auth.bearer(self)}"
        return headers

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        json_body: Any,
        headers: dict[str, str],
    ) -> tuple[requests.Response | None, bytes, str | None]:
        """One attempt on the wire: (response or None, body, error of a timeout or connection failure)."""
        resp: requests.Response | None = None
        try:
            resp = self.session.request(
                method,
                url,
                params=params,
                data=form,
                json=json_body,
                headers=headers,
                timeout=(self.policy.connect_timeout_s, self.policy.timeout_s),
            )
            return resp, resp.content, None
        except requests.Timeout as exc:
            return resp, b"", f"timeout after {self.policy.timeout_s:g} s ({type(exc).__name__})"
        except requests.ConnectionError as exc:
            return resp, b"", f"connection error: {type(exc).__name__}"

    def _read_answer(
        self, resp: requests.Response, body: bytes, options: RequestOptions
    ) -> tuple[Any, str | None, Exception | None]:
        """(data, error, exception to raise at once) of an answer: refused status, parsed or JSON-decoded body."""
        secrets = options.secrets
        if resp.status_code >= 300 and resp.status_code not in options.accept_status:
            return None, f"HTTP {resp.status_code}: {self._redact(resp.text[:200], secrets)}", None
        if options.parse is not None:
            try:
                return options.parse(body), None, None
            except BodyError as exc:
                return None, f"malformed body ({len(body)} bytes): {self._redact(str(exc), secrets)}", None
            except Exception as exc:  # noqa: BLE001 - recorded by the caller, then raised unchanged
                return None, self._redact(f"{type(exc).__name__}: {exc}", secrets), exc
        if options.decode_json:
            try:
                return json.loads(body), None, None
            except ValueError as exc:
                return None, f"malformed JSON ({len(body)} bytes): {exc}", None
        return None, None, None

    def _refresh_token_once(self, refreshed: bool, endpoint: str, url_path: str, last_error: str) -> None:
        """A 401: drop the token so the next attempt fetches a fresh one; a second 401 raises.

        Raises:
            FeedAuthError: the token was already refreshed once for this request.
        """
        if refreshed:
            raise FeedAuthError(
                f"{self.feed} {endpoint} {url_path}: 401 again with a fresh token; check the client "
                f"credentials and the token endpoint ({last_error})"
            )
        # The token expired or was revoked early: refresh once, without spending the retry budget.
        log.info("%s %s: 401, refreshing the token once", self.feed, endpoint)
        if self.auth is not None:
            self.auth.invalidate()

    def _retry_delay(self, resp: requests.Response | None, attempt: int, endpoint: str) -> float:
        """Wait before the next attempt: the backoff, or for a 429 the longest of it, Retry-After and the reset.

        Raises:
            FeedHttpError: a 429 asks to wait longer than ``MAX_RATE_WAIT_S``.
        """
        delay = self.policy.backoff(attempt)
        if resp is not None and resp.status_code == 429:
            retry_after = _retry_after_s(resp.headers.get("Retry-After"))
            reset_ms = _int_header(resp.headers, "x-ratelimit-reset")
            delay = max(delay, retry_after or 0.0, (reset_ms or 0) / 1000.0)
            if delay > MAX_RATE_WAIT_S:
                raise FeedHttpError(
                    f"{self.feed} {endpoint}: rate limited and asked to wait {delay:.0f} s "
                    f"(> {MAX_RATE_WAIT_S:.0f} s); try later"
                )
        return delay

    # ---------------------------------------------------------------------------------------------------------

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "x-ratelimit-remaining")
        reset_ms = _int_header(headers, "x-ratelimit-reset")
        if remaining is None:
            return
        self._rate_remaining = remaining
        self._rate_reset_at = time.monotonic() + (reset_ms or 0) / 1000.0

    def _wait_for_rate_window(self) -> None:
        """No request left in the window: wait for its reset (the API says when, in milliseconds)."""
        if self._rate_remaining is None or self._rate_remaining > 0:
            return
        wait = self._rate_reset_at - time.monotonic()
        if wait > MAX_RATE_WAIT_S:
            raise FeedHttpError(f"{self.feed}: rate-limit window resets in {wait:.0f} s (> {MAX_RATE_WAIT_S:.0f} s)")
        if wait > 0:
            log.info("%s: rate limit reached, waiting %.2f s for the window to reset", self.feed, wait)
            self.sleep(wait)
        self._rate_remaining = None

    def _redact(self, text: str, extra: tuple[str, ...] = ()) -> str:
        """``text`` with every secret masked (API error bodies may echo them): the token provider's, ``extra``'s,
        the registered ones and secret-shaped values (:func:`griddesk.redaction.redact_text`)."""
        known = self.auth.secrets() if self.auth is not None else ()
        return redact_text(text, (*known, *extra))
