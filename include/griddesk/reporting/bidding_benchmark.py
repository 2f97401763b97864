"""The bidding benchmark: ``python -m griddesk.reporting.bidding_benchmark --markets NP --days 28 --battery 2h``.

For each market, over the epftoolbox test period (the last 728 days, or the last N in quick mode), with a 1 MW
battery of 1, 2 or 4 hours (SoC 10-90 %, 90 % round trip, start at 50 %):

- GridDesk's forecast (the forecasting champion's stored backtest when the warehouse holds it for every day, else
  GridDesk's Prophet recomputed day by day as of each cut-off and cached) drives three strategies: ``fixed``
  (the price-taker schedule, end SoC back at the start daily), ``fixed_valued`` (end SoC valued and carried) and
  ``curves`` (price-dependent bid curves, end SoC valued and carried);
- the published LEAR-Ens forecasts drive the same optimiser side by side (reference only: this module is the
  only code that reads ``../shared/data/epftoolbox_forecasts``);
- perfect foresight: the daily optimiser on the realised prices (end = start) and the hindsight optimum over the
  whole period (SoC carried);
- the reference figures (NP 80.6 %, DE 86.7 %) are reproduced with the reference's own setting, a plain daily
  MILP with continuous volumes on the 24-hour grid (:mod:`griddesk.bidding.reference`).

Writes ``reports/bidding_benchmark.md`` (with PNG plots), ``reports/bidding_benchmark.json`` (shaped as the issue
asks, percentages 0-100) and ``reports/bidding_benchmark_<battery>.json`` (same shape, one per battery), and
stores the run in ``raw.bid_backtest_runs`` / ``raw.bid_backtest_days`` (marts ``fct_backtest_daily_pnl`` and
``fct_backtest_summary`` with ``--marts``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from griddesk.bidding.backtest import (
    CURVES,
    CURVES_FREE,
    DAILY_RESET_STRATEGIES,
    EXCLUSIVE_BLOCKS,
    FIXED,
    FIXED_VALUED,
    BacktestConfig,
    ForecastSource,
    RealisedPrices,
    StrategyRun,
    multiday_perfect_foresight,
    percentage,
    perfect_foresight_source,
    prophet_source,
    run_strategy,
    stored_source,
    summarise,
    test_period,
)
from griddesk.bidding.battery import BatteryConfig
from griddesk.markets import get_market
from griddesk.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

REPORT_DIR = PROJECT_ROOT / "reports"
#: Battery energies at 1 MW for ``--battery``.
BATTERIES = {"1h": 1.0, "2h": 2.0, "4h": 4.0}
#: Published forecast files per market: the paper's for NP, PJM, BE, FR; the 2021 files for DE (PROVENANCE.md).
PUBLISHED_VERSION = {"NP": "paper_2020-06", "PJM": "paper_2020-06", "BE": "paper_2020-06", "FR": "paper_2020-06",
                     "DE": "current_2021-07"}  # fmt: skip
#: The reference figures of the issue (plain daily MILP, published forecasts, full test periods).
REFERENCE_FIGURES = {"NP": {"lear_ens": 80.6, "dnn_ens": 82.3}, "DE": {"lear_ens": 86.7, "dnn_ens": 88.4}}
GRIDDESK_STRATEGIES = (FIXED, FIXED_VALUED, CURVES, CURVES_FREE, EXCLUSIVE_BLOCKS)
LEAR_SOURCE = "lear_ens_published"


def shared_data_dir() -> Path | None:
    """``../shared/data`` when present."""
    path = PROJECT_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def production_strategy(strategy: str = "fixed", end_soc_mode: str = "fixed") -> str:
    """The backtest strategy the production DAG's settings amount to."""
    if strategy == "curves":
        return CURVES
    return FIXED_VALUED if end_soc_mode == "valued" else FIXED


# --------------------------------------------------------------------------------------------------------------------
# forecast sources
# --------------------------------------------------------------------------------------------------------------------


