"""Market rules the bidding engine obeys: MTU, price bounds valid on the date, volume and price ticks, gate closure.

One ``MarketRules`` per (market, delivery day). It comes from ``marts.dim_markets`` in the pipeline
(:func:`rules_from_dim_markets`) and from :mod:`griddesk.markets`, the single source the mart is built from,
everywhere else (:func:`market_rules`). Volumes and prices are whole numbers of ticks: the optimiser and the
curve builder work on integer tick counts, and :meth:`MarketRules.price_ticks` / :meth:`MarketRules.volume_ticks`
refuse a value that is not on the grid rather than rounding it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from griddesk.markets import get_market, price_bounds_on

#: Day-ahead volume granularity of SDAC/EPEX orders, MW.
VOLUME_TICK_MW = 0.1
#: Day-ahead price granularity, market currency per MWh.
PRICE_TICK = 0.01
#: Relative slack when testing whether a float is a whole number of ticks (0.3 / 0.1 = 2.9999999999999996).
_TICK_SLACK = 1e-9


class MarketRules(BaseModel):
    """What an order set for one market and delivery day must respect. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market_code: str = Field(description="Market code, e.g. DE.")
    delivery_date: date = Field(description="Local delivery day D.")
    currency: str = Field(description="Currency of prices, e.g. EUR.")
    mtu_minutes: int = Field(description="MTU of the traded product, 60 or 15.")
    volume_tick_mw: float = Field(VOLUME_TICK_MW, gt=0, description="Volume granularity, MW.")
    price_tick: float = Field(PRICE_TICK, gt=0, description="Price granularity, currency per MWh.")
    min_price_per_mwh: float = Field(description="Harmonised minimum clearing price valid on D.")
    max_price_per_mwh: float = Field(description="Harmonised maximum clearing price valid on D.")
    gate_closure_utc: datetime = Field(description="Gate closure for D (on D-1), UTC; no order after it.")

    @model_validator(mode="after")
    def _check(self) -> MarketRules:
        if self.mtu_minutes not in (15, 60):
            raise ValueError(f"mtu_minutes must be 15 or 60, got {self.mtu_minutes}")
        if self.min_price_per_mwh >= self.max_price_per_mwh:
            raise ValueError(
                f"min_price_per_mwh {self.min_price_per_mwh} must be below max_price_per_mwh {self.max_price_per_mwh}"
            )
        if self.gate_closure_utc.tzinfo is None:
            raise ValueError("gate_closure_utc must be timezone-aware (UTC)")
        for name in ("min_price_per_mwh", "max_price_per_mwh"):
            self.price_ticks(getattr(self, name))  # bounds are on the price grid
        return self

    @property
    def price_bounds(self) -> tuple[float, float]:
        """(minimum, maximum) clearing price, currency per MWh."""
        return (self.min_price_per_mwh, self.max_price_per_mwh)

    @property
    def min_price_ticks(self) -> int:
        return self.price_ticks(self.min_price_per_mwh)

    @property
    def max_price_ticks(self) -> int:
        return self.price_ticks(self.max_price_per_mwh)

    def price_ticks(self, price_per_mwh: float) -> int:
        """``price_per_mwh`` as a whole number of price ticks.

        Raises:
            ValueError: the price is not finite or not a whole number of ticks (never rounded silently).
        """
        return whole_ticks(price_per_mwh, self.price_tick, "price")

    def limit_price_problems(self, price_per_mwh: float) -> list[str]:
        """Why a limit price cannot be sent for this delivery day: off the price tick grid, outside the bounds."""
        problems = []
        try:
            self.price_ticks(float(price_per_mwh))
        except ValueError as exc:
            problems.append(str(exc))
        if not self.min_price_per_mwh <= price_per_mwh <= self.max_price_per_mwh:
            problems.append(
                f"limit {price_per_mwh:g} outside the bounds [{self.min_price_per_mwh:g}, "
                f"{self.max_price_per_mwh:g}] valid on {self.delivery_date}"
            )
        return problems

    def volume_ticks(self, volume_mw: float) -> int:
        """``volume_mw`` as a whole number of volume ticks; raises ``ValueError`` when it is not one."""
        return whole_ticks(volume_mw, self.volume_tick_mw, "volume")

    def price_from_ticks(self, ticks: int) -> float:
        """The price of ``ticks`` price ticks, rounded to the tick's decimals (100 * 0.01 is 1.0, not 1.0000000002)."""
        return round(int(ticks) * self.price_tick, _decimals(self.price_tick))

    def volume_from_ticks(self, ticks: int) -> float:
        """The volume of ``ticks`` volume ticks, MW, rounded to the tick's decimals."""
        return round(int(ticks) * self.volume_tick_mw, _decimals(self.volume_tick_mw))

    def is_before_gate_closure(self, now_utc: datetime, margin: timedelta = timedelta(0)) -> bool:
        """Whether an order sent at ``now_utc`` (aware) reaches the market ``margin`` before gate closure."""
        if now_utc.tzinfo is None:
            raise ValueError("now_utc must be timezone-aware")
        return now_utc + margin < self.gate_closure_utc


