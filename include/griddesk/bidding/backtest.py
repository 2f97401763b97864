"""Strategy backtest: forecast, optimise, clear at the realised prices, carry the SoC; judged in money.

For every delivery day D, in order, and for every (forecast source, strategy):

1. the source forecasts D from what was published before gate closure on D-1 (:class:`ForecastSource`);
2. the strategy turns the forecast into an order set: ``fixed`` (the optimiser's price-taker schedule, end SoC
   back at the start every day, the reference protocol), ``fixed_valued`` (the same with the end SoC valued and
   carried into D+1), ``curves`` (robust bid curves from the forecast distribution, at least 3 steps in every
   MTU that trades, end SoC valued and carried, :mod:`griddesk.bidding.curves`), ``curves_free`` (the same
   without the minimum number of steps), or ``exclusive_blocks`` (an exclusive group of up to K block orders, each
   a whole day returning to the start SoC, from joint error scenarios, :mod:`griddesk.bidding.blocks`);
3. the order set clears at D's realised prices with the price-taker rule (:mod:`griddesk.bidding.clearing`; an
   exclusive group: at most one block, the one with the highest positive surplus);
4. the SoC at the end of D is where D+1 starts.

The same optimiser fed the realised prices is *perfect foresight*. Percentage of Perfect (PoP) is revenue divided
by the perfect-foresight revenue of the same battery and rules: for ``fixed``, the daily schedule on realised
prices (end = start every day, as the published reference; also for ``exclusive_blocks``); for strategies that carry the SoC between days, the
hindsight optimum over the whole period (:func:`multiday_perfect_foresight`), which no carrying strategy can beat.

A carried SoC is worth money: each day's P&L is marked to market (cash + end-SoC value x SoC change), and the
period's revenue is the cash plus the final SoC change valued at the last day's value.

Library code only: no database, no published reference forecasts (those are read by
``griddesk.reporting.bidding_benchmark``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.blocks import joint_error_scenarios
from griddesk.bidding.curves import (
    DEFAULT_STEP_QUANTILES,
    MIN_STEPS_PER_MTU,
    build_bid_curves,
    clear_curves,
    curve_frame,
    scenarios_from_errors,
    schedule_as_curves,
)
from griddesk.bidding.optimiser import (
    DEFAULT_VOLUME_TICK_MW,
    InfeasibleScheduleError,
    ScheduleMarket,
    optimise_schedule,
    plan_on_soc_grid,
)
from griddesk.bidding.rules import market_rules
from griddesk.forecasting.store import stored_backtest_forecasts
from griddesk.markets import get_market

log = logging.getLogger(__name__)

#: The epftoolbox test period: the last 2 x 364 days of every dataset.
FULL_TEST_DAYS = 728
FIXED = "fixed"
FIXED_VALUED = "fixed_valued"
CURVES = "curves"
#: Bid curves without the minimum number of steps per MTU (to measure what that requirement costs).
CURVES_FREE = "curves_free"
#: An exclusive group of up to K block orders from forecast scenarios (:mod:`griddesk.bidding.blocks`).
EXCLUSIVE_BLOCKS = "exclusive_blocks"
STRATEGIES = (FIXED, FIXED_VALUED, CURVES, CURVES_FREE, EXCLUSIVE_BLOCKS)
#: Strategies whose every day ends at the start SoC: judged against the daily perfect foresight (end = start).
DAILY_RESET_STRATEGIES = (FIXED, EXCLUSIVE_BLOCKS)
#: Columns of ``StrategyRun.daily``.
DAILY_COLUMNS = [
    "delivery_date_local",
    "revenue",
    "degradation_cost",
    "soc_start_pct",
    "soc_end_pct",
    "end_soc_value_per_mwh",
    "pnl",
    "charged_mwh",
    "discharged_mwh",
    "drawn_mwh",
    "trades",
    "steps",
    "solve_ms",
    "is_fallback",
]

ForecastFn = Callable[[date], pd.DataFrame]


# --------------------------------------------------------------------------------------------------------------------
# realised prices and forecast sources
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealisedPrices:
    """A market's realised day-ahead prices per local delivery day (real DST: 23/24/25 hourly MTUs)."""

    market_code: str
    mtu_minutes: int
    starts: dict[date, pd.DatetimeIndex]
    prices: dict[date, np.ndarray]

    @classmethod
    def from_frame(cls, df: pd.DataFrame, market_code: str, mtu_minutes: int = 60) -> RealisedPrices:
        """From a :mod:`griddesk.datasets` loader frame (``delivery_start_utc``, ``delivery_date_local``,
        ``price_per_mwh``)."""
        starts, prices = {}, {}
        for day, group in df.groupby("delivery_date_local", sort=True):
            starts[day] = pd.DatetimeIndex(group["delivery_start_utc"]).tz_convert("UTC")
            prices[day] = group["price_per_mwh"].to_numpy(dtype=float)
        return cls(get_market(market_code).code, mtu_minutes, starts, prices)

    def days(self) -> list[date]:
        return sorted(self.prices)

    def day(self, day: date) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """MTU starts (UTC) and prices of ``day``; ``KeyError`` naming the day if absent."""
        if day not in self.prices:
            raise KeyError(f"{self.market_code}: no realised prices for {day}")
        return self.starts[day], self.prices[day]

    def recent_prices(self, day: date, window_days: int) -> np.ndarray:
        """Prices of the ``window_days`` days before ``day`` (all published before D's gate closure)."""
        parts = [self.prices[d] for k in range(window_days, 0, -1) if (d := day - timedelta(days=k)) in self.prices]
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass
class ForecastSource:
    """A named day-ahead forecast: ``forecast(D)`` returns ``delivery_start_utc`` (UTC) and
    ``forecast_price_per_mwh``, one row per MTU of D, using only what was published before D's cut-off.

    Results are memoised: the backtest asks for the same day several times (strategies, error windows).
    """

    name: str
    fn: ForecastFn
    model: str = ""
    available_days: set[date] | None = None
    _memo: dict[date, pd.DataFrame] = field(default_factory=dict, repr=False)
    _errors: dict[date, tuple[np.ndarray, np.ndarray] | None] = field(default_factory=dict, repr=False)

    def forecast(self, day: date) -> pd.DataFrame:
        if day not in self._memo:
            self._memo[day] = self.fn(day)
        return self._memo[day]