def load_published(market_code: str, data_dir: Path | None = None) -> pd.DataFrame | None:
    """The published forecast file of a market (index: naive local hour), or None when absent."""
    base = data_dir or shared_data_dir()
    if base is None or market_code not in PUBLISHED_VERSION:
        return None
    path = (
        base
        / "epftoolbox_forecasts"
        / PUBLISHED_VERSION[market_code]
        / f"Forecasts_{market_code}_DNN_LEAR_ensembles.csv"
    )
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.to_datetime(frame.index)
    return frame


def grid_day_on_real_mtus(values_24h, market_code: str, day: date) -> pd.DataFrame:
    """A 24-hour grid day (the published files' smoothed-DST grid) on the real hourly MTUs of ``day``: each MTU
    takes its local wall-clock hour's value (spring: 23 rows; autumn: the repeated hour twice, 25 rows)."""
    market = get_market(market_code)
    start, end = market.delivery_day_bounds_utc(day)
    starts = pd.date_range(start, end, freq="60min", inclusive="left").as_unit("ns")
    hours = starts.tz_convert(market.tz).hour.to_numpy()
    return pd.DataFrame({"delivery_start_utc": starts, "forecast_price_per_mwh": np.asarray(values_24h)[hours]})


def published_source(market_code: str, published: pd.DataFrame, column: str = "LEAR Ensemble") -> ForecastSource:
    """A published forecast as a source: each 24-hour grid day spread onto the real MTUs of the day."""
    market = get_market(market_code)
    by_day = {d.date(): g[column].to_numpy(dtype=float) for d, g in published.groupby(published.index.normalize())}

    def fn(day: date) -> pd.DataFrame:
        if day not in by_day:
            raise LookupError(f"{market.code}: no published forecast for {day}")
        return grid_day_on_real_mtus(by_day[day], market.code, day)

    name = LEAR_SOURCE if column == "LEAR Ensemble" else column.lower().replace(" ", "_") + "_published"
    return ForecastSource(name, fn, model=f"published {column} ({PUBLISHED_VERSION[market.code]})",
                          available_days=set(by_day))  # fmt: skip


def stored_coverage(url: str, market_code: str, days: Sequence[date]) -> bool:
    """Whether the warehouse holds a champion decision and forecast for every one of ``days``."""
    from griddesk.forecasting.store import champion_forecast_day_count
    from griddesk.warehouse import db

    with contextlib.suppress(Exception), db.connect(url) as conn:
        return champion_forecast_day_count(conn, market_code, days) == len(days)
    return False


def griddesk_source(
    market_code: str,
    dataset: pd.DataFrame,
    days: Sequence[date],
    choice: str,
    settings: Settings,
    url: str | None,
) -> ForecastSource:
    """GridDesk's forecast: ``champion`` (stored), ``prophet`` (recomputed, cached) or ``auto`` (champion if
    stored for every day, else prophet)."""
    if choice in ("auto", "champion") and url and stored_coverage(url, market_code, days):
        source = stored_source(url, market_code, "champion")
        source.name = "champion"
        return source
    if choice == "champion":
        raise LookupError(f"{market_code}: the warehouse holds no champion forecast for every backtest day")
    cache = settings.state_dir / "cache" / "bidding_forecasts"
    source = prophet_source(dataset, market_code, history_days=settings.forecast_history_days, cache_dir=cache)
    source.available_days = set(days)
    return source


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


