"""
### GridDesk plant live telemetry (every 5 minutes)

Polls CKW's live endpoint of every plant in `GRIDDESK_CKW_PLANTS` (one mapped task per plant) and loads the
sample into `raw.ckw_plant_telemetry`, German fields renamed to English with units. A sample already loaded is
recognised by its content and not written twice. The simulated clock is the param `sim_now`, else the end of
the data interval. The daily `griddesk_feeds` run folds old samples into hourly aggregates and builds the marts.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import DEFAULT_ARGS


@dag(
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2016, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": timedelta(seconds=20)},
    params={"sim_now": Param("", type="string", description="Simulated clock (ISO-8601). Empty: the interval end.")},
    tags=["griddesk", "feeds", "telemetry"],
    doc_md=__doc__,
)
def griddesk_plant_telemetry():
    @task
    def plants() -> list[str]:
        """The plants to poll."""
        from griddesk.feeds.tasks import plant_ids

        return plant_ids()

    @task(outlets=[assets.RAW_PLANT_TELEMETRY])
    def poll(plant_id: str) -> dict:
        """One live poll of the plant, loaded once."""
        from datetime import datetime

        from griddesk.feeds.tasks import poll_plant

        ctx = get_current_context()
        value = (ctx["params"].get("sim_now") or "").strip()
        sim_now = datetime.fromisoformat(value) if value else ctx.get("data_interval_end")
        return poll_plant(plant_id, sim_now, run_id=ctx["run_id"])

    poll.expand(plant_id=plants())


griddesk_plant_telemetry_dag = griddesk_plant_telemetry()
