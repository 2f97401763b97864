"""The forecast benchmark: ``python -m griddesk.reporting.forecast_benchmark --markets NP --days 28``.

For each market: make sure the warehouse holds the market's data (loaded through the extraction path from an
in-process market simulator when it does not), backtest the production model and the challengers with
:func:`griddesk.forecasting.backtest.run_backtest`, replay champion selection, score everything on the
dataset's 24-hour grid against the published epftoolbox forecasts, and write
``reports/forecast_benchmark.md`` (with PNG plots) and ``reports/forecast_benchmark.json``.

The benchmark is the only code that reads the published forecasts (``../shared/data/epftoolbox_forecasts``, in
:mod:`griddesk.reporting.forecast_data`): they are scoring references, never model inputs. This module is the
command line; the scoring is :mod:`griddesk.reporting.forecast_scoring`, the report
:mod:`griddesk.reporting.forecast_report`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time as _time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from griddesk.forecasting.backtest import BacktestPlan, default_plan, run_backtest
from griddesk.forecasting.champion import ChampionPolicy
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.store import load_backtest_run
from griddesk.markets import MARKETS, get_market
from griddesk.reporting.forecast_data import ensure_market_data
from griddesk.reporting.forecast_report import write_report
from griddesk.reporting.forecast_scoring import MarketResult, score_market
from griddesk.reporting.report import REPORT_DIR, fmt
from griddesk.settings import Settings, get_settings
from griddesk.transform.dbt import run_dbt
from griddesk.warehouse import db

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------------------


def benchmark_market(
    warehouse_url: str,
    market_code: str,
    plan: BacktestPlan,
    policy: ChampionPolicy | None = None,
    shared_data_dir: Path | None = None,
    settings: Settings | None = None,
    progress=print,
) -> MarketResult:
    """Load the market's data if needed, backtest, replay champion selection and score one market."""
    t0 = _time.perf_counter()
    inserted = ensure_market_data(warehouse_url, market_code, settings)
    if inserted:
        progress(f"{market_code}: loaded {inserted} day-feed deliveries through the extraction path")
    with db.connect(warehouse_url) as conn:
        history = PublishedHistory.from_warehouse(conn, market_code)
    run = run_backtest(warehouse_url, market_code, plan, history=history, progress=progress)
    result = score_market(warehouse_url, history, run, policy or ChampionPolicy(), shared_data_dir, t0)
    s = result.scores[result.champion]
    pub = result.published_scores.get("lear_ens", {}).get("mae")
    progress(
        f"{market_code}: champion {result.champion} MAE {s['mae']:.3f} (published LEAR-Ens {fmt(pub)}), "
        f"{result.wall_seconds:.0f} s"
    )
    return result


def rescore_run(
    warehouse_url: str, run_id: str, policy: ChampionPolicy | None = None, shared_data_dir: Path | None = None
) -> MarketResult:
    """Score a stored run again (e.g. in the DAG's report task); its wall time is the stored one."""
    with db.connect(warehouse_url) as conn:
        run = load_backtest_run(conn, run_id)
        history = PublishedHistory.from_warehouse(conn, run.market_code)
    result = score_market(
        warehouse_url, history, run, policy or ChampionPolicy(), shared_data_dir, _time.perf_counter()
    )
    result.wall_seconds = run.wall_seconds
    return result


def run_benchmark(
    markets: Sequence[str],
    days: int | None = None,
    report_dir: Path = REPORT_DIR,
    plan: BacktestPlan | None = None,
    policy: ChampionPolicy | None = None,
    warehouse_url: str | None = None,
    shared_data_dir: Path | None = None,
    progress=print,
) -> dict[str, Any]:
    """Backtest, score and report ``markets`` one after the other; writes the report into ``report_dir``.

    Returns:
        The JSON document of these markets (also merged into ``report_dir/forecast_benchmark.json``).
    """
    settings = get_settings()
    url = warehouse_url or db.bootstrap(settings)
    plan = plan or default_plan(days)
    results = [benchmark_market(url, code, plan, policy, shared_data_dir, settings, progress) for code in markets]
    return write_report(results, report_dir, quick=days is not None)


#: The dbt selection that builds the forecast accuracy marts and what they read.
ACCURACY_MARTS_SELECT = (
    "+fct_backtest_forecast_accuracy",
    "fct_backtest_forecast_accuracy_monthly",
    "fct_backtest_forecast_drift",
    "+dim_markets",
)


def build_accuracy_marts(warehouse_url: str | None = None) -> None:
    """``dbt build`` of the forecast accuracy marts (latest versions of every price).

    Raises:
        griddesk.transform.dbt.DbtError: A model or test failed.
    """
    # Cautious: tests of dim_markets that also read other marts (bids, prices) are not this build's business.
    args = ["build", "--select", *ACCURACY_MARTS_SELECT, "--indirect-selection", "cautious"]
    run_dbt(args, warehouse_url or db.bootstrap())


def report_runs(run_ids: Sequence[str], quick: bool, report_dir: Path = REPORT_DIR) -> dict[str, Any]:
    """Rescore stored runs and write the report (what the DAG's report task does)."""
    url = db.bootstrap()
    return write_report([rescore_run(url, run_id) for run_id in run_ids], report_dir, quick)


def parse_challengers(text: str) -> list[str] | None:
    """``all`` -> None (every challenger), ``none`` -> [], else the comma-separated names."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    if text == "none":
        return []
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.forecast_benchmark", description=__doc__)
    parser.add_argument("--markets", default=",".join(MARKETS), help="comma-separated market codes (default: all)")
    parser.add_argument("--days", type=int, default=None, help="quick mode: the last N test days (default: all 728)")
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR, help="output folder (default: reports/)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--reuse-production", action="store_true", help="reuse stored production forecasts instead of recomputing"
    )
    parser.add_argument(
        "--challengers",
        default="all",
        help="comma-separated challengers to run (weekly_naive, lear_56, lear_84, lear_1092, lear_1456), 'all' "
        "(default) or 'none'; ensembles whose members do not all run are left out",
    )
    parser.add_argument(
        "--warmup-days",
        type=int,
        default=28,
        help="days before the test period also forecast, not scored (default 28; the bidding benchmark's curve "
        "scenarios read 56)",
    )
    parser.add_argument(
        "--champion-metric",
        default="mae",
        choices=("mae", "money"),
        help="what the champion rule compares: rolling MAE (default) or money, the rolling regret of the fixed "
        "schedule (1 - PoP over the window, 1 MW / 2 MWh battery)",
    )
    args = parser.parse_args(argv)
    codes = [get_market(c.strip()).code for c in args.markets.split(",") if c.strip()]
    if args.warmup_days < 1:
        parser.error("--warmup-days must be at least 1 (the first test days' intervals and champion read them)")
    plan = default_plan(
        args.days,
        processes=args.processes,
        challengers=parse_challengers(args.challengers),
        reuse_production=args.reuse_production,
        warmup_days=args.warmup_days,
    )
    policy = ChampionPolicy(metric=args.champion_metric)
    document = run_benchmark(codes, args.days, args.report_dir, plan=plan, policy=policy)
    print(json.dumps(document, indent=2))
    print(f"report: {args.report_dir / 'forecast_benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
