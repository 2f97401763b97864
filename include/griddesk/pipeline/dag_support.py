"""Small helpers shared by the DAG files: default args, run params, and the run clock from the context."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, get_current_context

from griddesk.pipeline.clock import RunClock, parse_delivery_date
from griddesk.settings import get_settings, parse_market_codes

DEFAULT_ARGS = {"owner": "griddesk", "retries": 2, "retry_delay": timedelta(seconds=30)}

PARAMS = {
    "delivery_date": Param(
        "",
        type="string",
        description="Delivery day D (YYYY-MM-DD). Empty: the day after the logical date.",
    ),
    "markets": Param(
        "",
        type="string",
        description="Comma-separated market codes. Empty: GRIDDESK_MARKETS.",
    ),
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
