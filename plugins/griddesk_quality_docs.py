"""Airflow UI pages for GridDesk's Data Docs and dbt docs (served by `make ui` / `make docs`).

Airflow 3 shows an external view as a page of its own UI only when it has a ``url_route`` (the page is the
``href`` in a frame); without one, a DAG tab is never shown. So each view has one: two entries in the "Docs"
menu, and a "Data Docs" tab on every DAG and every DAG run. The base URL is ``GRIDDESK_PUBLIC_URL`` (default
http://127.0.0.1:<GRIDDESK_DOCS_PORT>), the same one the alert emails link to.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from griddesk.settings import Settings

_BASE = Settings().docs_public_url


class GridDeskQualityDocsPlugin(AirflowPlugin):
    name = "griddesk_quality_docs"
    external_views = [
        {
            "name": "Data Docs (data quality)",
            "href": f"{_BASE}/gx/index.html",
            "url_route": "griddesk-data-docs",
            "destination": "nav",
            "category": "docs",
        },
        {
            "name": "dbt docs (warehouse)",
            "href": f"{_BASE}/dbt/index.html",
            "url_route": "griddesk-dbt-docs",
            "destination": "nav",
            "category": "docs",
        },
        {"name": "Data Docs", "href": f"{_BASE}/gx/index.html", "url_route": "data-docs", "destination": "dag"},
        {"name": "Data Docs", "href": f"{_BASE}/gx/index.html", "url_route": "run-data-docs", "destination": "dag_run"},
    ]
