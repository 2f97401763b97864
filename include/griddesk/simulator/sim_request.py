"""How a simulator request says what time it is: the ``X-GridDesk-Sim-Now`` header, and the error a rejected
request raises. Shared by the ENTSO-E app, the feeds and the order API (no module of them imports another for it).
"""

from __future__ import annotations

from datetime import UTC, datetime

SIM_NOW_HEADER = "X-GridDesk-Sim-Now"


class RequestError(Exception):
    """A request the API rejects: answered with an acknowledgement document and ``status``."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.text = text
        self.status = status


def parse_sim_now(header: str | None) -> datetime:
    """The ``X-GridDesk-Sim-Now`` header (ISO-8601; naive means UTC), else the wall clock. The simulator itself reads
    the header with :func:`parse_sim_header` and lets its :class:`SimClock` decide what it is worth."""
    return parse_sim_header(header) or datetime.now(UTC)


def parse_sim_header(header: str | None) -> datetime | None:
    """The ``X-GridDesk-Sim-Now`` header as a UTC time (naive means UTC); None when absent."""
    if not header:
        return None
    try:
        now = datetime.fromisoformat(header.strip())
    except ValueError:
        raise RequestError(f"Header {SIM_NOW_HEADER}={header!r} is not an ISO-8601 time.") from None
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def sim_now_headers(now: datetime) -> dict[str, str]:
    """The request header that sets the simulator's clock to ``now`` (for clients and tests)."""
    return {SIM_NOW_HEADER: now.astimezone(UTC).isoformat()}
