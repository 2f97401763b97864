"""Warehouse transformations: the dbt project in dbt_project/, run in-process."""

from griddesk.transform.dbt import DbtError, DbtResult, NodeResult, build, run_dbt

__all__ = ["DbtError", "DbtResult", "NodeResult", "build", "run_dbt"]
