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
import json
import logging
import pickle
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from griddesk.bidding import store as bidding_store
from griddesk.bidding.backtest import CURVES, FIXED, FIXED_VALUED, BacktestConfig
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.controls import get_bidding_settings
from griddesk.markets import get_market
from griddesk.reporting.bidding_data import BATTERIES
from griddesk.reporting.bidding_report import write_report
from griddesk.reporting.bidding_scoring import MarketBacktest, MarketRunOptions, run_market
from griddesk.reporting.report import REPORT_DIR
from griddesk.settings import get_settings
from griddesk.transform.dbt import run_dbt
from griddesk.warehouse import db

log = logging.getLogger(__name__)


def production_strategy(strategy: str = "fixed", end_soc_mode: str = "fixed") -> str:
    """The backtest strategy the production DAG's settings amount to."""
    if strategy == "curves":
        return CURVES
    return FIXED_VALUED if end_soc_mode == "valued" else FIXED


# --------------------------------------------------------------------------------------------------------------------
# storage
# --------------------------------------------------------------------------------------------------------------------


def store_backtest(url: str, result: MarketBacktest, config: BacktestConfig | None = None) -> str:
    """Write the run into ``raw.bid_backtest_runs`` and ``raw.bid_backtest_days``; returns the run id."""
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
    cfg = (config or BacktestConfig()).model_dump(mode="json", exclude={"battery"})
    with db.connect(url) as conn, conn.cursor() as cur:
        bidding_store.insert_backtest_run(
            cur,
            (
                run_id,
                result.market_code,
                result.days[0],
                result.days[-1],
                len(result.days),
                len(result.days) == 728,
                battery.power_mw,
                battery.energy_mwh,
                battery.model_dump_json(),
                json.dumps(cfg),
                f"{result.griddesk_source}: {result.forecast_model}",
                result.production,
                result.currency,
                result.perfect_daily,
                result.perfect_multiday,
                result.wall_seconds,
                result.optimiser_seconds,
                result.started_at_utc,
            ),
        )
        bidding_store.insert_backtest_days(cur, days)
    return run_id


def build_backtest_marts(url: str) -> None:
    """``dbt build`` of the backtest marts and their staging models."""
    run_dbt(["build", "--select", "+fct_backtest_summary", "--indirect-selection", "cautious"], url)


def run_benchmark(
    markets: Sequence[str],
    days: int | None = None,
    battery: str = "2h",
    options: MarketRunOptions | None = None,
    report_dir: Path = REPORT_DIR,
    store: bool = True,
    marts: bool = False,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Backtest, store and report ``markets`` one after the other (``options``: the forecast, the reference and the
    LEAR-Ens strategies; the production strategy comes from the bidding settings)."""
    if battery not in BATTERIES:
        raise ValueError(f"battery must be one of {', '.join(BATTERIES)}, got {battery!r}")
    settings = get_settings()
    bidding = get_bidding_settings()
    options = replace(
        options or MarketRunOptions(), production=production_strategy(bidding.strategy, bidding.end_soc_mode)
    )
    url = db.bootstrap(settings) if (store or options.forecast in ("auto", "champion")) else None
    config = backtest_config(bidding)
    cells = BatteryConfig(power_mw=1.0, energy_mwh=BATTERIES[battery])
    results = []
    for code in markets:
        result = run_market(code, days, cells, options, settings, url, config, progress)
        if store and url:
            store_backtest(url, result, config)
        results.append(result)
    if marts and url:
        build_backtest_marts(url)
    return write_report(results, report_dir, quick=days is not None)


def backtest_config(bidding) -> BacktestConfig:
    """The backtest configuration of the production bidding settings (the end-SoC valuation)."""
    return BacktestConfig(
        end_soc_value_percentile=bidding.end_soc_value_percentile,
        end_soc_value_window_days=bidding.end_soc_value_window_days,
        end_soc_value_factor=bidding.end_soc_value_factor,
    )


def _run_cache(run_id: str) -> Path:
    safe = run_id.replace("|", "_").replace("/", "_")
    return get_settings().state_dir / "cache" / "bidding_runs" / f"{safe}.pkl"


def run_and_store_market(market_code: str, days: int | None, battery: str = "2h", forecast: str = "auto") -> str:
    """One market of the benchmark for the DAG: backtest, store in the warehouse, keep the result for the report.

    Returns:
        The run id (the report task reads the run back with :func:`report_stored_runs`).
    """
    settings = get_settings()
    bidding = get_bidding_settings()
    url = db.bootstrap(settings)
    config = backtest_config(bidding)
    options = MarketRunOptions(
        forecast=forecast, production=production_strategy(bidding.strategy, bidding.end_soc_mode)
    )
    result = run_market(
        market_code,
        days,
        BatteryConfig(power_mw=1.0, energy_mwh=BATTERIES[battery]),
        options,
        settings,
        url,
        config,
        progress=log.info,
    )
    run_id = store_backtest(url, result, config)
    path = _run_cache(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return run_id


def report_stored_runs(run_ids: Sequence[str], quick: bool, report_dir: Path = REPORT_DIR) -> dict[str, Any]:
    """Write the report of runs made by :func:`run_and_store_market` (in this state directory)."""
    results = [pickle.loads(_run_cache(run_id).read_bytes()) for run_id in run_ids]  # noqa: S301 - our own file
    return write_report(results, report_dir, quick)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.bidding_benchmark", description=__doc__)
    parser.add_argument("--markets", default="NP,DE", help="comma-separated market codes (default NP,DE)")
    parser.add_argument("--days", type=int, default=None, help="quick mode: the last N test days (default: all 728)")
    parser.add_argument("--battery", default="2h", choices=sorted(BATTERIES), help="energy at 1 MW (default 2h)")
    parser.add_argument(
        "--forecast",
        default="auto",
        choices=("auto", "champion", "prophet", "none"),
        help="GridDesk's forecast: the stored champion, Prophet, auto (champion if stored), or none "
        "(perfect foresight and the published reference only)",
    )
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR, help="output folder (default: reports/)")
    parser.add_argument("--no-store", action="store_true", help="do not write the run into the warehouse")
    parser.add_argument("--marts", action="store_true", help="build fct_backtest_daily_pnl and fct_backtest_summary")
    parser.add_argument("--no-reference", action="store_true", help="skip the continuous-MILP reference reproduction")
    parser.add_argument(
        "--lear-strategies",
        default="fixed,fixed_valued,curves,exclusive_blocks",
        help="strategies run on the published LEAR-Ens (default fixed,fixed_valued,curves,"
        "exclusive_blocks; curves cost "
        "about 0.5 s a day)",
    )
    args = parser.parse_args(argv)
    codes = [get_market(c.strip()).code for c in args.markets.split(",") if c.strip()]
    lear = tuple(x.strip() for x in args.lear_strategies.split(",") if x.strip())
    options = MarketRunOptions(forecast=args.forecast, with_reference=not args.no_reference, lear_strategies=lear)
    document = run_benchmark(codes, args.days, args.battery, options, args.report_dir, not args.no_store, args.marts)
    print(json.dumps(document, indent=2))
    print(f"report: {args.report_dir / 'bidding_benchmark.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
