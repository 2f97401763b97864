"""
### GridDesk bidding backtest (strategies judged in money)

For each market, over the epftoolbox test period (or the last `days`), with a 1 MW battery of `battery` hours:
GridDesk's forecast (the forecasting champion when stored, else Prophet) drives the fixed schedule, the valued-end
schedule and the bid curves; each day clears at the realised prices and hands its SoC to the next. The published
LEAR-Ens runs the same optimiser side by side, and perfect foresight gives the Percentage of Perfect.

1. **backtest** one mapped task per market: run, store in `raw.bid_backtest_*`;
2. **dbt build** `fct_backtest_daily_pnl` and `fct_backtest_summary`;
3. **report**: `reports/bidding_benchmark.md` (with PNG plots) and `reports/bidding_benchmark.json`.

Params: `markets`, `days` (0 = the full 728), `battery` (1h, 2h, 4h), `forecast` (auto, champion, prophet).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import DEFAULT_ARGS, PARAMS, market_codes
from griddesk.pipeline.placement import MODEL_TASK


@dag(
    schedule=None,
    start_date=pendulum.datetime(2016, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},  # one retry for a blip; a long backtest is not worth more
    params={
        "markets": PARAMS["markets"],
        "days": Param(0, type="integer", minimum=0, maximum=728, description="Quick mode: last N test days; 0: all."),
        "battery": Param("2h", type="string", enum=["1h", "2h", "4h"], description="Battery energy at 1 MW."),
        "forecast": Param(
            "auto", type="string", enum=["auto", "champion", "prophet"], description="GridDesk forecast."
        ),
    },
    tags=["griddesk", "bidding", "benchmark"],
    doc_md=__doc__,
)
def griddesk_bidding_backtest():
    @task
    def plan() -> list[str]:
        """The markets to backtest."""
        return market_codes(get_current_context())

    @task(max_active_tis_per_dagrun=1, **MODEL_TASK)  # CPU-bound: one optimisation per day, LEAR-Ens beside
    def backtest(market: str) -> str:
        """Backtest one market and store it; returns the run id."""
        from griddesk.reporting.bidding_benchmark import run_and_store_market

        p = get_current_context()["params"]
        return run_and_store_market(market, p["days"] or None, p["battery"], p["forecast"])

    @task(outlets=[assets.MARTS])
    def build_marts(run_ids: list[str]) -> list[str]:
        """dbt build of fct_backtest_daily_pnl and fct_backtest_summary."""
        from griddesk.reporting.bidding_benchmark import build_backtest_marts
        from griddesk.warehouse import db

        build_backtest_marts(db.bootstrap())
        return run_ids

    @task
    def report(run_ids: list[str]) -> dict:
        """Write the benchmark report into reports/."""
        from griddesk.reporting.bidding_benchmark import report_stored_runs

        return report_stored_runs(run_ids, quick=bool(get_current_context()["params"]["days"]))

    report(build_marts(backtest.expand(market=plan())))


griddesk_bidding_backtest_dag = griddesk_bidding_backtest()
