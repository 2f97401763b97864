"""`make docs`: Data Docs and dbt docs built from a real validation and warehouse, served over real HTTP."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime

import pytest
import requests

from griddesk.quality import docs_site
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, QualityGate
from griddesk.quality.store import store_results
from griddesk.warehouse import db

pytestmark = pytest.mark.slow


def test_docs_site_serves_gx_data_docs_beside_dbt_docs(tmp_path, warehouse_url):
    root = tmp_path / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    gate = QualityGate(root)
    results = gate.validate_prices(
        warehouse_url, [("FR", datetime(2016, 12, 24).date())], datetime.now(UTC), "docs-run"
    )
    assert not results[0].passed_critical  # an empty day: a validation result worth a page
    with db.connect(warehouse_url) as conn:
        store_results(conn, results, "docs-run")

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(docs_site.INDEX_HTML)
    docs_site.build_gx_docs(site, warehouse_url, root)
    docs_site.build_dbt_docs(site, warehouse_url)

    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        index = requests.get(f"{base}/", timeout=10)
        assert index.ok and 'href="gx/index.html"' in index.text and 'href="dbt/index.html"' in index.text
        gx = requests.get(f"{base}/gx/index.html", timeout=10)
        assert gx.ok and "raw_day_ahead_prices" in gx.text and "raw_meter_readings" in gx.text
        page = docs_site.validation_path("raw_day_ahead_prices", "FR", "2016-12-24", "docs-run")
        assert f'href="{page.removeprefix("gx/")}"' in gx.text  # the index lists the validation and links it
        result = requests.get(f"{base}/{page}", timeout=10)
        assert result.ok and "FAILED" in result.text and "mtu_count_matches_day" in result.text
        # Offline: no page loads anything from another host.
        assert "//cdn" not in gx.text + result.text and "<script" not in gx.text
        dbt = requests.get(f"{base}/dbt/index.html", timeout=10)
        assert dbt.ok and "model.griddesk.fct_data_quality_daily_summary" in dbt.text  # the embedded manifest
        assert "cloudfront" not in dbt.text
    finally:
        server.shutdown()
        server.server_close()


def test_airflow_plugin_links_the_data_docs():
    import importlib.util

    from griddesk.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location(
        "griddesk_quality_docs", PROJECT_ROOT / "plugins" / "griddesk_quality_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views = module.GridDeskQualityDocsPlugin.external_views
    assert {v["href"] for v in views} >= {"http://127.0.0.1:8081/gx/index.html", "http://127.0.0.1:8081/dbt/index.html"}
    assert {v["destination"] for v in views} == {"nav", "dag", "dag_run"}
    # Airflow 3 shows an external view as a page (and a DAG tab at all) only when it has a url_route.
    assert all(v.get("url_route") for v in views)
