"""The consumption dbt build (the marts in dbt_project/models/marts/consumption and their ancestors)."""

from __future__ import annotations

from griddesk.warehouse import db

#: The consumption marts and their ancestors; dim_meters too, which fct_meter_consumption's tests refer to.
DBT_SELECT = ["+tag:consumption", "+dim_meters"]


def dbt_build_consumption(url: str | None = None) -> dict:
    """One ``dbt build`` of the consumption marts and everything they depend on."""
    from griddesk.transform.dbt import build

    result = build(url or db.warehouse_url(), select=DBT_SELECT)
    return {"nodes": len(result.nodes), "seconds": round(result.elapsed_s, 2)}