def run_market(
    market_code: str,
    days: int | None,
    battery: BatteryConfig,
    forecast: str = "auto",
    settings: Settings | None = None,
    url: str | None = None,
    config: BacktestConfig | None = None,
    with_reference: bool = True,
    lear_strategies: Sequence[str] = (FIXED, FIXED_VALUED, CURVES, EXCLUSIVE_BLOCKS),
    production: str = FIXED,
    progress: Callable[[str], None] = print,
) -> MarketBacktest:
    """Backtest one market (see module docstring)."""
    from griddesk import datasets

    t0 = time.perf_counter()
    settings = settings or get_settings()
    market = get_market(market_code)
    config = (config or BacktestConfig()).model_copy(update={"battery": battery})
    dataset = datasets.load_market_data(market.code, settings)
    realised = RealisedPrices.from_frame(dataset, market.code)
    test_days = test_period(realised, days)
    warmup = [test_days[0] - timedelta(days=k) for k in range(min(config.error_window_days, len(test_days)), 0, -1)]
    # "none": only perfect foresight and the published reference (e.g. the optimiser's time over a full period).
    gd = None if forecast == "none" else griddesk_source(market.code, dataset, [*warmup, *test_days], forecast,
                                                            settings, url)  # fmt: skip
    runs: dict[tuple[str, str], StrategyRun] = {}

    perfect = perfect_foresight_source(realised)
    runs[(perfect.name, FIXED)] = run_strategy(perfect, FIXED, test_days, realised, config, keep_mtus=True)
    t_md = time.perf_counter()
    pf_multiday, pf_multiday_daily = multiday_perfect_foresight(realised, test_days, battery, config.volume_tick_mw)
    multiday_seconds = time.perf_counter() - t_md
    progress(f"{market.code}: perfect foresight {runs[(perfect.name, FIXED)].revenue:.0f} daily, {pf_multiday:.0f} "
             f"over the period")  # fmt: skip

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
        key: summarise(run, pf_daily if key[1] in DAILY_RESET_STRATEGIES else pf_multiday, battery) for key, run in runs.items()
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
    from griddesk.bidding.blocks import build_exclusive_group
    from griddesk.bidding.optimiser import optimise_schedule
    from griddesk.bidding.rules import block_order_rules, market_rules

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
    return {"dp": float(np.median(dp)), "cbc_confirmed": float(np.median(cbc)), "n": len(picks),
            "blocks_k24": float(np.median(blocks)) if blocks else math.nan}  # fmt: skip


def reproduce_reference(
    market_code: str, published: pd.DataFrame, days: Sequence[date], battery: BatteryConfig
) -> dict[str, dict[str, float]]:
    """The reference protocol on the published 24-hour grid: continuous daily MILP, LEAR-Ens and DNN-Ens.

    Only the reference battery (1 MW / 2 MWh) has published figures; other batteries are computed all the same.
    """
    from griddesk.bidding.reference import continuous_schedule

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


# --------------------------------------------------------------------------------------------------------------------
# storage
# --------------------------------------------------------------------------------------------------------------------


def store_backtest(url: str, result: MarketBacktest, config: BacktestConfig | None = None) -> str:
    """Write the run into ``raw.bid_backtest_runs`` and ``raw.bid_backtest_days``; returns the run id."""
    from griddesk.warehouse import db
    from griddesk.warehouse.frames import insert_frame

    battery = result.battery
    run_id = result.run_id or (
        f"{result.market_code}|{battery.energy_mwh / battery.power_mw:g}h|{result.started_at_utc:%Y%m%dT%H%M%S}|"
        f"{uuid.uuid4().hex[:6]}"
    )
    result.run_id = run_id
    pf_by_day = result.runs[("perfect_foresight", FIXED)].daily.set_index("delivery_date_local")["revenue"]
    frames = []
    for (source, strategy), run in result.runs.items():
        frames.append(
            run.daily.assign(
                run_id=run_id,
                market_code=result.market_code,
                source_name=source,
                strategy=strategy,
                currency=result.currency,
                perfect_foresight_revenue=run.daily["delivery_date_local"].map(pf_by_day).to_numpy(),
            )
        )
    days = pd.concat(frames, ignore_index=True)
    cols = [
        "run_id", "market_code", "source_name", "strategy", "delivery_date_local", "currency", "revenue",
        "degradation_cost", "soc_start_pct", "soc_end_pct", "end_soc_value_per_mwh", "pnl", "charged_mwh",
        "discharged_mwh", "drawn_mwh", "trades", "steps", "solve_ms", "is_fallback", "perfect_foresight_revenue",
    ]  # fmt: skip
    cfg = (config or BacktestConfig()).model_dump(mode="json", exclude={"battery"})
    with db.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_backtest_runs
                   (run_id, market_code, test_start, test_end, n_days, is_full_test_period, power_mw, energy_mwh,
                    battery, config, forecast_model, production_strategy, currency, perfect_foresight_daily_revenue,
                    perfect_foresight_multiday_revenue, wall_seconds, optimiser_seconds, started_at_utc)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                run_id, result.market_code, result.days[0], result.days[-1], len(result.days),
                len(result.days) == 728, battery.power_mw, battery.energy_mwh, battery.model_dump_json(),
                json.dumps(cfg), f"{result.griddesk_source}: {result.forecast_model}", result.production,
                result.currency, result.perfect_daily, result.perfect_multiday, result.wall_seconds,
                result.optimiser_seconds, result.started_at_utc,
            ),
        )  # fmt: skip
        insert_frame(cur, "raw.bid_backtest_days", days[cols])
    return run_id