def _decimals(tick: float) -> int:
    return max(0, -math.floor(math.log10(tick) + _TICK_SLACK)) + 2


def whole_ticks(value: float, tick: float, what: str = "value") -> int:
    """``value / tick`` as an int when it is a whole number (within 1e-9 relative), else ``ValueError``."""
    if not math.isfinite(value):
        raise ValueError(f"{what} {value} is not a finite number")
    count = value / tick
    nearest = round(count)
    if abs(count - nearest) > _TICK_SLACK * max(1.0, abs(count)):
        raise ValueError(f"{what} {value} is not a whole number of {tick:g} ticks")
    return int(nearest)


def market_rules(
    market_code: str,
    delivery_date: date,
    mtu_minutes: int | None = None,
    volume_tick_mw: float = VOLUME_TICK_MW,
    price_tick: float = PRICE_TICK,
) -> MarketRules:
    """The rules of ``market_code`` on ``delivery_date`` from :mod:`griddesk.markets` (what dim_markets holds).

    Args:
        mtu_minutes: The traded MTU; default the market's native MTU (a market served at PT15M trades 15).

    Raises:
        KeyError: unknown market. LookupError: no price bounds valid on the date.
    """
    market = get_market(market_code)
    bounds = price_bounds_on(market.code, delivery_date)
    return MarketRules(
        market_code=market.code,
        delivery_date=delivery_date,
        currency=market.currency,
        mtu_minutes=mtu_minutes or market.mtu_minutes,
        volume_tick_mw=volume_tick_mw,
        price_tick=price_tick,
        min_price_per_mwh=bounds.min_price_per_mwh,
        max_price_per_mwh=bounds.max_price_per_mwh,
        gate_closure_utc=market.gate_closure_utc(delivery_date),
    )


_DIM_MARKETS_SQL = """
select currency, mtu_minutes, gate_closure_local, timezone, min_price_per_mwh, max_price_per_mwh
from marts.dim_markets
where market_code = %s and valid_from <= %s and (valid_to is null or %s < valid_to)
"""


