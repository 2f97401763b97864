"""The simulated trading-day clock: which delivery day a run is for, and what time it is for each market."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from griddesk.markets import Market, get_market

MORNING = "morning"
AFTERNOON = "afternoon"


@dataclass(frozen=True)
class RunClock:
    """A run of the daily pipeline: the delivery day D and the run kind (morning on D-1, or afternoon)."""

    delivery_date: date
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in (MORNING, AFTERNOON):
            raise ValueError(f"run kind must be {MORNING!r} or {AFTERNOON!r}, got {self.kind!r}")

    def sim_now(self, market: Market | str) -> datetime:
        """The simulated clock of this run for ``market`` (UTC)."""
        m = get_market(market) if isinstance(market, str) else market
        if self.kind == MORNING:
            return m.morning_run_utc(self.delivery_date)
        return m.afternoon_run_utc(self.delivery_date)

    def cutoff(self, market: Market | str) -> datetime:
        """Gate closure on D-1: nothing published later may influence a forecast or an order."""
        m = get_market(market) if isinstance(market, str) else market
        return m.gate_closure_utc(self.delivery_date)

    @property
    def price_days(self) -> tuple[date, date]:
        """Delivery days of prices this run extracts: a week back (to heal gaps) up to D-1, or D after the auction."""
        last = self.delivery_date - timedelta(days=1) if self.kind == MORNING else self.delivery_date
        return self.delivery_date - timedelta(days=7), last

    @property
    def exogenous_days(self) -> tuple[date, date]:
        """Delivery days of exogenous forecasts: up to D (published before gate closure on D-1)."""
        return self.delivery_date - timedelta(days=7), self.delivery_date

    @property
    def validated_price_day(self) -> date:
        """The price day the quality gate checks: D-1 in the morning (the newest input), D in the afternoon."""
        return self.price_days[1]


def parse_delivery_date(value: str | date | None, logical_date: datetime | None, kind: str) -> date:
    """The delivery day of a run: the ``delivery_date`` param if set, else derived from the logical date.

    Morning and afternoon runs both happen on D-1, so D is the day after the logical date.
    """
    if isinstance(value, date):
        return value
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"delivery_date must be YYYY-MM-DD, got {value!r}") from None
    if logical_date is None:
        raise ValueError(f"{kind} run needs a delivery_date param or a logical date")
    return logical_date.date() + timedelta(days=1)
