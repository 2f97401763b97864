"""The dbt task: one in-process `dbt build` per run, with the run's simulated clock as ``as_of_utc``."""

from __future__ import annotations

from griddesk.clock import RunClock
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db


def dbt_build_for_run(clock: RunClock, select: str | None = None, settings: Settings | None = None) -> None:
    """Build the dbt project (or ``select``) as of the latest simulated clock among the run's markets."""
    from griddesk.transform.dbt import build

    settings = settings or get_settings()
    as_of = max(clock.sim_now(code) for code in settings.market_codes)
    build(db.warehouse_url(settings), select=select, vars={"as_of_utc": as_of.isoformat()})
