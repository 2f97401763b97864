"""HTTP client for the ENTSO-E Transparency Platform REST API (or GridDesk's simulator of it).

The client knows HTTP, the token and retries; it returns raw XML bytes. Parsing lives in
``griddesk.entsoe.parser``, storage in ``griddesk.warehouse.loader``.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import requests

log = logging.getLogger(__name__)

#: ENTSO-E serves at most one year per request.
MAX_REQUEST_SPAN = timedelta(days=365)
#: Header carrying the simulated clock to GridDesk's simulator; the real API ignores it.
SIM_NOW_HEADER = "X-GridDesk-Sim-Now"
_RETRY_STATUS = {429, 500, 502, 503, 504}


class EntsoeHttpError(RuntimeError):
    """The API failed after the retry budget, or answered with a non-retryable error."""


def entsoe_time(ts: datetime) -> str:
    """ENTSO-E's ``yyyyMMddHHmm`` in UTC."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: ENTSO-E windows must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y%m%d%H%M")


@dataclass
class EntsoeClient:
    """A small ENTSO-E client with bounded retries, exponential backoff with jitter, and Retry-After.

    Attributes:
        base_url: e.g. ``https://web-api.tp.entsoe.eu`` or the simulator's ``http://127.0.0.1:8765``.
        token: the securityToken; never logged and never stored (see ``public_url``).
        sim_now: the simulated clock, sent to the simulator so it reveals only what is published by then.
    """

    base_url: str
    token: str
    sim_now: datetime | None = None
    max_attempts: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)

    def public_url(self, params: dict[str, str]) -> str:
        """The request URL without the token, as stored in raw for provenance."""
        return f"{self.base_url.rstrip('/')}/api?{urlencode(params)}"

    def get(self, params: dict[str, str]) -> bytes:
        """GET ``/api`` with ``params`` (token added here); returns the body of a 200 answer.

        Raises:
            EntsoeHttpError: on 401/400 at once, and on 429/5xx/timeouts after ``max_attempts``.
        """
        headers = {SIM_NOW_HEADER: self.sim_now.isoformat()} if self.sim_now else {}
        url = f"{self.base_url.rstrip('/')}/api"
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.session.get(
                    url, params={**params, "securityToken": self.token}, headers=headers, timeout=self.timeout_s
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                resp = None
            if resp is not None:
                if resp.status_code == 200:
                    return resp.content
                if resp.status_code == 401:
                    raise EntsoeHttpError(f"401 Unauthorized from {self.public_url(params)}: check the security token")
                if resp.status_code not in _RETRY_STATUS:
                    # 400 carries an acknowledgement document: let the parser explain it.
                    if resp.content.lstrip().startswith(b"<"):
                        return resp.content
                    raise EntsoeHttpError(f"HTTP {resp.status_code} from {self.public_url(params)}: {resp.text[:300]}")
                last_error = f"HTTP {resp.status_code}"
            if attempt == self.max_attempts:
                break
            delay = self.backoff_s * 2 ** (attempt - 1) * (1 + random.random())
            retry_after = resp.headers.get("Retry-After") if resp is not None else None
            if retry_after and retry_after.isdigit():
                delay = max(delay, float(retry_after))
            log.warning("ENTSO-E request failed (%s), attempt %d/%d; retrying in %.1fs", last_error, attempt,
                        self.max_attempts, delay)
            time.sleep(delay)
        raise EntsoeHttpError(
            f"{self.public_url(params)} failed after {self.max_attempts} attempts; last error: {last_error}"
        )