def perfect_foresight_source(realised: RealisedPrices) -> ForecastSource:
    """The realised prices as the forecast: the optimiser then earns the perfect-foresight revenue."""

    def fn(day: date) -> pd.DataFrame:
        starts, prices = realised.day(day)
        return pd.DataFrame({"delivery_start_utc": starts, "forecast_price_per_mwh": prices})

    return ForecastSource("perfect_foresight", fn, model="realised prices")


def prophet_source(
    dataset: pd.DataFrame,
    market_code: str,
    history_days: int = 365,
    cache_dir: Path | None = None,
) -> ForecastSource:
    """GridDesk's Prophet (:func:`griddesk.forecasting.prophet_model.forecast_day`) on the dataset as of each cut-off.

    The history is cut at publication times: prices of day d count once ``Market.price_publication_utc(d)`` is
    at or before D's gate closure, exogenous forecasts once ``exogenous_publication_utc(d)`` is. Forecasts are
    cached as CSV per (market, model version) in ``cache_dir`` (reruns cost nothing).
    """
    from griddesk.forecasting.prophet_model import PriceForecaster, PriceForecasterConfig, forecast_day

    market = get_market(market_code)
    config = PriceForecasterConfig()
    version = PriceForecaster(config).model_version
    frame = dataset.sort_values("delivery_start_utc").reset_index(drop=True)
    days = frame["delivery_date_local"].to_numpy()
    price_pub = {d: pd.Timestamp(market.price_publication_utc(d)) for d in pd.unique(days)}
    exog_pub = {d: pd.Timestamp(market.exogenous_publication_utc(d)) for d in pd.unique(days)}
    prices = pd.DataFrame(
        {
            "delivery_start_utc": pd.to_datetime(frame["delivery_start_utc"], utc=True),
            "price_per_mwh": frame["price_per_mwh"].to_numpy(dtype=float),
            "resolution_minutes": 60,
            "published_at_utc": [price_pub[d] for d in days],
        }
    )
    exogenous = pd.concat(
        [
            pd.DataFrame(
                {
                    "series_code": s.series_code,
                    "delivery_start_utc": prices["delivery_start_utc"],
                    "quantity_mw": frame[f"exog_{s.dataset_column}"].to_numpy(dtype=float),
                    "resolution_minutes": 60,
                    "published_at_utc": [exog_pub[d] for d in days],
                }
            )
            for s in market.exogenous
        ],
        ignore_index=True,
    )
    cache = _ForecastCache(cache_dir, market.code, version)

    def fn(day: date) -> pd.DataFrame:
        cached = cache.get(day)
        if cached is not None:
            return cached
        cutoff = pd.Timestamp(market.gate_closure_utc(day))
        day_start, day_end = (pd.Timestamp(t) for t in market.delivery_day_bounds_utc(day))
        oldest = day_start - pd.Timedelta(days=history_days + 9)
        p = prices[
            (prices["published_at_utc"] <= cutoff)
            & (prices["delivery_start_utc"] < day_start)
            & (prices["delivery_start_utc"] >= oldest)
        ]
        e = exogenous[
            (exogenous["published_at_utc"] <= cutoff)
            & (exogenous["delivery_start_utc"] < day_end)
            & (exogenous["delivery_start_utc"] >= oldest)
        ]
        forecast, _info = forecast_day(p, e, market, day, history_days, config)
        out = forecast[["delivery_start_utc", "forecast_price_per_mwh"]].reset_index(drop=True)
        cache.put(day, out)
        return out

    return ForecastSource("prophet", fn, model=version)


