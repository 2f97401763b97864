"""Reference data for the day-ahead markets GridDesk trades: zones, clocks, currencies and price bounds.

This module is the single source of truth. Bootstrap writes it to ``raw.market_reference`` and
``raw.market_price_bounds``; dbt builds ``dim_markets`` from there; the simulator, the optimiser and
the quality checks read it from here or from the mart.

Assumptions (also in docs/architecture.md):
- NP is the Nord Pool *system price*: a reference price, not a tradable bidding zone. GridDesk serves it
  under the EIC of the Nordic market area and marks it ``is_tradable=False``.
- DE in the epftoolbox data (2012-2017) is the former DE-AT-LU bidding zone.
- BE's two exogenous series are the *French* generation and load forecasts (as in the dataset).
- PJM is not on ENTSO-E. The simulator serves it in the ENTSO-E document shape under GridDesk pseudo
  domain codes, in USD, with PJM's own clock (10:30 ET gate closure, results about 13:30 ET).
- The exogenous day-ahead forecasts are published two hours before gate closure, as the epftoolbox
  benchmark assumes they are known before gate closure (ENTSO-E's A69 deadline is later, 18:00 D-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ExogenousSeries:
    """One day-ahead exogenous forecast of a market, as published on the (simulated) ENTSO-E API."""

    series_code: str  # e.g. "load_forecast"; column name in marts
    dataset_column: int  # 1 or 2: which exogenous column of the epftoolbox CSV (exog_1 or exog_2)
    document_type: str  # A65 load forecast, A69 wind/solar forecast, A71 generation forecast
    process_type: str  # A01 day ahead
    domain_eic: str  # area the series is published for
    psr_type: str | None = None  # ENTSO-E production type, when the series is one


@dataclass(frozen=True)
class Market:
    """A day-ahead market: where, in which clock and currency, and when things happen on D-1."""

    code: str
    name: str
    bidding_zone_eic: str
    timezone: str
    currency: str
    mtu_minutes: int  # native MTU of the dataset; the simulator may serve 15-min instead
    gate_closure_local: time  # on D-1, market local time
    price_publication_local: time  # auction results for D, on D-1
    exogenous_publication_local: time  # day-ahead exogenous forecasts for D, on D-1
    is_tradable: bool
    exogenous: tuple[ExogenousSeries, ExogenousSeries]
    notes: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _on_day_before(self, delivery_date: date, local: time) -> datetime:
        d1 = delivery_date - timedelta(days=1)
        return datetime.combine(d1, local, tzinfo=self.tz).astimezone(ZoneInfo("UTC"))

    def gate_closure_utc(self, delivery_date: date) -> datetime:
        """Gate closure for delivery day ``delivery_date``: the forecast and bid cut-off (UTC)."""
        return self._on_day_before(delivery_date, self.gate_closure_local)

    def price_publication_utc(self, delivery_date: date) -> datetime:
        """When the day-ahead prices of ``delivery_date`` are published (UTC)."""
        return self._on_day_before(delivery_date, self.price_publication_local)

    def exogenous_publication_utc(self, delivery_date: date) -> datetime:
        """When the day-ahead exogenous forecasts for ``delivery_date`` are published (UTC)."""
        return self._on_day_before(delivery_date, self.exogenous_publication_local)

    def morning_run_utc(self, delivery_date: date) -> datetime:
        """Simulated clock of the morning run for D: one hour before gate closure on D-1."""
        return self.gate_closure_utc(delivery_date) - timedelta(hours=1)

    def afternoon_run_utc(self, delivery_date: date) -> datetime:
        """Simulated clock of the afternoon run for D: 15 minutes after D's prices are published."""
        return self.price_publication_utc(delivery_date) + timedelta(minutes=15)

    def delivery_day_bounds_utc(self, delivery_date: date) -> tuple[datetime, datetime]:
        """[start, end) of the local delivery day in UTC; 23, 24 or 25 hours long."""
        utc = ZoneInfo("UTC")
        start = datetime.combine(delivery_date, time(0), tzinfo=self.tz).astimezone(utc)
        end = datetime.combine(delivery_date + timedelta(days=1), time(0), tzinfo=self.tz).astimezone(utc)
        return start, end

    def mtus_in_day(self, delivery_date: date, mtu_minutes: int | None = None) -> int:
        """Number of MTUs in the local delivery day: 23/24/25 hourly or 92/96/100 quarter-hourly."""
        start, end = self.delivery_day_bounds_utc(delivery_date)
        return int((end - start).total_seconds() // 60) // (mtu_minutes or self.mtu_minutes)


FR_EIC = "10YFR-RTE------C"
#: Country whose public holidays apply to a market (NP: Norway as the Nordic proxy; PJM: US federal).
HOLIDAY_COUNTRY: dict[str, str] = {"FR": "FR", "BE": "BE", "DE": "DE", "NP": "NO", "PJM": "US"}

#: The SDAC day-ahead clock (EPEX SPOT and Nord Pool): EUR, hourly, 12:00 CET gate closure, results about 12:45.
_SDAC_CLOCK = dict(
    currency="EUR",
    mtu_minutes=60,
    gate_closure_local=time(12, 0),
    price_publication_local=time(12, 45),
    exogenous_publication_local=time(10, 0),
)


def _sdac_market(
    code: str,
    name: str,
    bidding_zone_eic: str,
    timezone: str,
    is_tradable: bool,
    exogenous: tuple[ExogenousSeries, ExogenousSeries],
    notes: str = "",
) -> Market:
    """A European day-ahead market on the SDAC clock."""
    return Market(
        code, name, bidding_zone_eic, timezone, **_SDAC_CLOCK, is_tradable=is_tradable, exogenous=exogenous, notes=notes
    )


_FR_EXOGENOUS = (
    ExogenousSeries("generation_forecast", 1, "A71", "A01", FR_EIC),
    ExogenousSeries("load_forecast", 2, "A65", "A01", FR_EIC),
)

MARKETS: dict[str, Market] = {
    m.code: m
    for m in [
        _sdac_market("FR", "France (EPEX SPOT FR)", FR_EIC, "Europe/Paris", True, _FR_EXOGENOUS),
        _sdac_market(
            "BE",
            "Belgium (EPEX SPOT BE)",
            "10YBE----------2",
            "Europe/Brussels",
            True,
            _FR_EXOGENOUS,
            notes="Exogenous series are the French generation and load forecasts, as in the dataset.",
        ),
        _sdac_market(
            "DE",
            "Germany-Austria-Luxembourg (EPEX SPOT DE-AT-LU)",
            "10Y1001A1001A63L",
            "Europe/Berlin",
            True,
            (
                ExogenousSeries("load_forecast", 1, "A65", "A01", "10YDE-RWENET---I"),
                ExogenousSeries("wind_solar_forecast", 2, "A69", "A01", "10Y1001A1001A63L"),
            ),
            notes="The DE-AT-LU zone (split on 2018-10-01). Load forecast is the Amprion control area; "
            "wind_solar_forecast is PV + wind combined.",
        ),
        _sdac_market(
            "NP",
            "Nord Pool system price",
            "10Y1001A1001A91G",
            "Europe/Oslo",
            False,
            (
                ExogenousSeries("load_forecast", 1, "A65", "A01", "10Y1001A1001A91G"),
                ExogenousSeries("wind_solar_forecast", 2, "A69", "A01", "10Y1001A1001A91G", psr_type="B19"),
            ),
            notes="A reference price, not a tradable zone. Bidding on it is a demonstration.",
        ),
        Market(
            code="PJM",
            name="PJM ComEd zone",
            bidding_zone_eic="PJM-COMED",
            timezone="America/New_York",
            currency="USD",
            mtu_minutes=60,
            gate_closure_local=time(10, 30),
            price_publication_local=time(13, 30),
            exogenous_publication_local=time(8, 30),
            is_tradable=True,
            exogenous=(
                ExogenousSeries("system_load_forecast", 1, "A65", "A01", "PJM-RTO"),
                ExogenousSeries("zonal_load_forecast", 2, "A65", "A01", "PJM-COMED"),
            ),
            notes="Not on ENTSO-E: served in the ENTSO-E document shape under GridDesk pseudo domain codes.",
        ),
    ]
}


@dataclass(frozen=True)
class PriceBounds:
    """Harmonised minimum and maximum clearing prices, valid on [valid_from, valid_to)."""

    market_code: str
    valid_from: date
    valid_to: date | None
    min_price_per_mwh: float
    max_price_per_mwh: float
    source: str


_SDAC = "SDAC harmonised max/min clearing price (HMMCP)"
PRICE_BOUNDS: list[PriceBounds] = [
    *(
        b
        for code in ("FR", "BE", "DE", "NP")
        for b in (
            PriceBounds(code, date(2006, 1, 1), date(2022, 5, 10), -500.0, 3000.0, _SDAC + ": +3,000 before May 2022"),
            PriceBounds(code, date(2022, 5, 10), None, -500.0, 4000.0, _SDAC + ": +4,000 from 10 May 2022"),
        )
    ),
    PriceBounds(
        "PJM", date(2006, 1, 1), None, -1000.0, 2000.0, "PJM energy offer cap with cost verification (approx.)"
    ),
]


def get_market(code: str) -> Market:
    """The market with this code; raises ``KeyError`` naming the known codes."""
    try:
        return MARKETS[code.upper()]
    except KeyError:
        raise KeyError(f"unknown market {code!r}; known markets: {', '.join(MARKETS)}") from None


def price_bounds_on(code: str, delivery_date: date) -> PriceBounds:
    """The price bounds valid for ``code`` on ``delivery_date``."""
    for b in PRICE_BOUNDS:
        if (
            b.market_code == code
            and b.valid_from <= delivery_date
            and (b.valid_to is None or delivery_date < b.valid_to)
        ):
            return b
    raise LookupError(f"no price bounds for market {code} on {delivery_date}")
