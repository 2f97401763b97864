"""Small helpers shared by the DAG files: default args, run params, and the run clock from the context."""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.sdk import Param, get_current_context
from airflow.timetables.trigger import CronTriggerTimetable

from griddesk.clock import RunClock, parse_delivery_date
from griddesk.pipeline.placement import IO_TASK
from griddesk.settings import get_settings, parse_market_codes

log = logging.getLogger(__name__)

#: Every task: retried twice (a worker lost mid-task is retried on another), on the ``default`` queue in the
#: warehouse pool unless it fits models (:data:`griddesk.pipeline.placement.MODEL_TASK`).
DEFAULT_ARGS = {"owner": "griddesk", "retries": 2, "retry_delay": timedelta(seconds=30), **IO_TASK}

#: The first logical date of every GridDesk DAG (the runs' days are the simulated delivery days; no catch-up).
START_DATE = pendulum.datetime(2016, 1, 1, tz="UTC")


def daily_dag(cron: str, timezone: str, **kwargs) -> dict:
    """The ``@dag`` arguments of a daily GridDesk DAG at ``cron`` local time in ``timezone``: one run at a time,
    no catch-up, :data:`DEFAULT_ARGS`; ``kwargs`` (params, tags, doc_md, ...) add to or override them."""
    return {
        "schedule": CronTriggerTimetable(cron, timezone=timezone),
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        **kwargs,
    }


def optional_param(description: str) -> Param:
    """A text param the trigger form shows as optional: null (empty) is valid, so the form does not require it."""
    return Param(None, type=["null", "string"], description=description)


PARAMS = {
    "delivery_date": optional_param("Delivery day D (YYYY-MM-DD). Empty: the day after the logical date."),
    "markets": optional_param("Comma-separated market codes. Empty: GRIDDESK_MARKETS."),
}


def market_codes(context=None) -> list[str]:
    """Markets of this run: the ``markets`` param, else the configured ones.

    Raises:
        ValueError: the param names a market twice or an unknown market.
    """
    context = context or get_current_context()
    raw = (context["params"].get("markets") or "").strip()
    return parse_market_codes(raw, "the run's markets param", allow_empty=True) or get_settings().market_codes


def clock_from_context(kind: str, context=None) -> RunClock:
    """The run clock (delivery day D and run kind) of the running task."""
    context = context or get_current_context()
    day = parse_delivery_date(context["params"].get("delivery_date"), context.get("logical_date"), kind)
    return RunClock(day, kind)


def mapped_results(values) -> list:
    """The results of a mapped upstream task as a plain list.

    Iterating Airflow's lazy XCom sequence asks for one item past the end and logs the 404 as an ``[error]``;
    indexing up to its length does not.
    """
    return [values[i] for i in range(len(values))]


def wait_for_inputs_poke(kind: str, context=None) -> bool:
    """The sensor body of the morning (``kind`` morning) and afternoon runs: see :func:`run_state.check_inputs`.

    Raises:
        AirflowFailException: the deadline passed without the inputs (one alert sent; no retry can help).
    """
    from airflow.sdk.exceptions import AirflowFailException

    from griddesk.pipeline.run_state import InputsMissing, check_inputs

    context = context or get_current_context()
    try:
        return check_inputs(context["dag"].dag_id, market_codes(context), clock_from_context(kind, context))
    except InputsMissing as exc:
        raise AirflowFailException(str(exc)) from None


def quality_gate_for_run(verdict, context=None) -> str:
    """``verdict`` = (market, may trade) from the validate task. Returns the market, or skips this task instance
    with the reason logged and added to the run's note."""
    from airflow.sdk.exceptions import AirflowSkipException

    from griddesk.clock import MORNING
    from griddesk.pipeline.run_state import add_run_note, blocked_reason
    from griddesk.warehouse import db

    context = context or get_current_context()
    market, ok = verdict
    context["market"] = market  # names the map index in the grid
    day = clock_from_context(MORNING, context).delivery_date
    if ok:
        log.info("%s may trade on %s: no critical data-quality failure", market, day)
        return market
    reason = blocked_reason(db.warehouse_url(), context["run_id"], market, day)
    log.error("%s", reason)
    add_run_note(context["dag"].dag_id, context["run_id"], reason)
    raise AirflowSkipException(reason)