class _ForecastCache:
    """CSV cache of one model's daily forecasts: ``<dir>/<market>__<version with / as _>.csv``."""

    def __init__(self, directory: Path | None, market_code: str, version: str) -> None:
        self.path = None if directory is None else directory / f"{market_code}__{version.replace('/', '_')}.csv"
        self.frames: dict[date, pd.DataFrame] = {}
        if self.path is not None and self.path.exists():
            df = pd.read_csv(self.path)
            df["delivery_start_utc"] = pd.to_datetime(df["delivery_start_utc"], utc=True)
            for day, group in df.groupby("delivery_date_local"):
                self.frames[date.fromisoformat(day)] = group[
                    ["delivery_start_utc", "forecast_price_per_mwh"]
                ].reset_index(drop=True)

    def get(self, day: date) -> pd.DataFrame | None:
        return self.frames.get(day)

    def put(self, day: date, frame: pd.DataFrame) -> None:
        self.frames[day] = frame
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = frame.assign(delivery_date_local=day.isoformat())
        out.to_csv(self.path, mode="a", header=not self.path.exists(), index=False)


def stored_source(warehouse_url: str, market_code: str, model: str = "champion") -> ForecastSource:
    """Forecasts the forecasting backtest stored in ``raw.forecast_backtest_forecasts``.

    ``model="champion"`` takes, for each day, the model that ``raw.forecast_champion_decisions`` names for it
    (the champion as decided at that day's cut-off; before the first decision, the model it took over from, see
    :data:`griddesk.forecasting.store.CHAMPION_FORECASTS_SQL`); any other value is a registry model name (e.g.
    ``prophet``, ``ensemble``). Days without a stored forecast raise ``LookupError``.
    """
    from griddesk.warehouse import db

    market = get_market(market_code)
    with db.connect(warehouse_url) as conn:
        rows = stored_backtest_forecasts(conn, market.code, model)
    frame = pd.DataFrame(
        rows, columns=["delivery_date_local", "delivery_start_utc", "forecast_price_per_mwh", "model_id"]
    )
    frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
    by_day = {d: g.reset_index(drop=True) for d, g in frame.groupby("delivery_date_local")}
    models = sorted(frame["model_id"].unique()) if len(frame) else []

    def fn(day: date) -> pd.DataFrame:
        if day not in by_day:
            raise LookupError(f"{market.code}: no stored {model} forecast for {day}")
        return by_day[day][["delivery_start_utc", "forecast_price_per_mwh"]]

    return ForecastSource(model, fn, model=", ".join(models) or model, available_days=set(by_day))


