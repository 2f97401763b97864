"""
### GridDesk consumption forecasting per meter (one run per delivery day D, on D-1 before the morning run)

For delivery day **D** (param `delivery_date`, default: the day after the logical date, as in `griddesk_morning`),
as of the paired market's cut-off (gate closure on D-1; `GRIDDESK_CONSUMPTION_MARKET`, NP by default). Scheduled
at 09:00 Europe/Brussels on D-1, an hour before `griddesk_morning` on the same clock: the morning `bid` of the
paired market buys the sum of these forecasts jointly with the battery, and bids the battery alone (and alerts)
when they are not there. By hand: `airflow dags trigger griddesk_consumption -c '{"delivery_date": "2018-12-24"}'`.

1. **fetch_at_cutoff**: the newest weather forecast (covering all of D) and the meter readings published by the
   cut-off, through the feeds' clients and loader; **meters**: the portfolio's meters (`raw.meters`);
2. **train_meter** (one mapped task per meter, so the UI shows each meter's progress): data-quality flags on the
   readings published by the cut-off, then Prophet (temperature from the weather *forecast* issued by the
   cut-off, England's holidays, local daily and weekly seasonality), two gradient-boosting models (mean and
   median loss) and their mean (every meter's initial champion), and the weekly naive; refit every
   `GRIDDESK_CONSUMPTION_REFIT_EVERY_DAYS`, predict daily; the champion per meter by rolling MAE.
   A meter with too little clean data is recorded as *skipped* with the reason; a failing meter fails only its
   own task (recorded as *failed*), the others go on;
3. **dbt_build_consumption** (runs whatever the meters did): `fct_consumption_forecasts`,
   `fct_consumption_forecast_accuracy`, `fct_portfolio_consumption_forecast`, `fct_portfolio_bids`.

This DAG makes no bid: the morning `bid` task of the paired market reads the champion forecasts it stored, sums
them and optimises the joint position of the portfolio and the battery (one order set, recorded in
`raw.portfolio_bids`).

A critical data-quality failure of a feed-day D reads (the meter readings of D-7..D-1, the weather forecast read
at the cut-off; see docs/alerts.md) blocks D: every meter's training run is recorded as *skipped* with the blocked
feed-days as the reason; the morning bid then finds no forecast, bids the battery alone and alerts.

See docs/consumption.md.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import PARAMS, daily_dag
from griddesk.pipeline.placement import MODEL_TASK


def _day():
    from griddesk.pipeline.dag_support import clock_from_context

    return clock_from_context("morning").delivery_date


@dag(
    # an hour before griddesk_morning (10:00): the paired market's bid reads what this run stores
    **daily_dag(
        "0 9 * * *",
        "Europe/Brussels",
        params={"delivery_date": PARAMS["delivery_date"]},
        tags=["griddesk", "consumption"],
        doc_md=__doc__,
    )
)
def griddesk_consumption():
    @task(outlets=[assets.CONSUMPTION_RAW])
    def fetch_at_cutoff() -> dict:
        """Weather forecast and meter readings as published one minute before D's cut-off."""
        from griddesk.consumption.tasks import fetch_at_cutoff as fetch

        return fetch(_day(), run_id=get_current_context()["run_id"])

    @task
    def meters(fetched: dict) -> list[str]:
        """The portfolio's meters."""
        from griddesk.consumption.tasks import meter_list

        return meter_list()

    @task(
        outlets=[assets.CONSUMPTION_RAW], max_active_tis_per_dagrun=2, map_index_template="{{ meter_id }}", **MODEL_TASK
    )
    def train_meter(meter_id: str) -> dict:
        """Quality flags, (re)fit when due, forecast D with every model, pick the champion, store."""
        from griddesk.consumption.tasks import train_and_forecast_meter

        return train_and_forecast_meter(meter_id, _day(), run_id=get_current_context()["run_id"])

    @task(trigger_rule="all_done", outlets=[assets.CONSUMPTION_MARTS])
    def dbt_build_consumption(trained: list[dict]) -> dict:
        """The consumption marts (after every meter, failed ones included)."""
        from griddesk.consumption.marts import dbt_build_consumption as build

        return build()

    dbt_build_consumption(train_meter.expand(meter_id=meters(fetch_at_cutoff())))


griddesk_consumption_dag = griddesk_consumption()
