"""
### GridDesk quality watch (daily, run day X, 11:30 Europe/Zurich: 30 min before the EU gate closure)

The alerts that are not Great Expectations suites, each sent at most once per (kind, scope, day) through the
SMTP provider (see docs/alerts.md):

- **deadline**: no orders recorded for delivery day X+1 of a market 30 min before its gate closure, and the
  quality gate did not block it on purpose: `griddesk_morning` missed its deadline (CRITICAL);
- **bid executions**: rejected orders, or an execution above its submitted volume (CRITICAL);
- **data gaps**: missing or zero-as-missing intervals the feeds recorded in the last week (WARNING);
- **API health**: an endpoint-hour below the success-rate threshold in the last 24 h (WARNING);
- **forecast drift**: the rolling MAE of a market's price forecast above the threshold (WARNING), read from
  `marts.fct_price_forecast_daily_scores` as `dbt_build_trading` last built it (not built yet: skipped, logged);
- **outputs**: ONE GX run over the market datasets of expectations/feeds.yml: the exogenous forecasts of X+1
  (raw), and the dbt marts `griddesk_morning` built by then (10:00 Brussels, `dbt_build` and
  `dbt_build_trading`): day-ahead prices of X, price forecasts and schedules of X+1, executions of X-1
  (executed <= submitted). A mart not built yet is skipped.

The feeds' own GX suites run in `griddesk_feeds` (one GX run for all feeds); the price gate in the morning and
afternoon DAGs. Thresholds: `GRIDDESK_QUALITY_*`. Data Docs: `make docs`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from griddesk.pipeline.dag_support import daily_dag


def _run_date_and_now():
    from datetime import date

    ctx = get_current_context()
    value = (ctx["params"].get("run_date") or "").strip()
    now = ctx["logical_date"]
    return (date.fromisoformat(value) if value else now.date()), now


@dag(
    **daily_dag(
        "30 11 * * *",
        "Europe/Zurich",
        params={"run_date": Param("", type="string", description="Run day X (YYYY-MM-DD). Empty: the logical date.")},
        tags=["griddesk", "daily", "quality"],
        doc_md=__doc__,
    )
)
def griddesk_quality_watch():
    @task
    def watch(kind: str) -> dict:
        """Run one watch and send its alerts once per key."""
        from griddesk.quality.tasks import run_watch

        run_date, now = _run_date_and_now()
        return run_watch(kind, run_date, now)

    watch.expand(kind=["deadline", "bid_executions", "data_gaps", "api_health", "forecast_drift", "outputs"])


griddesk_quality_watch_dag = griddesk_quality_watch()