# --------------------------------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------------------------------


class BacktestConfig(BaseModel):
    """How the backtest bids. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    battery: BatteryConfig = Field(default_factory=BatteryConfig, description="The battery (start SoC: day one).")
    volume_tick_mw: float = Field(DEFAULT_VOLUME_TICK_MW, gt=0, description="Volume tick, MW.")
    end_soc_value_percentile: float = Field(
        50.0, ge=0, le=100, description="Valued end SoC: this percentile of the last days' realised prices ..."
    )
    end_soc_value_window_days: int = Field(7, ge=1, description="... over this many days before D ...")
    end_soc_value_factor: float | None = Field(
        0.8,
        ge=0,
        description="... times this factor (None: the discharge efficiency, what a stored MWh sells for). 0.8 values "
        "stored energy below its resale value, so a forecast error does not make the battery hoard.",
    )
    error_window_days: int = Field(56, ge=1, description="Curves: days of past forecast errors behind the scenarios.")
    error_neighbour_hours: int = Field(1, ge=0, description="Curves: errors of local hours h-k..h+k feed hour h.")
    min_error_days: int = Field(7, ge=1, description="Curves: fewer past days than this: fall back to a schedule.")
    step_quantiles: tuple[float, ...] = Field(DEFAULT_STEP_QUANTILES, description="Curves: quantile limit prices.")
    min_steps_per_mtu: int = Field(MIN_STEPS_PER_MTU, ge=1, description="Curves: steps per trading MTU.")
    centre_errors: bool = Field(False, description="Curves: remove each MTU's mean past error (trust the point).")
    error_scale: float = Field(1.0, gt=0, description="Curves: scale of the past errors around the point forecast.")
    max_blocks: int = Field(24, ge=1, description="Blocks: at most this many per group (and the market's limit).")


@dataclass
class StrategyRun:
    """One (source, strategy) over the backtest days.

    Attributes:
        daily: ``DAILY_COLUMNS``: cash ``revenue`` (realised, market currency), ``degradation_cost``, SoC at start
            and end (% of energy), the day's end-SoC value (per MWh stored; 0 for ``fixed``), ``pnl`` (revenue -
            wear + value x SoC change), energy charged/discharged at the grid and drawn from storage (MWh),
            ``trades`` (MTUs with an accepted position), ``steps`` (order steps sent), solve time and whether
            the day fell back to idle.
        mtus: Per-MTU realised schedule (optional, for plots): ``delivery_start_utc``, ``price_per_mwh``,
            ``forecast_price_per_mwh``, ``net_position_mw``, ``soc_pct``.
        final_inventory_value: Final SoC change over the period x the last day's value.
    """

    source: str
    strategy: str
    daily: pd.DataFrame
    mtus: pd.DataFrame | None
    optimiser_seconds: float
    final_inventory_value: float

    @property
    def revenue(self) -> float:
        """Cash revenue - wear + final inventory value, market currency."""
        d = self.daily
        return float(d["revenue"].sum() - d["degradation_cost"].sum() + self.final_inventory_value)


def end_soc_value(realised: RealisedPrices, day: date, config: BacktestConfig) -> float:
    """Value of one MWh stored at the end of ``day``: a percentile of recent realised prices x a factor."""
    recent = realised.recent_prices(day, config.end_soc_value_window_days)
    if recent.size == 0:
        recent = realised.day(day)[1] * 0.0  # no history: stored energy worth nothing (conservative)
    factor = config.battery.discharge_efficiency if config.end_soc_value_factor is None else config.end_soc_value_factor
    return max(0.0, float(np.percentile(recent, config.end_soc_value_percentile)) * factor)


def _local_hours(starts: pd.DatetimeIndex, market_code: str) -> np.ndarray:
    return starts.tz_convert(get_market(market_code).tz).hour.to_numpy()


def error_matrix(
    source: ForecastSource, realised: RealisedPrices, day: date, config: BacktestConfig
) -> np.ndarray | None:
    """Past errors (realised - forecast) for every MTU of ``day``, ``n_mtus x n_errors``, or None if too few.

    Uses the ``error_window_days`` days before D (their prices are published before D's cut-off) and, for an MTU
    at local hour h, the errors at local hours h-k..h+k (k = ``error_neighbour_hours``), padded with NaN.
    """
    starts, _ = realised.day(day)
    hours = _local_hours(starts, realised.market_code)
    by_hour: dict[int, list[float]] = {h: [] for h in range(24)}
    n_days = 0
    for k in range(config.error_window_days, 0, -1):
        past = day - timedelta(days=k)
        known = _past_errors(source, realised, past)
        if known is None:
            continue
        for h, err in zip(*known, strict=True):
            by_hour[int(h)].append(float(err))
        n_days += 1
    if n_days < config.min_error_days:
        return None
    k = config.error_neighbour_hours
    rows = [[e for hh in range(max(0, int(h) - k), min(23, int(h) + k) + 1) for e in by_hour[hh]] for h in hours]
    width = max(len(r) for r in rows)
    return np.array([r + [np.nan] * (width - len(r)) for r in rows], dtype=float)


def _past_errors(source: ForecastSource, realised: RealisedPrices, past: date) -> tuple[np.ndarray, np.ndarray] | None:
    """Local hours and errors (realised - forecast) of a past day, memoised on the source; None without both."""
    if past not in realised.prices or (source.available_days is not None and past not in source.available_days):
        return None
    if past not in source._errors:
        try:
            fc = _aligned_forecast(source, past, realised)
        except (LookupError, ValueError):
            source._errors[past] = None
        else:
            past_starts, past_prices = realised.day(past)
            source._errors[past] = (_local_hours(past_starts, realised.market_code), past_prices - fc)
    return source._errors[past]


def daily_error_paths(
    source: ForecastSource, realised: RealisedPrices, day: date, config: BacktestConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each past day's whole error path (local hours, realised - forecast) of the ``error_window_days`` before D,
    oldest first; all their prices were published before D's cut-off. Days without both are skipped."""
    paths = []
    for k in range(config.error_window_days, 0, -1):
        known = _past_errors(source, realised, day - timedelta(days=k))
        if known is not None:
            paths.append(known)
    return paths


def _aligned_forecast(source: ForecastSource, day: date, realised: RealisedPrices) -> np.ndarray:
    """The source's forecast of ``day`` on the realised MTUs; ``ValueError`` naming the day if they differ."""
    starts, _ = realised.day(day)
    fc = source.forecast(day)
    fc_starts = pd.DatetimeIndex(pd.to_datetime(fc["delivery_start_utc"], utc=True))
    if len(fc_starts) != len(starts) or not (fc_starts.as_unit("ns") == starts.as_unit("ns")).all():
        raise ValueError(
            f"{source.name} forecast of {day} has {len(fc_starts)} MTUs that do not match the {len(starts)} "
            "realised MTUs"
        )
    return fc["forecast_price_per_mwh"].to_numpy(dtype=float)


def run_strategy(
    source: ForecastSource,
    strategy: str,
    days: Sequence[date],
    realised: RealisedPrices,
    config: BacktestConfig | None = None,
    keep_mtus: bool = False,
) -> StrategyRun:
    """Bid every day of ``days`` (consecutive, ascending) with ``strategy`` on ``source``'s forecasts.

    An infeasible day (see ``InfeasibleScheduleError``) idles, is flagged ``is_fallback`` and logged.

    Raises:
        ValueError: unknown strategy, or a forecast whose MTUs differ from the realised ones.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    config = config or BacktestConfig()
    battery = config.battery
    mtu = realised.mtu_minutes
    soc_pct = battery.initial_soc_pct
    rows, mtu_frames = [], []
    optimiser_seconds = 0.0
    value = 0.0
    for day in days:
        starts, prices = realised.day(day)
        forecast = _aligned_forecast(source, day, realised)
        rules = market_rules(realised.market_code, day, mtu, volume_tick_mw=config.volume_tick_mw)
        if strategy in DAILY_RESET_STRATEGIES:
            day_battery = battery  # end = start, every day starts where the reference starts
            value = 0.0
        else:
            day_battery = battery.model_copy(update={"initial_soc_pct": soc_pct})
            value = end_soc_value(realised, day, config)
        is_curves = strategy in (CURVES, CURVES_FREE)
        errors = error_matrix(source, realised, day, config) if is_curves else None
        t0 = time.perf_counter()
        fallback = False
        try:
            if strategy == EXCLUSIVE_BLOCKS:
                steps = _exclusive_blocks_day(source, realised, day, prices, day_battery, rules, config)
            elif is_curves and errors is not None:
                if config.centre_errors:
                    errors = errors - np.nanmean(errors, axis=1, keepdims=True)
                curves = build_bid_curves(
                    scenarios_from_errors(forecast, errors * config.error_scale),
                    day_battery,
                    rules,
                    step_quantiles=config.step_quantiles,
                    min_steps_per_mtu=1 if strategy == CURVES_FREE else config.min_steps_per_mtu,
                    end_soc_value_per_mwh=value,
                )
                steps = curves.steps
            else:
                result = optimise_schedule(
                    forecast,
                    mtu,
                    day_battery,
                    ScheduleMarket(rules.price_bounds, config.volume_tick_mw),
                    end_soc_value_per_mwh=None if strategy == FIXED else value,
                    confirm_with_cbc=False,
                )
                steps = schedule_as_curves(result.schedule, rules)
        except InfeasibleScheduleError as exc:
            log.warning("%s %s %s: idle fallback: %s", source.name, strategy, day, exc)
            steps = curve_frame([], rules)  # no orders: the battery idles
            fallback = True
        solve_ms = (time.perf_counter() - t0) * 1e3
        optimiser_seconds += solve_ms / 1e3
        cleared = clear_curves(steps, prices, day_battery, mtu)
        dt_h = mtu / 60.0
        soc_start_mwh = day_battery.initial_soc_mwh
        soc_end_mwh = float(cleared["soc_mwh"].iloc[-1])
        revenue = float(cleared["expected_revenue"].sum())
        wear = float(cleared["degradation_cost"].sum())
        rows.append(
            (
                day,
                revenue,
                wear,
                day_battery.initial_soc_pct,
                float(cleared["soc_pct"].iloc[-1]),
                value,
                revenue - wear + value * (soc_end_mwh - soc_start_mwh),
                float(cleared["charge_mw"].sum() * dt_h),
                float(cleared["discharge_mw"].sum() * dt_h),
                float(cleared["discharge_mw"].sum() * dt_h / day_battery.discharge_efficiency),
                int((cleared["net_position_mw"] != 0).sum()),
                steps.attrs.get("steps_sent", len(steps)),
                solve_ms,
                fallback,
            )
        )
        soc_pct = float(cleared["soc_pct"].iloc[-1])
        if keep_mtus:
            mtu_frames.append(
                pd.DataFrame(
                    {
                        "delivery_date_local": day,
                        "delivery_start_utc": starts,
                        "price_per_mwh": prices,
                        "forecast_price_per_mwh": forecast,
                        "net_position_mw": cleared["net_position_mw"].to_numpy(),
                        "soc_pct": cleared["soc_pct"].to_numpy(),
                    }
                )
            )
    daily = pd.DataFrame(rows, columns=DAILY_COLUMNS)
    final_value = 0.0
    if strategy not in DAILY_RESET_STRATEGIES and len(daily):
        final_value = value * (soc_pct - battery.initial_soc_pct) / 100.0 * battery.energy_mwh
    return StrategyRun(
        source=source.name,
        strategy=strategy,
        daily=daily,
        mtus=pd.concat(mtu_frames, ignore_index=True) if mtu_frames else None,
        optimiser_seconds=optimiser_seconds,
        final_inventory_value=final_value,
    )


def exclusive_group_for_day(
    source: ForecastSource,
    realised: RealisedPrices,
    day: date,
    battery: BatteryConfig,
    rules,
    config: BacktestConfig,
):
    """D's exclusive group (:class:`griddesk.bidding.blocks.ExclusiveGroup`) from what was known at D's cut-off:
    the source's forecast of D and the error paths of the days before D (prices published by the cut-off).
    Fewer than ``min_error_days`` past error paths: the group is the point forecast's schedule alone."""
    from griddesk.bidding.blocks import build_exclusive_group
    from griddesk.bidding.rules import block_order_rules

    forecast = _aligned_forecast(source, day, realised)
    paths = daily_error_paths(source, realised, day, config)
    starts = realised.starts[day]
    keys = _local_hours(starts, realised.market_code) * 60
    if len(paths) >= config.min_error_days:
        scenarios = joint_error_scenarios(forecast, keys, [(h * 60, e) for h, e in paths])
    else:
        scenarios = np.zeros((len(forecast), 0))
    return build_exclusive_group(
        forecast, scenarios, battery, rules, block_order_rules(realised.market_code), max_blocks=config.max_blocks
    )


def _exclusive_blocks_day(
    source: ForecastSource,
    realised: RealisedPrices,
    day: date,
    prices: np.ndarray,
    battery: BatteryConfig,
    rules,
    config: BacktestConfig,
) -> pd.DataFrame:
    """Build D's exclusive group, clear it at D's prices, and return the accepted block as price-taker steps (it
    delivers whatever the MTU prices: a block is accepted whole), or no steps when the group is rejected."""
    from griddesk.bidding.blocks import clear_group

    group = exclusive_group_for_day(source, realised, day, battery, rules, config)
    _accepted, net = clear_group(group, prices, rules)
    tick = rules.volume_tick_mw
    delivered = schedule_as_curves(
        pd.DataFrame(
            {
                "mtu_index": np.arange(len(net)),
                "charge_mw": np.maximum(-net, 0) * tick,
                "discharge_mw": np.maximum(net, 0) * tick,
            }
        ),
        rules,
    )
    delivered.attrs["steps_sent"] = int(np.count_nonzero(group.net_ticks))  # one step per block and traded MTU
    return delivered


# --------------------------------------------------------------------------------------------------------------------
# perfect foresight over the whole period, and metrics
# --------------------------------------------------------------------------------------------------------------------


def multiday_perfect_foresight(
    realised: RealisedPrices,
    days: Sequence[date],
    battery: BatteryConfig,
    volume_tick_mw: float = DEFAULT_VOLUME_TICK_MW,
) -> tuple[float, pd.DataFrame]:
    """The hindsight optimum over all ``days`` at once: the SoC may carry between days; start and final SoC at
    ``battery.initial_soc_pct`` / end target. Whole ticks, exact (the SoC-grid DP over the whole period).

    Returns:
        ``(revenue, daily)``: revenue (cash - wear) and per-day cash revenue (``delivery_date_local``,
        ``revenue``) for plots.

    Raises:
        ValueError: the battery has no SoC grid (round trip not a small fraction) or the table is too large.
    """
    prices = np.concatenate([realised.day(d)[1] for d in days])
    plan = plan_on_soc_grid(prices, realised.mtu_minutes, battery, volume_tick_mw)
    if plan is None:
        raise ValueError("multi-day perfect foresight needs an SoC grid (round trip p/q) and a feasible end SoC")
    dt_h = realised.mtu_minutes / 60.0
    net = (plan.ticks_discharge - plan.ticks_charge) * volume_tick_mw
    cash = prices * net * dt_h
    lengths = [len(realised.day(d)[1]) for d in days]
    per_day = np.add.reduceat(cash, np.concatenate([[0], np.cumsum(lengths)[:-1]])) if days else np.zeros(0)
    return plan.objective_value, pd.DataFrame({"delivery_date_local": list(days), "revenue": per_day})


def percentage(numerator: float, denominator: float) -> float:
    """``100 * numerator / denominator``; NaN when the denominator is not positive."""
    return 100.0 * (numerator / denominator) if denominator > 0 else math.nan


def summarise(run: StrategyRun, perfect_revenue: float, battery: BatteryConfig, mtu_minutes: int = 60) -> dict:
    """The metrics of one run (market currency, percentages 0-100).

    - ``revenue``: cash - wear + final inventory value; ``percentage_of_perfect`` against ``perfect_revenue``;
    - ``cycles``: energy drawn from storage / usable energy (full equivalent cycles over the period) and per day;
    - ``utilisation_pct``: energy traded (charged + discharged) / (2 x power x hours);
    - ``win_rate_pct``: days with a positive marked-to-market P&L; ``daily_sharpe`` mean / std of the daily
      P&L (``annualised_sharpe`` x sqrt(365)); ``max_drawdown``: largest fall of cumulative P&L from a peak;
    - ``trades``: MTUs with an accepted position; ``steps``: order steps sent; ``fallback_days``.
    """
    d = run.daily
    pnl = d["pnl"].to_numpy(dtype=float)
    cumulative = np.cumsum(pnl)
    drawdown = (
        float(np.max(np.maximum.accumulate(np.concatenate([[0.0], cumulative]))[1:] - cumulative)) if len(pnl) else 0.0
    )
    std = float(np.std(pnl, ddof=1)) if len(pnl) > 1 else math.nan
    sharpe = float(np.mean(pnl) / std) if std and std > 0 else math.nan
    hours = len(d) * 24.0
    return {
        "source": run.source,
        "strategy": run.strategy,
        "days": len(d),
        "revenue": run.revenue,
        "cash_revenue": float(d["revenue"].sum()),
        "degradation_cost": float(d["degradation_cost"].sum()),
        "final_inventory_value": run.final_inventory_value,
        "perfect_foresight_revenue": perfect_revenue,
        "percentage_of_perfect": percentage(run.revenue, perfect_revenue),
        "cycles": float(d["drawn_mwh"].sum() / battery.usable_energy_mwh),
        "cycles_per_day": float(d["drawn_mwh"].sum() / battery.usable_energy_mwh / max(len(d), 1)),
        "utilisation_pct": 100.0
        * float((d["charged_mwh"] + d["discharged_mwh"]).sum())
        / (2 * battery.power_mw * hours)
        if hours
        else math.nan,
        "win_rate_pct": 100.0 * float((pnl > 0).mean()) if len(pnl) else math.nan,
        "daily_sharpe": sharpe,
        "annualised_sharpe": sharpe * math.sqrt(365) if not math.isnan(sharpe) else math.nan,
        "max_drawdown": drawdown,
        "trades": int(d["trades"].sum()),
        "steps": int(d["steps"].sum()),
        "fallback_days": int(d["is_fallback"].sum()),
        "solve_ms_median": float(np.median(d["solve_ms"])) if len(d) else math.nan,
        "optimiser_seconds": run.optimiser_seconds,
    }


def test_period(realised: RealisedPrices, days: int | None = None) -> list[date]:
    """The last ``days`` (default: the epftoolbox test period, 728) days with realised prices."""
    all_days = realised.days()
    n = FULL_TEST_DAYS if days is None else days
    if n < 1 or n > len(all_days):
        raise ValueError(f"{realised.market_code}: cannot take {n} test days from {len(all_days)} days of data")
    return all_days[-n:]


test_period.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite the name
