"""One market of the bidding benchmark: GridDesk's forecast, the published reference and perfect foresight driving
the battery strategies over the test period, the 96-MTU solve times and the reference protocol. The command line
is :mod:`griddesk.reporting.bidding_benchmark`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from griddesk import datasets
from griddesk.bidding.backtest import (
    CURVES,
    CURVES_FREE,
    DAILY_RESET_STRATEGIES,
    EXCLUSIVE_BLOCKS,
    FIXED,
    FIXED_VALUED,
    BacktestConfig,
    RealisedPrices,
    StrategyRun,
    multiday_perfect_foresight,
    percentage,
    perfect_foresight_source,
    run_strategy,
    summarise,
    test_period,
)
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.blocks import build_exclusive_group
from griddesk.bidding.optimiser import optimise_schedule
from griddesk.bidding.reference import continuous_schedule
from griddesk.bidding.rules import block_order_rules, market_rules
from griddesk.markets import get_market
from griddesk.reporting.bidding_data import LEAR_SOURCE, griddesk_source, load_published, published_source
from griddesk.settings import Settings, get_settings

GRIDDESK_STRATEGIES = (FIXED, FIXED_VALUED, CURVES, CURVES_FREE, EXCLUSIVE_BLOCKS)
# --------------------------------------------------------------------------------------------------------------------
# one market
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class MarketBacktest:
    """Everything the report says about one market."""

    market_code: str
    currency: str
    days: list[date]
    battery: BatteryConfig
    production: str
    griddesk_source: str
    forecast_model: str
    runs: dict[tuple[str, str], StrategyRun]
    summaries: dict[tuple[str, str], dict]
    perfect_daily: float
    perfect_multiday: float
    perfect_multiday_daily: pd.DataFrame
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    forecast_seconds: float = 0.0
    #: Median ms of one 96-MTU solve: ``{"dp": ..., "cbc_confirmed": ..., "n": days}`` (see :func:`solve_times_96`).
    solve_96: dict[str, float] = field(default_factory=dict)
    #: Optimiser seconds of the ``fixed`` strategy over the whole period on one forecast source (the 2-year target).
    fixed_optimiser_seconds: float = 0.0
    run_id: str = ""
    started_at_utc: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def optimiser_seconds(self) -> float:
        return sum(r.optimiser_seconds for r in self.runs.values())

    def summary(self, source: str, strategy: str) -> dict | None:
        return self.summaries.get((source, strategy))


#: Strategies run on the published LEAR-Ens by default.
LEAR_STRATEGIES = (FIXED, FIXED_VALUED, CURVES, EXCLUSIVE_BLOCKS)


@dataclass(frozen=True)
class MarketRunOptions:
    """What one market's backtest runs besides perfect foresight.

    ``forecast``: GridDesk's forecast (``auto``, ``champion``, ``prophet`` or ``none``); ``with_reference``: the
    continuous-MILP reference reproduction; ``lear_strategies``: the strategies run on the published LEAR-Ens;
    ``production``: the production strategy (its MTUs are kept for the plots).
    """

    forecast: str = "auto"
    with_reference: bool = True
    lear_strategies: Sequence[str] = LEAR_STRATEGIES
    production: str = FIXED


def run_market(
    market_code: str,
    days: int | None,
    battery: BatteryConfig,
    options: MarketRunOptions | None = None,
    settings: Settings | None = None,
    url: str | None = None,
    config: BacktestConfig | None = None,
    progress: Callable[[str], None] = print,
) -> MarketBacktest:
    """Backtest one market (see module docstring)."""
    t0 = time.perf_counter()
    options = options or MarketRunOptions()
    forecast, with_reference, production = options.forecast, options.with_reference, options.production
    lear_strategies = options.lear_strategies
    settings = settings or get_settings()
    market = get_market(market_code)
    config = (config or BacktestConfig()).model_copy(update={"battery": battery})
    dataset = datasets.load_market_data(market.code, settings)
    realised = RealisedPrices.from_frame(dataset, market.code)
    test_days = test_period(realised, days)
    warmup = [test_days[0] - timedelta(days=k) for k in range(min(config.error_window_days, len(test_days)), 0, -1)]
    # "none": only perfect foresight and the published reference (e.g. the optimiser's time over a full period).
    gd = (
        None
        if forecast == "none"
        else griddesk_source(market.code, dataset, [*warmup, *test_days], forecast, settings, url)
    )
    runs: dict[tuple[str, str], StrategyRun] = {}

    perfect = perfect_foresight_source(realised)
    runs[(perfect.name, FIXED)] = run_strategy(perfect, FIXED, test_days, realised, config, keep_mtus=True)
    t_md = time.perf_counter()
    pf_multiday, pf_multiday_daily = multiday_perfect_foresight(realised, test_days, battery, config.volume_tick_mw)
    multiday_seconds = time.perf_counter() - t_md
    progress(
        f"{market.code}: perfect foresight {runs[(perfect.name, FIXED)].revenue:.0f} daily, {pf_multiday:.0f} "
        f"over the period"
    )

    # Forecasts first (timed apart from the optimiser), then the strategies.
    t_fc = time.perf_counter()
    for i, day in enumerate([*warmup, *test_days] if gd else []):
        gd.forecast(day)
        if (i + 1) % 50 == 0:
            progress(f"{market.code}: {gd.name} forecasts {i + 1}/{len(warmup) + len(test_days)}")
    forecast_seconds = time.perf_counter() - t_fc
    for strategy in GRIDDESK_STRATEGIES if gd else ():
        runs[(gd.name, strategy)] = run_strategy(
            gd, strategy, test_days, realised, config, keep_mtus=strategy == production
        )
        progress(f"{market.code}: {gd.name} {strategy} {runs[(gd.name, strategy)].revenue:.0f}")
    published = load_published(market.code)
    if published is not None:
        lear = published_source(market.code, published)
        if set(test_days) <= lear.available_days:
            for strategy in lear_strategies:
                runs[(lear.name, strategy)] = run_strategy(lear, strategy, test_days, realised, config)
                progress(f"{market.code}: {lear.name} {strategy} {runs[(lear.name, strategy)].revenue:.0f}")
    pf_daily = runs[(perfect.name, FIXED)].revenue
    summaries = {
        key: summarise(run, pf_daily if key[1] in DAILY_RESET_STRATEGIES else pf_multiday, battery)
        for key, run in runs.items()
    }
    result = MarketBacktest(
        market_code=market.code,
        currency=market.currency,
        days=test_days,
        battery=battery,
        production=production,
        griddesk_source=gd.name if gd else "none",
        forecast_model=gd.model if gd else "not run (--forecast none)",
        runs=runs,
        summaries=summaries,
        perfect_daily=pf_daily,
        perfect_multiday=pf_multiday,
        perfect_multiday_daily=pf_multiday_daily,
        forecast_seconds=forecast_seconds,
    )
    result.runs[(perfect.name, FIXED)].optimiser_seconds += multiday_seconds
    if with_reference and published is not None:
        result.reference = reproduce_reference(market.code, published, test_days, battery)
    fixed_source = gd.name if gd else (LEAR_SOURCE if (LEAR_SOURCE, FIXED) in runs else None)
    if fixed_source:
        result.fixed_optimiser_seconds = runs[(fixed_source, FIXED)].optimiser_seconds
    result.solve_96 = solve_times_96(realised, test_days, battery)
    result.wall_seconds = time.perf_counter() - t0
    return result


def solve_times_96(realised: RealisedPrices, days: Sequence[date], battery: BatteryConfig, n: int = 20) -> dict:
    """Median wall time of one 96-MTU solve, ms, over ``n`` days spread across ``days``: each day's realised hourly
    prices on 15-minute MTUs with a sinusoidal intra-hour shape (so the quarter-hours differ), solved by the
    production and backtest path (the exact SoC-grid DP alone) and with CBC confirming the plan
    (GRIDDESK_BIDDING_CONFIRM_WITH_CBC=true).

    ``blocks_k24``: building an exclusive group of up to 24 blocks on the same 96 MTUs from 56 scenarios (the
    quarter-hour paths of the 56 days before, shifted to the day's mean: real joint shapes), the part of the
    ``exclusive_blocks`` strategy that grows with the MTUs."""

    def quarters(day: date) -> np.ndarray:
        hourly = realised.day(day)[1]
        quarter = np.repeat(hourly, 4) + np.tile([-1.5, -0.5, 0.5, 1.5], len(hourly))
        return quarter[:96] if len(quarter) >= 96 else np.resize(quarter, 96)

    picks = [days[i] for i in np.linspace(0, len(days) - 1, min(n, len(days))).astype(int)]
    dp, cbc, blocks = [], [], []
    block_rules = block_order_rules(realised.market_code)
    block_rules = block_rules if block_rules.usable else None  # PJM takes no exclusive groups
    for day in picks:
        prices = quarters(day)
        dp.append(optimise_schedule(prices, 15, battery, confirm_with_cbc=False).solve_ms)
        cbc.append(optimise_schedule(prices, 15, battery).solve_ms)
        past = [d for k in range(56, 0, -1) if (d := day - timedelta(days=k)) in realised.prices]
        if block_rules is not None and past:
            scenarios = np.column_stack([quarters(d) - quarters(d).mean() + prices.mean() for d in past])
            rules = market_rules(realised.market_code, day, mtu_minutes=15)
            t0 = time.perf_counter()
            build_exclusive_group(prices, scenarios, battery, rules, block_rules, max_blocks=24)
            blocks.append((time.perf_counter() - t0) * 1e3)
    return {
        "dp": float(np.median(dp)),
        "cbc_confirmed": float(np.median(cbc)),
        "n": len(picks),
        "blocks_k24": float(np.median(blocks)) if blocks else math.nan,
    }


def reproduce_reference(
    market_code: str, published: pd.DataFrame, days: Sequence[date], battery: BatteryConfig
) -> dict[str, dict[str, float]]:
    """The reference protocol on the published 24-hour grid: continuous daily MILP, LEAR-Ens and DNN-Ens.

    Only the reference battery (1 MW / 2 MWh) has published figures; other batteries are computed all the same.
    """
    wanted = {pd.Timestamp(d) for d in days}
    sub = published[published.index.normalize().isin(wanted)].sort_index()
    if len(sub) != 24 * len(days):
        return {}
    realised = sub["Real price"].to_numpy(dtype=float).reshape(-1, 24)
    perfect = sum(float(r @ continuous_schedule(r, 60, battery)) for r in realised)
    out = {}
    for key, column in (("lear_ens", "LEAR Ensemble"), ("dnn_ens", "DNN Ensemble")):
        forecast = sub[column].to_numpy(dtype=float).reshape(-1, 24)
        revenue = sum(float(r @ continuous_schedule(f, 60, battery)) for r, f in zip(realised, forecast, strict=True))
        out[key] = {"percentage_of_perfect": percentage(revenue, perfect), "revenue": revenue, "perfect": perfect}
    return out
