"""
### GridDesk forecast backtest (epftoolbox protocol)

Backtests the production price model (Prophet, per hour) and its challengers (weekly naive, the paper's four
LEARs, LEAR-Ens, the Prophet + LEAR-Ens ensemble, and Prophet with the four LEARs under daily CLAD weights) on
the last 728 days of each market, recalibrating every day on what was published before gate closure on D-1.
Challenger backtests are stored in the warehouse once and reused; the production model is recomputed and timed.

1. **backtest** one mapped task per market: load the market's data through the extraction path if missing,
   backtest, replay champion selection (rolling MAE with a margin) and store the decisions and registry metrics;
2. **dbt build** the forecast accuracy marts (`fct_backtest_forecast_accuracy`, `_monthly`, `fct_backtest_forecast_drift`);
3. **report**: `reports/forecast_benchmark.md` (with PNG plots) and `reports/forecast_benchmark.json`.

Params: `markets`, `days` (quick mode: the last N test days; 0 = the full 728), `processes`,
`reuse_production`, `challengers` (`all`, `none` or names: `weekly_naive,lear_56,...`; an ensemble runs only with
all its members).
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
    # One retry: a rerun reuses every challenger day already stored, so a retry after a blip costs little.
    default_args={**DEFAULT_ARGS, "retries": 1},
    params={
        "markets": PARAMS["markets"],
        "days": Param(0, type="integer", minimum=0, maximum=728, description="Quick mode: last N test days; 0: all."),
        "processes": Param(2, type="integer", minimum=1, description="Worker processes per market."),
        "reuse_production": Param(False, type="boolean", description="Reuse stored production forecasts."),
        "challengers": Param(
            "all", type="string", description="Challengers: all, none, or comma-separated names (e.g. weekly_naive)."
        ),
    },
    tags=["griddesk", "forecasting", "benchmark"],
    doc_md=__doc__,
)
def griddesk_forecast_backtest():
    @task
    def plan() -> list[str]:
        """The markets to backtest."""
        return market_codes(get_current_context())

    @task(outlets=[assets.MARTS], max_active_tis_per_dagrun=1, **MODEL_TASK)
    def backtest(market: str) -> str:
        """Backtest one market (both cores), score it, store champion decisions; returns the run id."""
        from griddesk.forecasting.backtest import default_plan
        from griddesk.reporting.forecast_benchmark import benchmark_market, parse_challengers
        from griddesk.warehouse import db

        p = get_current_context()["params"]
        run_plan = default_plan(
            p["days"] or None,
            processes=p["processes"],
            challengers=parse_challengers(p["challengers"]),
            reuse_production=p["reuse_production"],
        )
        return benchmark_market(db.bootstrap(), market, run_plan).run.run_id

    @task(outlets=[assets.MARTS])
    def build_marts(run_ids: list[str]) -> list[str]:
        """dbt build of the forecast accuracy marts (and what they need)."""
        from griddesk.reporting.forecast_benchmark import build_accuracy_marts

        build_accuracy_marts()
        return run_ids

    @task
    def report(run_ids: list[str]) -> dict:
        """Rescore the stored runs and write the benchmark report into reports/."""
        from griddesk.reporting.forecast_benchmark import report_runs

        return report_runs(run_ids, quick=bool(get_current_context()["params"]["days"]))

    report(build_marts(backtest.expand(market=plan())))


griddesk_forecast_backtest_dag = griddesk_forecast_backtest()
