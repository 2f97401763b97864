"""
### GridDesk morning run (D-1, before gate closure)

For delivery day **D** (param `delivery_date`, default: the day after the logical date), on the simulated
clock of D-1 one hour before each market's gate closure:

1. **extract** prices up to D-1 and the exogenous day-ahead forecasts for D (one mapped task per market and feed);
2. **validate** the newest prices with Great Expectations; a critical failure blocks that market-day and emails an alert;
3. **dbt build** staging, intermediate and marts;
4. **forecast** D with Prophet, from data published before gate closure only;
5. **bid**: optimise the battery on the forecast and record the schedule and paper orders;
6. **dbt build** the trading marts.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from griddesk.pipeline import assets
from griddesk.pipeline.clock import MORNING
from griddesk.pipeline.dag_support import DEFAULT_ARGS, PARAMS, clock_from_context, market_codes


@dag(
    schedule=CronTriggerTimetable("0 10 * * *", timezone="Europe/Brussels"),
    start_date=pendulum.datetime(2016, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["griddesk", "daily"],
    doc_md=__doc__,
)
def griddesk_morning():
    @task
    def plan() -> list[dict]:
        """Extraction jobs: one per configured market and feed."""
        from griddesk.pipeline.tasks import feed_jobs

        return feed_jobs(market_codes(get_current_context()))

    @task(outlets=[assets.RAW_PRICES, assets.RAW_EXOGENOUS], max_active_tis_per_dagrun=4)
    def extract(job: dict) -> dict:
        """Extract one feed as of the morning clock, point-in-time into raw."""
        from griddesk.pipeline.tasks import extract_for_run

        return extract_for_run(job, clock_from_context(MORNING))

    @task(outlets=[assets.DQ_RESULTS])
    def validate(extracted: list[dict]) -> dict[str, bool]:
        """Great Expectations on the newest prices; returns market -> may this market-day be traded."""
        from griddesk.pipeline.quality_tasks import validate_for_run

        ctx = get_current_context()
        return validate_for_run(market_codes(ctx), clock_from_context(MORNING), ctx["run_id"])

    @task(outlets=[assets.MARTS])
    def dbt_build(gate: dict[str, bool]) -> list[str]:
        """One `dbt build` of all models (see docs/architecture.md for why not cosmos)."""
        from griddesk.pipeline.transform_tasks import dbt_build_for_run

        dbt_build_for_run(clock_from_context(MORNING))
        return [m for m, ok in gate.items() if ok]

    @task(outlets=[assets.PRICE_FORECASTS])
    def forecast(market: str) -> dict:
        """Prophet forecast of D from warehouse data published before gate closure."""
        from griddesk.pipeline.tasks import forecast_for_run

        return forecast_for_run(market, clock_from_context(MORNING))

    @task(outlets=[assets.BID_SCHEDULES])
    def bid(forecasted: dict) -> dict:
        """Battery schedule and paper orders for D."""
        from griddesk.pipeline.tasks import bid_for_run

        return bid_for_run(forecasted["market"], clock_from_context(MORNING))

    @task(trigger_rule="none_failed", outlets=[assets.MARTS])
    def dbt_build_trading(bids: list[dict]) -> None:
        """Rebuild the trading marts with the new forecasts and schedules."""
        from griddesk.pipeline.transform_tasks import dbt_build_for_run

        dbt_build_for_run(clock_from_context(MORNING), select="tag:trading")

    tradable = dbt_build(validate(extract.expand(job=plan())))
    dbt_build_trading(bid.expand(forecasted=forecast.expand(market=tradable)))


griddesk_morning_dag = griddesk_morning()
