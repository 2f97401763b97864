"""
### GridDesk morning run (D-1, before gate closure)

For delivery day **D** (param `delivery_date`, default: the day after the logical date), on the simulated
clock of D-1 one hour before each market's gate closure:

1. **extract** prices up to D-1 and the exogenous day-ahead forecasts for D (one mapped task per market and feed);
2. **validate** the newest prices with Great Expectations; a critical failure blocks that market-day and emails an
   alert; **quality_gate** (one task per market) is *skipped* for a blocked market, with the reason in its log and
   in the run's note;
3. **dbt build** staging, intermediate and marts;
4. **forecast** D with Prophet, from data published before gate closure only;
5. **bid**: optimise the battery on the forecast (market rules, demand-response windows) and record the schedule
   and the order set (fixed schedule or bid curves); an infeasible day idles and emails an alert. In the
   portfolio's paired market (`GRIDDESK_CONSUMPTION_MARKET`, NP) the battery and the portfolio's forecast
   consumption (stored by `griddesk_consumption`, scheduled an hour earlier on the same clock) are one joint fixed
   schedule, its decision per MTU recorded in `raw.portfolio_bids`; without that forecast the battery is bid
   alone and the desk is emailed (docs/consumption.md);
6. **compliance**: pre-trade checks (volumes, positions, price bounds, gate closure, SoC feasibility); a rejection
   is recorded with its reasons and emailed; paper mode (the default) stops here;
7. **approve_orders** (only with `GRIDDESK_BIDDING_REQUIRE_APPROVAL=true`): a person approves or rejects the order
   sets in the Airflow UI; no answer in time rejects them;
8. **submit**: sends ready order sets to the order API before gate closure, unless the kill switch is on;
9. **dbt build** the trading marts and `fct_portfolio_bids`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import dag, get_current_context, task

from griddesk.bidding.controls import APPROVE, REJECT, get_bidding_settings
from griddesk.clock import MORNING
from griddesk.pipeline import assets
from griddesk.pipeline.dag_support import (
    PARAMS,
    clock_from_context,
    daily_dag,
    mapped_results,
    market_codes,
    quality_gate_for_run,
    wait_for_inputs_poke,
)
from griddesk.pipeline.placement import MODEL_TASK


@dag(
    **daily_dag(
        "0 10 * * *",
        "Europe/Brussels",
        params=PARAMS,
        tags=["griddesk", "daily"],
        doc_md=__doc__,
    )
)
def griddesk_morning():
    @task.sensor(poke_interval=300, timeout=24 * 3600, mode="reschedule")
    def wait_for_inputs() -> bool:
        """D-1's prices and D's exogenous forecasts published? Waits until 20 min before gate closure, then one alert."""
        return wait_for_inputs_poke(MORNING)

    @task
    def plan() -> list[dict]:
        """Extraction jobs: one per configured market and feed."""
        from griddesk.extraction.tasks import feed_jobs

        return feed_jobs(market_codes(get_current_context()))

    @task(outlets=[assets.RAW_PRICES, assets.RAW_EXOGENOUS], max_active_tis_per_dagrun=4)
    def extract(job: dict) -> dict:
        """Extract one feed as of the morning clock, point-in-time into raw."""
        from griddesk.extraction.tasks import extract_for_run

        return extract_for_run(job, clock_from_context(MORNING), run_id=get_current_context()["run_id"])

    @task(outlets=[assets.DQ_RESULTS])
    def validate(extracted: list[dict]) -> dict[str, bool]:
        """Great Expectations on the newest prices; returns market -> may this market-day be traded."""
        from griddesk.quality.tasks import validate_for_run

        ctx = get_current_context()
        return validate_for_run(market_codes(ctx), clock_from_context(MORNING), ctx["run_id"])

    @task(map_index_template="{{ market }}")
    def quality_gate(verdict) -> str:
        """One per market: skipped when GX blocked the market-day (the reason is in this log and the run note)."""
        return quality_gate_for_run(verdict)

    @task(outlets=[assets.MARTS])
    def dbt_build(gate: dict[str, bool]) -> list[str]:
        """One `dbt build` of all models (see docs/architecture.md for why not cosmos)."""
        from griddesk.transform.tasks import dbt_build_for_run

        dbt_build_for_run(clock_from_context(MORNING))
        return [m for m, ok in gate.items() if ok]

    @task(outlets=[assets.PRICE_FORECASTS], **MODEL_TASK)
    def forecast(market: str) -> dict:
        """Prophet forecast of D from warehouse data published before gate closure."""
        from griddesk.forecasting.tasks import forecast_for_run

        return forecast_for_run(market, clock_from_context(MORNING))

    @task(outlets=[assets.BID_SCHEDULES])
    def bid(market: str) -> dict:
        """Battery schedule (jointly with the portfolio's consumption in the paired market) and orders for D."""
        from griddesk.bidding.tasks import bid_for_run

        return bid_for_run(market, clock_from_context(MORNING))

    @task
    def compliance(market: str) -> dict:
        """Pre-trade compliance of D's order set; a rejection is recorded and emailed, never submitted."""
        from griddesk.bidding.tasks import check_compliance

        return check_compliance(market, clock_from_context(MORNING))

    @task.branch
    def approval_gate(checked: list[dict]) -> list[str]:
        """Ask a person only when an order set waits for approval."""
        waiting = any(c.get("status") == "pending_approval" for c in mapped_results(checked))
        return ["approve_orders", "record_approval"] if waiting else ["record_approval"]

    approve = HITLOperator(
        task_id="approve_orders",
        subject="GridDesk: approve the day-ahead order sets for {{ params.delivery_date or 'tomorrow' }}?",
        body="Order sets passed pre-trade compliance and wait in `pending_approval` "
        "(see `raw.bid_order_sets` and `raw.bid_order_steps`). Approve to submit them before gate closure; "
        "no answer in time rejects them.",
        options=[APPROVE, REJECT],
        defaults=[REJECT],
        response_timeout=timedelta(minutes=get_bidding_settings().approval_timeout_minutes),
    )

    @task(trigger_rule="none_failed_min_one_success")
    def record_approval(checked: list[dict]) -> list[str]:
        """Apply the approver's answer (if one was asked) and hand on the markets to submit."""
        from griddesk.bidding.tasks import apply_approval_answer

        ctx = get_current_context()
        markets = [c["market"] for c in mapped_results(checked)]
        answer = ctx["ti"].xcom_pull(task_ids="approve_orders")
        apply_approval_answer(markets, clock_from_context(MORNING).delivery_date, answer)
        return markets

    @task(outlets=[assets.BID_SCHEDULES])
    def submit(market: str) -> dict:
        """Send D's ready order set to the order API (never a rejected, unapproved or paper one)."""
        from griddesk.bidding.tasks import submit_order_set

        return submit_order_set(market, clock_from_context(MORNING))

    @task(trigger_rule="none_failed", outlets=[assets.MARTS])
    def dbt_build_trading(bids: list[dict]) -> None:
        """Rebuild the trading marts and the portfolio's joint bids with the new forecasts and schedules."""
        from griddesk.transform.tasks import dbt_build_for_run

        dbt_build_for_run(clock_from_context(MORNING), select=["tag:trading", "fct_portfolio_bids"])

    jobs = plan()
    wait_for_inputs() >> jobs
    validated = validate(extract.expand(job=jobs))
    quality_gate.expand(verdict=validated)
    tradable = dbt_build(validated)
    # Every per-market step maps over this run's tradable markets, not over the previous step's mapped results: a
    # cleared run whose gate now blocks a market must not bid on a result left from an earlier try.
    forecasts = forecast.expand(market=tradable)
    bids = bid.expand(market=tradable)
    checked = compliance.expand(market=tradable)
    forecasts >> bids >> checked
    decided = record_approval(checked)
    approval_gate(checked) >> [approve, decided]
    approve >> decided
    dbt_build_trading(submit.expand(market=decided))


griddesk_morning_dag = griddesk_morning()
