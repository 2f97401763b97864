"""Airflow UI links to GridDesk's data-quality Data Docs and dbt docs (served by `make docs`).

Airflow 3 plugins add links through ``external_views``: a "Docs" menu entry, and a tab on every DAG. The base
URL is ``GRIDDESK_QUALITY_DOCS_URL`` (default http://localhost:8081), the same one the alert emails link to.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

_BASE = os.environ.get("GRIDDESK_QUALITY_DOCS_URL", "http://localhost:8081").rstrip("/")


class GridDeskQualityDocsPlugin(AirflowPlugin):
    name = "griddesk_quality_docs"
    external_views = [
        {"name": "Data quality (GX Data Docs)", "href": f"{_BASE}/gx/index.html", "destination": "nav",
         "category": "docs"},
        {"name": "Warehouse (dbt docs)", "href": f"{_BASE}/dbt/index.html", "destination": "nav", "category": "docs"},
        {"name": "Data Docs", "href": f"{_BASE}/gx/index.html", "destination": "dag"},
    ]  # fmt: skip
