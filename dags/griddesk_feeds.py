"""
### GridDesk operational feeds (daily, run day X, 18:00 Europe/Zurich)

On the simulated clock of run day **X** (param `run_date`, default: the logical date) at 18:00 Zurich time,
after CKW published X+1's dynamic tariffs:

1. **submit orders**: the order sets of recent delivery days that the exchange holds go to the simulated battery
   (BMS), which clears them, so the battery telemetry follows what was traded; only through the submission gate
   (`griddesk.bidding.gate`): a paper-mode, blocked or non-compliant set is never posted;
2. **extract** every feed job (one mapped task per feed and key): CKW dynamic tariffs per tariff name (OAuth2,
   paged by 30 days), TRA signals, weather observations and forecasts per location, battery status per market,
   meter consumption. A week of history per run heals late data; unchanged days are not written again;
3. **retention**: 5-minute telemetry and the API call log older than `GRIDDESK_FEEDS_RETENTION_DAYS` become
   hourly aggregates;
4. **dbt build** of the feed staging models and the operations marts (one invocation);
5. **validate feeds**: ONE Great Expectations run over every feed's SLA day (expectations/feeds.yml), results in
   `raw.dq_validation_results`, one alert email per failed (suite, source, day). See docs/alerts.md.

Plant live telemetry is polled every 5 minutes by `griddesk_plant_telemetry`. See docs/feeds.md.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import daily_dag, optional_param


def _run_date():
    from datetime import date

    ctx = get_current_context()
    value = (ctx["params"].get("run_date") or "").strip()
    return date.fromisoformat(value) if value else ctx["logical_date"].date()


@dag(
    **daily_dag(
        "0 18 * * *",
        "Europe/Zurich",
        params={"run_date": optional_param("Run day X (YYYY-MM-DD). Empty: the logical date.")},
        tags=["griddesk", "daily", "feeds"],
        doc_md=__doc__,
    )
)
def griddesk_feeds():
    @task
    def submit_orders() -> dict:
        """Hand the battery the order sets the exchange holds, through the submission gate (idempotent per day)."""
        from griddesk.bidding.tasks import submit_orders_for_run

        return submit_orders_for_run(_run_date(), run_id=get_current_context()["run_id"])

    @task(trigger_rule="all_done")
    def plan(submitted: dict) -> list[dict]:
        """Feed jobs: one per (feed, key); they run even if the orders could not be submitted."""
        from griddesk.feeds.tasks import feed_jobs

        return feed_jobs()

    @task(outlets=[assets.RAW_FEEDS], max_active_tis_per_dagrun=4)
    def extract(job: dict) -> dict:
        """Extract one feed job as of the run's clock and load it, one batch per day."""
        from griddesk.feeds.tasks import extract_feed_job

        return extract_feed_job(job, _run_date(), run_id=get_current_context()["run_id"])

    @task(trigger_rule="all_done")
    def retention(extracted: list[dict]) -> dict:
        """Fold old 5-minute telemetry and call-log rows into hourly aggregates."""
        from griddesk.feeds.tasks import apply_retention_for_run

        return apply_retention_for_run(_run_date())

    @task(trigger_rule="all_done", outlets=[assets.OPERATIONS_MARTS])
    def dbt_build(folded: dict) -> dict:
        """One dbt build of the feed staging models and the operations marts (also after a failed feed job)."""
        from griddesk.transform.tasks import dbt_build_feeds

        return dbt_build_feeds()

    @task(trigger_rule="all_done")
    def validate_feeds(folded: dict) -> dict:
        """One GX run over all feeds (one context, one task): results stored, alerts sent once per key."""
        from griddesk.quality.tasks import validate_feeds_for_run

        return validate_feeds_for_run(_run_date(), run_id=get_current_context()["run_id"])

    folded = retention(extract.expand(job=plan(submit_orders())))
    dbt_build(folded)
    validate_feeds(folded)


griddesk_feeds_dag = griddesk_feeds()