def build_backtest_marts(url: str) -> None:
    """``dbt build`` of the backtest marts and their staging models."""
    from griddesk.transform.dbt import run_dbt

    run_dbt(["build", "--select", "+fct_backtest_summary", "--indirect-selection", "cautious"], url)


# --------------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------------


def _r(value: float | None, digits: int = 2) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), digits)


def benchmark_json(results: Sequence[MarketBacktest]) -> dict[str, Any]:
    """The JSON document, exactly in the issue's shape (percentages 0-100).

    ``percentage_of_perfect`` and ``revenue_eur`` are those of the production strategy on GridDesk's forecast,
    ``perfect_foresight_revenue_eur`` its denominator (the daily perfect foresight for ``fixed``, the hindsight
    optimum for a carrying strategy); the fixed-schedule figures use the daily one, the curves the hindsight one.
    """
    doc: dict[str, Any] = {"markets": {}}
    for r in results:
        prod = r.summary(r.griddesk_source, r.production) or {}
        fixed = r.summary(r.griddesk_source, FIXED) or {}
        curves = r.summary(r.griddesk_source, CURVES) or {}
        lear = r.summary(LEAR_SOURCE, FIXED) or {}
        doc["markets"][r.market_code] = {
            "days": len(r.days),
            "power_mw": float(r.battery.power_mw),
            "energy_mwh": float(r.battery.energy_mwh),
            "forecast_model": f"{r.griddesk_source}: {r.forecast_model}",
            "revenue_eur": _r(prod.get("revenue")),
            "perfect_foresight_revenue_eur": _r(
                prod.get("perfect_foresight_revenue", r.perfect_daily if r.production == FIXED else r.perfect_multiday)
            ),
            "percentage_of_perfect": _r(prod.get("percentage_of_perfect")),
            "fixed_schedule_percentage_of_perfect": _r(fixed.get("percentage_of_perfect")),
            "bid_curves_percentage_of_perfect": _r(curves.get("percentage_of_perfect")),
            "lear_ens_fixed_schedule_percentage_of_perfect": _r(lear.get("percentage_of_perfect")),
            "cycles": _r(prod.get("cycles")),
            "solve_ms_median": _r(prod.get("solve_ms_median"), 3),
            "wall_seconds": _r(r.wall_seconds, 1),
        }
    return doc


#: Per (source, strategy) in :func:`strategies_json`: the summary's keys, rounded.
STRATEGY_FIELDS = ("revenue", "percentage_of_perfect", "perfect_foresight_revenue", "cycles_per_day", "win_rate_pct",
                   "daily_sharpe", "annualised_sharpe", "max_drawdown", "trades", "steps", "fallback_days",
                   "solve_ms_median", "optimiser_seconds")  # fmt: skip


