"""
### GridDesk afternoon run (D-1, after the day-ahead auction results for D)

For delivery day **D** (param `delivery_date`, default: the day after the logical date), on the simulated
clock 15 minutes after each market's price publication:

0. **wait_for_prices**: D's auction prices must be published; the sensor waits up to three hours, then fails with
   ONE alert;
1. **extract** D's day-ahead prices (one mapped task per market);
2. **validate** them with Great Expectations (alert email on failure);
3. **fetch executions**: the auction results of submitted order sets (order API) into `raw.bid_executions`;
4. **dbt build**: the marts score the morning's forecast against the realised prices and settle executions.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from griddesk.clock import AFTERNOON
from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import (
    PARAMS,
    clock_from_context,
    daily_dag,
    market_codes,
    wait_for_inputs_poke,
)


@dag(
    **daily_dag(
        "0 14 * * *",
        "Europe/Brussels",
        params=PARAMS,
        tags=["griddesk", "daily"],
        doc_md=__doc__,
    )
)
def griddesk_afternoon():
    @task.sensor(poke_interval=300, timeout=24 * 3600, mode="reschedule")
    def wait_for_prices() -> bool:
        """D's auction prices published? Waits up to three hours after the run clock, then fails with one alert."""
        return wait_for_inputs_poke(AFTERNOON)

    @task
    def plan() -> list[dict]:
        """One price-extraction job per configured market."""
        from griddesk.extraction.tasks import feed_jobs

        return [j for j in feed_jobs(market_codes(get_current_context())) if j["feed"] == "day_ahead_prices"]

    @task(outlets=[assets.RAW_PRICES], max_active_tis_per_dagrun=4)
    def extract(job: dict) -> dict:
        """Extract D's prices as of the afternoon clock."""
        from griddesk.extraction.tasks import extract_for_run

        return extract_for_run(job, clock_from_context(AFTERNOON), run_id=get_current_context()["run_id"])

    @task(outlets=[assets.DQ_RESULTS])
    def validate(extracted: list[dict]) -> dict[str, bool]:
        """Great Expectations on D's prices."""
        from griddesk.quality.tasks import validate_for_run

        ctx = get_current_context()
        return validate_for_run(market_codes(ctx), clock_from_context(AFTERNOON), ctx["run_id"])

    @task
    def fetch_executions(gate: dict[str, bool]) -> list[dict]:
        """Auction results of D's submitted order sets, from the order API (HTTP failures are emailed)."""
        from griddesk.bidding.tasks import fetch_executions as fetch

        ctx = get_current_context()
        return [fetch(market, clock_from_context(AFTERNOON)) for market in market_codes(ctx)]

    @task(outlets=[assets.MARTS])
    def dbt_build(executions: list[dict]) -> None:
        """Rebuild the marts: D's prices arrive, the morning forecast is scored, executions are settled."""
        from griddesk.transform.tasks import dbt_build_for_run

        dbt_build_for_run(clock_from_context(AFTERNOON))

    jobs = plan()
    wait_for_prices() >> jobs
    dbt_build(fetch_executions(validate(extract.expand(job=jobs))))


griddesk_afternoon_dag = griddesk_afternoon()
