"""
### GridDesk backfill

Loads the price and exogenous-forecast history that the forecaster needs, through the same extraction
path as the daily runs, in requests of at most one year. Days already in `raw` are skipped, so a rerun
requests nothing. Params: `first_day`, `last_day` (inclusive, local delivery days) and `markets`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import DEFAULT_ARGS, PARAMS, market_codes


@dag(
    schedule=None,
    start_date=pendulum.datetime(2016, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "markets": PARAMS["markets"],
        "first_day": Param("", type="string", description="First local delivery day (YYYY-MM-DD)."),
        "last_day": Param("", type="string", description="Last local delivery day (YYYY-MM-DD)."),
    },
    tags=["griddesk", "backfill"],
    doc_md=__doc__,
)
def griddesk_backfill():
    @task
    def plan() -> list[dict]:
        """One backfill job per configured market and feed."""
        from griddesk.extraction.tasks import feed_jobs

        return feed_jobs(market_codes(get_current_context()))

    @task(outlets=[assets.RAW_PRICES, assets.RAW_EXOGENOUS], max_active_tis_per_dagrun=4)
    def backfill(job: dict) -> dict:
        """Load the missing days of one feed."""
        from datetime import date

        from griddesk.extraction.tasks import backfill_job

        ctx = get_current_context()
        params = ctx["params"]
        return backfill_job(
            job, date.fromisoformat(params["first_day"]), date.fromisoformat(params["last_day"]), run_id=ctx["run_id"]
        )

    backfill.expand(job=plan())


griddesk_backfill_dag = griddesk_backfill()