def rules_from_dim_markets(conn, market_code: str, delivery_date: date, mtu_minutes: int | None = None) -> MarketRules:
    """The rules of ``market_code`` on ``delivery_date`` as ``marts.dim_markets`` holds them.

    Gate closure is ``gate_closure_local`` on D-1 in the market's time zone. Without the mart (a fresh warehouse
    before the first dbt build) or a row for the date, falls back to :func:`market_rules`.
    """
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute("savepoint gd_rules")
            cur.execute(_DIM_MARKETS_SQL, (market_code.upper(), delivery_date, delivery_date))
            row = cur.fetchone()
            cur.execute("release savepoint gd_rules")
    except psycopg2.errors.UndefinedTable:
        with conn.cursor() as cur:
            cur.execute("rollback to savepoint gd_rules")
        row = None
    if row is None:
        return market_rules(market_code, delivery_date, mtu_minutes)
    currency, native_mtu, gate_local, timezone, min_price, max_price = row
    gate = gate_local if isinstance(gate_local, time) else time.fromisoformat(str(gate_local))
    tz = ZoneInfo(timezone)
    gate_utc = datetime.combine(delivery_date - timedelta(days=1), gate, tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return MarketRules(
        market_code=market_code.upper(),
        delivery_date=delivery_date,
        currency=currency,
        mtu_minutes=mtu_minutes or int(native_mtu),
        min_price_per_mwh=float(min_price),
        max_price_per_mwh=float(max_price),
        gate_closure_utc=gate_utc,
    )


# --------------------------------------------------------------------------------------------------------------------
# block orders and exclusive groups
# --------------------------------------------------------------------------------------------------------------------


class BlockOrderRules(BaseModel):
    """What a market allows for block orders in exclusive groups (strategy ``exclusive_blocks``). Immutable.

    A *block* is a profile of volumes, one per MTU of the day, with one limit price; it is accepted whole or not at
    all. In an *exclusive group* at most one block is accepted. docs/bidding.md ("Block orders") cites where each
    value comes from and which are assumptions.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    market_code: str
    allows_block_orders: bool = Field(description="Block orders are a product of the market's day-ahead auction.")
    allows_exclusive_groups: bool = Field(description="Blocks can be grouped so that at most one is accepted.")
    max_blocks_per_group: int = Field(0, ge=0, description="Blocks in one exclusive group.")
    max_blocks_per_participant: int = Field(0, ge=0, description="Blocks per participant, area and delivery day.")
    min_block_volume_mw: float = Field(0.0, ge=0, description="Smallest non-zero volume of a block in an MTU, MW.")
    limit_price_convention: str = Field(
        "",
        description="How the one limit price of a block is read: here the minimum average margin per MWh traded, "
        "i.e. the block is in the money when sum(price x net volume x hours) > limit x sum(|volume| x hours).",
    )
    status: str = Field(description="'applies', or 'not applicable' and why.")

    @property
    def usable(self) -> bool:
        """Whether ``exclusive_blocks`` can be sent to this market."""
        return self.allows_block_orders and self.allows_exclusive_groups and self.max_blocks_per_group > 0


_MARGIN = "minimum average margin per MWh traded (sum of |volume| x hours)"
#: Per market; SDAC (EUPHEMIA) rules for the European zones. Values are what docs/bidding.md states as confirmed
#: or assumed; the simulated exchange and compliance enforce exactly these.
BLOCK_ORDER_RULES: dict[str, BlockOrderRules] = {
    code: BlockOrderRules(
        market_code=code,
        allows_block_orders=True,
        allows_exclusive_groups=True,
        max_blocks_per_group=24,
        max_blocks_per_participant=100,
        min_block_volume_mw=VOLUME_TICK_MW,
        limit_price_convention=_MARGIN,
        status=status,
    )
    for code, status in {
        "DE": "applies: SDAC block orders in exclusive groups (EPEX SPOT, DE-AT-LU in the data)",
        "FR": "applies: SDAC block orders in exclusive groups (EPEX SPOT)",
        "BE": "applies: SDAC block orders in exclusive groups (EPEX SPOT)",
        "NP": "applies to the Nordic bidding zones (Nord Pool, SDAC); NP itself is the system price, an index, "
        "so the backtest clears against it as a proxy zone, as for every other strategy",
    }.items()
} | {
    "PJM": BlockOrderRules(
        market_code="PJM",
        allows_block_orders=False,
        allows_exclusive_groups=False,
        status="not applicable: PJM's day-ahead market takes offers with unit parameters (min run time, start-up "
        "cost), not EUPHEMIA block orders or exclusive groups",
    )
}


def block_order_rules(market_code: str) -> BlockOrderRules:
    """The block-order rules of ``market_code``; ``KeyError`` naming the market when it has none."""
    code = market_code.upper()
    if code not in BLOCK_ORDER_RULES:
        raise KeyError(
            f"no block-order rules for market {market_code!r}; known: {', '.join(sorted(BLOCK_ORDER_RULES))}"
        )
    return BLOCK_ORDER_RULES[code]


def exclusive_group_refusal(market_code: str) -> str | None:
    """Why ``market_code`` takes no exclusive groups of block orders, naming the market and its rule; None when it
    takes them. Compliance, the simulated exchange and the bid task all refuse with this reason."""
    try:
        rules = block_order_rules(market_code)
    except KeyError as exc:
        return str(exc.args[0])
    return None if rules.usable else f"{rules.market_code}: exclusive groups of block orders are {rules.status}"
