"""Bodies of the Airflow tasks. DAG files call these; each is one unit of I/O around a pure component."""

from __future__ import annotations

from griddesk.clock import RunClock
from griddesk.settings import Settings


def bid_for_run(market_code: str, clock: RunClock, settings: Settings | None = None) -> dict:
    """Optimise the battery on D's forecast and store the schedule, the orders and the order set (status
    ``generated``; see :func:`griddesk.pipeline.bidding_tasks.generate_order_set`)."""
    from griddesk.pipeline.bidding_tasks import generate_order_set

    return generate_order_set(market_code, clock, settings)
