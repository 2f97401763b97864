"""The dbt tasks: one in-process ``dbt build`` per run (with the run's simulated clock as ``as_of_utc``), and the
feeds DAG's build of the feed staging models and the operations marts."""

from __future__ import annotations

from griddesk.clock import RunClock
from griddesk.settings import Settings, get_settings
from griddesk.transform.dbt import build
from griddesk.warehouse import db

#: dbt selection of the feed models: their staging views and the operations marts.
DBT_SELECT = ["tag:feeds", "tag:operations"]


def dbt_build_for_run(clock: RunClock, select: str | None = None, settings: Settings | None = None) -> None:
    """Build the dbt project (or ``select``) as of the latest simulated clock among the run's markets."""
    settings = settings or get_settings()
    as_of = max(clock.sim_now(code) for code in settings.market_codes)
    build(db.warehouse_url(settings), select=select, vars={"as_of_utc": as_of.isoformat()})


def dbt_build_feeds(settings: Settings | None = None) -> dict:
    """One ``dbt build`` of the feed staging models and the operations marts."""
    settings = settings or get_settings()
    result = build(db.warehouse_url(settings), select=DBT_SELECT)
    return {"nodes": len(result.nodes), "seconds": round(result.elapsed_s, 2)}


__all__ = ["DBT_SELECT", "dbt_build_feeds", "dbt_build_for_run"]