def strategies_json(results: Sequence[MarketBacktest]) -> dict[str, Any]:
    """Every (source, strategy) of every market: profit, PoP (against the daily perfect foresight for strategies
    that end each day at the start SoC, else the period's hindsight optimum), cycles per day, Sharpe, drawdown,
    win rate and solve time per day. ``reports/bidding_benchmark_strategies_<battery>.json``."""
    doc: dict[str, Any] = {"markets": {}}
    for r in results:
        doc["markets"][r.market_code] = {
            "days": len(r.days),
            "first_day": r.days[0].isoformat(),
            "last_day": r.days[-1].isoformat(),
            "energy_mwh": float(r.battery.energy_mwh),
            "power_mw": float(r.battery.power_mw),
            "currency": r.currency,
            "forecast_model": f"{r.griddesk_source}: {r.forecast_model}",
            "strategies": {
                f"{source}/{strategy}": {k: _r(s.get(k), 3) if isinstance(s.get(k), float) else s.get(k)
                                         for k in STRATEGY_FIELDS}  # fmt: skip
                for (source, strategy), s in r.summaries.items()
            },
        }
    return doc


def write_plots(result: MarketBacktest, out_dir: Path, suffix: str) -> dict[str, str]:
    """Cumulative P&L against perfect foresight, and SoC and prices for a sample week (PNG, matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    code = result.market_code
    files = {}
    x = pd.to_datetime(result.days)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    pf = result.runs[("perfect_foresight", FIXED)].daily
    ax.plot(x, pf["pnl"].cumsum(), color="black", lw=1.6, label="perfect foresight, daily (end = start)")
    ax.plot(x, result.perfect_multiday_daily["revenue"].cumsum(), color="grey", lw=1.2, ls="--",
            label="perfect foresight over the period (SoC carried)")  # fmt: skip
    for (source, strategy), run in result.runs.items():
        if source == "perfect_foresight":
            continue
        style = {"ls": ":"} if source == LEAR_SOURCE else {}
        label = f"{source} {strategy}" + (" (production)" if source == result.griddesk_source and strategy ==
                                          result.production else "")  # fmt: skip
        ax.plot(x, run.daily["pnl"].cumsum(), lw=1.1, label=label, **style)
    ax.set_title(f"{code}: cumulative P&L, {result.battery.power_mw:g} MW / {result.battery.energy_mwh:g} MWh")
    ax.set_ylabel(f"{result.currency}")
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    files["cumulative"] = f"bidding_benchmark_{code}_{suffix}_cumulative_pnl.png"
    fig.savefig(out_dir / files["cumulative"], dpi=100)
    plt.close(fig)

    prod_run = result.runs.get((result.griddesk_source, result.production))
    prod = prod_run.mtus if prod_run is not None else None
    perfect = result.runs[("perfect_foresight", FIXED)].mtus
    if prod is not None and perfect is not None:
        week = result.days[-7:]
        p = prod[prod["delivery_date_local"].isin(week)]
        q = perfect[perfect["delivery_date_local"].isin(week)]
        t = pd.to_datetime(p["delivery_start_utc"]).dt.tz_convert(get_market(code).tz).dt.tz_localize(None)
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        ax1.plot(t, p["price_per_mwh"], color="black", lw=1.3, label="realised price")
        ax1.plot(t, p["forecast_price_per_mwh"], lw=1.0, label=f"{result.griddesk_source} forecast")
        ax1.set_ylabel(f"{result.currency}/MWh")
        ax1.legend(fontsize=8, loc="upper left")
        ax2.step(t, p["soc_pct"], where="post", label=f"SoC, {result.production} on the forecast")
        ax2.step(t, q["soc_pct"].to_numpy(), where="post", ls="--", label="SoC, perfect foresight")
        ax2.set_ylabel("SoC (% of energy)")
        ax2.legend(fontsize=8, loc="upper left")
        ax1.set_title(f"{code}: prices and state of charge, {week[0]} .. {week[-1]} (local time)")
        fig.autofmt_xdate()
        fig.tight_layout()
        files["week"] = f"bidding_benchmark_{code}_{suffix}_week.png"
        fig.savefig(out_dir / files["week"], dpi=100)
        plt.close(fig)
    return files


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def benchmark_markdown(results: Sequence[MarketBacktest], plots: dict[str, dict[str, str]], quick: bool) -> str:
    """The Markdown report."""
    lines = ["# Bidding benchmark: day-ahead battery strategies judged in money", ""]
    if quick:
        lines += ["**Quick mode**: the last days of the test period only; figures are indicative.", ""]
    lines += [
        "Percentage of Perfect (PoP) = revenue on forecasts / revenue of the same battery knowing the prices. "
        "`fixed` and `exclusive_blocks` are judged against the daily perfect foresight with the end SoC back at the "
        "start (the published reference's protocol); strategies that carry the SoC between days (`fixed_valued`, `curves`) against the "
        "hindsight optimum over the whole period, which no carrying strategy can beat (both ratios are shown). "
        "Clearing is price-taker at the realised price (docs/bidding.md). Volumes are whole 0.1 MW ticks.",
        "",
    ]
    for r in results:
        b = r.battery
        lines += [
            f"## {r.market_code}: {len(r.days)} days {r.days[0]} .. {r.days[-1]}, {b.power_mw:g} MW / "
            f"{b.energy_mwh:g} MWh",
            "",
            f"GridDesk forecast: `{r.griddesk_source}` ({r.forecast_model}). Production strategy: "
            f"`{r.production}`. Perfect foresight: {_fmt(r.perfect_daily, 0)} {r.currency} daily (end = start), "
            f"{_fmt(r.perfect_multiday, 0)} {r.currency} over the period (SoC carried).",
            "",
            "| source | strategy | revenue | PoP | PoP vs daily PF | PoP vs period PF | cycles/day | utilisation % "
            "| win rate % | daily Sharpe | max drawdown | trades | solve ms (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (source, strategy), s in r.summaries.items():
            mark = " **(production)**" if source == r.griddesk_source and strategy == r.production else ""
            lines.append(
                f"| {source} | {strategy}{mark} | {_fmt(s['revenue'], 0)} | {_fmt(s['percentage_of_perfect'])} "
                f"| {_fmt(percentage(s['revenue'], r.perfect_daily))} "
                f"| {_fmt(percentage(s['revenue'], r.perfect_multiday))} | {_fmt(s['cycles_per_day'], 2)} "
                f"| {_fmt(s['utilisation_pct'])} | {_fmt(s['win_rate_pct'])} | {_fmt(s['daily_sharpe'], 2)} "
                f"| {_fmt(s['max_drawdown'], 0)} | {s['trades']} | {_fmt(s['solve_ms_median'], 1)} |"
            )
        lines.append("")
        if r.reference:
            ref = REFERENCE_FIGURES.get(r.market_code, {})
            lines += [
                "Reference reproduced with the reference's own setting (plain daily MILP, continuous volumes, "
                "24-hour grid of the published files):",
                "",
                "| forecast | PoP here | published reference | gap |",
                "|---|---|---|---|",
            ]
            for key, label in (("lear_ens", "LEAR-Ens"), ("dnn_ens", "DNN-Ens")):
                ours = r.reference[key]["percentage_of_perfect"]
                published = ref.get(key) if len(r.days) == 728 and b.energy_mwh == 2 and b.power_mw == 1 else None
                gap = _fmt(ours - published, 2) if published is not None else "–"
                lines.append(f"| {label} | {_fmt(ours, 2)} | {_fmt(published)} | {gap} |")
            lines.append("")
        lines += [
            f"96-MTU solve (median of {r.solve_96.get('n', 0)} days, realised prices on quarter-hours): "
            f"{_fmt(r.solve_96.get('dp'), 1)} ms with the exact SoC-grid DP (production and backtest path), "
            f"{_fmt(r.solve_96.get('cbc_confirmed'), 1)} ms with CBC confirming it (CONFIRM_WITH_CBC); an exclusive group of "
            f"up to 24 blocks from 56 scenarios: {_fmt(r.solve_96.get('blocks_k24'), 1)} ms. Optimiser time "
            f"of the fixed schedule over the {len(r.days)} days on one forecast: {_fmt(r.fixed_optimiser_seconds, 2)} s.",
            "",
            f"Timings: forecasts {_fmt(r.forecast_seconds)} s; optimiser (all sources and strategies, incl. the "
            f"period-long perfect foresight) {_fmt(r.optimiser_seconds)} s; wall {_fmt(r.wall_seconds)} s.",
            "",
        ]
        for kind, title in (("cumulative", "Cumulative P&L"), ("week", "Prices and SoC, last week")):
            if kind in plots.get(r.market_code, {}):
                lines += [f"![{r.market_code} {title}]({plots[r.market_code][kind]})", ""]
    return "\n".join(lines) + "\n"


def _merge_json(path: Path, document: dict[str, Any]) -> None:
    merged: dict[str, Any] = {"markets": {}}
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            merged["markets"].update(json.loads(path.read_text())["markets"])
    merged["markets"].update(document["markets"])
    path.write_text(json.dumps(merged, indent=2) + "\n")


def write_report(results: Sequence[MarketBacktest], report_dir: Path = REPORT_DIR, quick: bool = False) -> dict:
    """Write the Markdown report, its PNGs and the JSON documents into ``report_dir``; returns the JSON."""
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    for r in results:
        suffix = f"{r.battery.energy_mwh / r.battery.power_mw:g}h"
        plots[r.market_code] = write_plots(r, report_dir, suffix)
    document = benchmark_json(results)
    _merge_json(report_dir / "bidding_benchmark.json", document)
    if results:
        b = results[0].battery
        _merge_json(report_dir / f"bidding_benchmark_{b.energy_mwh / b.power_mw:g}h.json", document)
        _merge_json(report_dir / f"bidding_benchmark_strategies_{b.energy_mwh / b.power_mw:g}h.json",
                    strategies_json(results))  # fmt: skip
    markdown = benchmark_markdown(results, plots, quick)
    (report_dir / "bidding_benchmark.md").write_text(markdown)
    if results:  # one report per battery too: runs of other batteries do not overwrite it
        (report_dir / f"bidding_benchmark_{b.energy_mwh / b.power_mw:g}h.md").write_text(markdown)
    return document


def run_benchmark(
    markets: Sequence[str],
    days: int | None = None,
    battery: str = "2h",
    forecast: str = "auto",
    report_dir: Path = REPORT_DIR,
    store: bool = True,
    marts: bool = False,
    with_reference: bool = True,
    progress: Callable[[str], None] = print,
    lear_strategies: Sequence[str] = (FIXED, FIXED_VALUED, CURVES, EXCLUSIVE_BLOCKS),
) -> dict[str, Any]:
    """Backtest, store and report ``markets`` one after the other."""
    from griddesk.bidding.controls import get_bidding_settings
    from griddesk.warehouse import db

    if battery not in BATTERIES:
        raise ValueError(f"battery must be one of {', '.join(BATTERIES)}, got {battery!r}")
    settings = get_settings()
    bidding = get_bidding_settings()
    production = production_strategy(bidding.strategy, bidding.end_soc_mode)
    url = db.bootstrap(settings) if (store or forecast in ("auto", "champion")) else None
    config = BacktestConfig(
        end_soc_value_percentile=bidding.end_soc_value_percentile,
        end_soc_value_window_days=bidding.end_soc_value_window_days,
        end_soc_value_factor=bidding.end_soc_value_factor,
    )
    cells = BatteryConfig(power_mw=1.0, energy_mwh=BATTERIES[battery])
    results = []
    for code in markets:
        result = run_market(code, days, cells, forecast, settings, url, config, with_reference,
                            lear_strategies=lear_strategies, production=production, progress=progress)  # fmt: skip
        if store and url:
            store_backtest(url, result, config)
        results.append(result)
    if marts and url:
        build_backtest_marts(url)
    return write_report(results, report_dir, quick=days is not None)


def _run_cache(run_id: str) -> Path:
    safe = run_id.replace("|", "_").replace("/", "_")
    return get_settings().state_dir / "cache" / "bidding_runs" / f"{safe}.pkl"


def run_and_store_market(market_code: str, days: int | None, battery: str = "2h", forecast: str = "auto") -> str:
    """One market of the benchmark for the DAG: backtest, store in the warehouse, keep the result for the report.

    Returns:
        The run id (the report task reads the run back with :func:`report_stored_runs`).
    """
    import pickle

    from griddesk.bidding.controls import get_bidding_settings
    from griddesk.warehouse import db

    settings = get_settings()
    bidding = get_bidding_settings()
    url = db.bootstrap(settings)
    config = BacktestConfig(
        end_soc_value_percentile=bidding.end_soc_value_percentile,
        end_soc_value_window_days=bidding.end_soc_value_window_days,
        end_soc_value_factor=bidding.end_soc_value_factor,
    )
    result = run_market(market_code, days, BatteryConfig(power_mw=1.0, energy_mwh=BATTERIES[battery]), forecast,
                        settings, url, config, production=production_strategy(bidding.strategy, bidding.end_soc_mode),
                        progress=log.info)  # fmt: skip
    run_id = store_backtest(url, result, config)
    path = _run_cache(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return run_id


def report_stored_runs(run_ids: Sequence[str], quick: bool, report_dir: Path = REPORT_DIR) -> dict[str, Any]:
    """Write the report of runs made by :func:`run_and_store_market` (in this state directory)."""
    import pickle

    results = [pickle.loads(_run_cache(run_id).read_bytes()) for run_id in run_ids]  # noqa: S301 - our own file
    return write_report(results, report_dir, quick)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.bidding_benchmark", description=__doc__)
    parser.add_argument("--markets", default="NP,DE", help="comma-separated market codes (default NP,DE)")
    parser.add_argument("--days", type=int, default=None, help="quick mode: the last N test days (default: all 728)")
    parser.add_argument("--battery", default="2h", choices=sorted(BATTERIES), help="energy at 1 MW (default 2h)")
    parser.add_argument("--forecast", default="auto", choices=("auto", "champion", "prophet", "none"),
                        help="GridDesk's forecast: the stored champion, Prophet, auto (champion if stored), or none "
                        "(perfect foresight and the published reference only)")  # fmt: skip
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR, help="output folder (default: reports/)")
    parser.add_argument("--no-store", action="store_true", help="do not write the run into the warehouse")
    parser.add_argument("--marts", action="store_true", help="build fct_backtest_daily_pnl and fct_backtest_summary")
    parser.add_argument("--no-reference", action="store_true", help="skip the continuous-MILP reference reproduction")
    parser.add_argument("--lear-strategies", default="fixed,fixed_valued,curves,exclusive_blocks",
                        help="strategies run on the published LEAR-Ens (default fixed,fixed_valued,curves,"
                        "exclusive_blocks; curves cost "
                        "about 0.5 s a day)")  # fmt: skip
    args = parser.parse_args(argv)
    codes = [get_market(c.strip()).code for c in args.markets.split(",") if c.strip()]
    lear = tuple(x.strip() for x in args.lear_strategies.split(",") if x.strip())
    document = run_benchmark(codes, args.days, args.battery, args.forecast, args.report_dir, not args.no_store,
                             args.marts, not args.no_reference, lear_strategies=lear)  # fmt: skip
    print(json.dumps(document, indent=2))
    print(f"report: {args.report_dir / 'bidding_benchmark.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
