"""The simulator's own trading clock, participant tokens, admin token and position limit (issue 21, finding 8).

The simulated exchange does not trust its clients:

- **Participants** authenticate with a token configured when the simulator starts (``GRIDDESK_SIM_TOKENS``; unset:
  the tokens GridDesk's own clients are configured with, ``GRIDDESK_ENTSOE_TOKEN`` and
  ``GRIDDESK_BIDDING_ORDER_API_TOKEN``). Any other token is refused with 401; the answer never quotes it.
- **The clock** belongs to the server. In the default (exchange) mode "now" is the clock an operator set with
  ``PUT /admin/clock`` (the orchestrator of ``make run`` sets it to each run's time), else the wall clock. The
  ``X-GridDesk-Sim-Now`` request header may only move a *read* back in time (point-in-time queries: ``min(header,
  server clock)``); the order API ignores it, so no client can place an order after gate closure by claiming an
  earlier time. Only a simulator started in **backtest mode** (``--backtest`` / ``GRIDDESK_SIM_BACKTEST=true``)
  honours the header as the clock, for tests and backtests that replay many days side by side.
- **Admin** endpoints (``/admin/*``: faults, revisions, the clock) need ``Authorization: Bearer <admin token>``:
  ``GRIDDESK_SIM_ADMIN_TOKEN``, else a random token generated once into ``<state dir>/secrets/simulator-admin-token``
  (mode 0600), which the orchestrator and the tests read from the same file. There is no anonymous admin.
- **Position limit**: each participant's net position in any MTU of a market (all its live order sets together,
  worst case over the clearing price: every buy or every sell accepted) may not exceed its registered limit
  (``GRIDDESK_SIM_POSITION_LIMIT_MW``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from griddesk.settings import Settings, get_settings

ADMIN_TOKEN_FILE = "simulator-admin-token"


def admin_token_path(settings: Settings) -> Path:
    return settings.state_dir / "secrets" / ADMIN_TOKEN_FILE


def admin_token(settings: Settings | None = None) -> str:
    """The simulator's admin token: ``GRIDDESK_SIM_ADMIN_TOKEN``, else the state dir's generated one (created once,
    0600 in a 0700 folder). The simulator and whoever administers it (orchestrator, tests) call this alike."""
    settings = settings or get_settings()
    if settings.sim_admin_token:
        return settings.sim_admin_token
    path = admin_token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if not token:
            raise RuntimeError(f"{path} is empty: delete it to have a new simulator admin token generated") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def admin_headers(settings: Settings | None = None) -> dict[str, str]:
    """The header that authenticates a request to the simulator's ``/admin/*`` endpoints."""
    from griddesk.redaction import register_secret

    token = admin_token(settings)
    register_secret(token)
    return {"Authorization": f"Bearer {token}"}


def participant_tokens(tokens: Iterable[str] | None, settings: Settings) -> frozenset[str]:
    """The tokens the simulator accepts: ``tokens`` if given, else ``GRIDDESK_SIM_TOKENS``, else the tokens
    GridDesk's clients are configured with (ENTSO-E and order API). Never empty: no anonymous participant."""
    if tokens is None:
        tokens = settings.sim_tokens.split(",")
    cleaned = frozenset(t.strip() for t in tokens if t.strip())
    if cleaned:
        return cleaned
    from griddesk.bidding.controls import get_bidding_settings

    return frozenset(t for t in (settings.entsoe_token, get_bidding_settings().order_api_token) if t)


def is_valid_token(presented: str, accepted: frozenset[str]) -> bool:
    """Constant-time membership (the compare does not leak how much of a token matched)."""
    ok = False
    for token in accepted:
        ok |= hmac.compare_digest(presented.encode(), token.encode())
    return bool(presented) and ok


def participant_id(token: str) -> str:
    """A stable, non-secret name for the participant holding ``token`` (its order sets are grouped by it)."""
    return "P-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def bearer(header: str | None) -> str:
    value = (header or "").strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


@dataclass
class SimClock:
    """The simulator's clock. ``backtest``: the request header is the clock (replays); otherwise the server's own:
    the instant an admin set (frozen until changed or cleared), else the wall clock."""

    backtest: bool = False
    _fixed: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server_now(self) -> datetime:
        with self._lock:
            fixed = self._fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def set(self, now: datetime | None) -> None:
        with self._lock:
            self._fixed = (
                None if now is None else (now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC))
            )

    @property
    def fixed(self) -> datetime | None:
        with self._lock:
            return self._fixed

    def read_now(self, header: datetime | None) -> datetime:
        """The "now" of a read: the header in backtest mode; otherwise the header may only move it back in time."""
        server = self.server_now()
        if header is None:
            return server
        return header if self.backtest else min(header, server)

    def trading_now(self, header: datetime | None) -> datetime:
        """The "now" of the order API: the header only in backtest mode, else the server's clock."""
        return header if (self.backtest and header is not None) else self.server_now()


def exchange_clock_for_run(kind: str, instants: Iterable[datetime]) -> datetime:
    """The one server clock for a DAG run whose markets each have their own run time (``instants``).

    A morning run (``kind="morning"``) gets the earliest: no market's order lands after its own gate closure, and the
    other markets read a little earlier than their own clock at worst (equal for markets of one time zone). Any other
    run gets the latest: every market's prices and results are published by then.
    """
    values = list(instants)
    return min(values) if kind == "morning" else max(values)


def set_simulator_clock(settings: Settings, now: datetime | None, timeout_s: float = 10.0) -> dict:
    """Set (``now=None``: clear, back to the wall clock) the clock of the simulator at ``settings.simulator_url``
    with its admin token; what the orchestrator does before each run it replays.

    Raises:
        RuntimeError: the simulator refused or could not be reached (the message carries no secret).
    """
    import requests

    from griddesk.redaction import redact_text

    url = settings.simulator_url.rstrip("/") + "/admin/clock"
    headers = admin_headers(settings)
    try:
        if now is None:
            response = requests.delete(url, headers=headers, timeout=timeout_s)
        else:
            response = requests.put(
                url, headers=headers, json={"now": now.astimezone(UTC).isoformat()}, timeout=timeout_s
            )
    except requests.RequestException as exc:
        raise RuntimeError(redact_text(f"could not set the simulator clock at {url}: {exc}")) from None
    if not response.ok:
        raise RuntimeError(
            redact_text(f"the simulator refused to set its clock: HTTP {response.status_code}: {response.text[:300]}")
        )
    return response.json()
