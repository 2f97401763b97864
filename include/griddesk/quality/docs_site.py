"""`make docs`: build GX Data Docs and dbt docs and serve both over HTTP, side by side.

``/gx/`` is the GX local site (``expectations/uncommitted/data_docs/local_site``), rebuilt from the stored
validation results; ``/dbt/`` is ``dbt docs generate`` of the warehouse; ``/`` links to both. The alert emails
and the Airflow UI (``plugins/griddesk_quality_docs.py``) link here (``GRIDDESK_QUALITY_DOCS_URL``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

INDEX_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>GridDesk docs</title></head>
<body style="font-family:sans-serif"><h1>GridDesk documentation</h1><ul>
<li><a href="gx/index.html">Data quality: Great Expectations Data Docs</a> (suites, every validation run)</li>
<li><a href="dbt/index.html">Warehouse: dbt docs</a> (models, columns, lineage, tests)</li>
</ul><p>Alert reference: docs/alerts.md in the repository.</p></body></html>
"""


def build_gx_docs(site_dir: Path, context_root_dir: Path | None = None) -> Path:
    """Build the GX Data Docs of the context and copy them to ``site_dir/gx``; returns that folder."""
    from griddesk.quality.gx_runner import QualityGate

    gate = QualityGate(context_root_dir)
    for name in gate.context.validation_definitions.all():  # load and check every suite's contract
        gate.validation_definition(name.name)
    gate.context.build_data_docs()
    source = gate.context_root_dir / "uncommitted" / "data_docs" / "local_site"
    target = site_dir / "gx"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def build_dbt_docs(site_dir: Path, warehouse_url: str) -> Path:
    """``dbt docs generate --static`` against the warehouse, as ``site_dir/dbt/index.html``; returns that folder.

    The static page embeds the manifest and the catalog, so the site is one file that any HTTP server serves.
    """
    from griddesk.transform.dbt import run_dbt, work_dir_for

    # --no-compile: the docs need the parsed project and the catalog, not compiled SQL (some models query the
    # warehouse while compiling, which fails on a warehouse where they were never built).
    run_dbt(["parse"], warehouse_url)  # writes target/manifest.json, which `docs generate --no-compile` reads
    run_dbt(["docs", "generate", "--no-compile", "--static"], warehouse_url)
    target = site_dir / "dbt"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(work_dir_for(warehouse_url) / "target" / "static_index.html", target / "index.html")
    return target


def build_site(site_dir: Path, warehouse_url: str | None, *, with_dbt: bool = True) -> Path:
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / "index.html").write_text(INDEX_HTML)
    build_gx_docs(site_dir)
    if with_dbt and warehouse_url:
        build_dbt_docs(site_dir, warehouse_url)
    return site_dir


def serve(site_dir: Path, host: str, port: int) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"GridDesk docs: http://{host}:{port}/  (GX: /gx/index.html, dbt: /dbt/index.html)", flush=True)
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    from griddesk.settings import get_settings
    from griddesk.warehouse import db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--no-dbt", action="store_true", help="serve only the GX Data Docs")
    parser.add_argument("--build-only", action="store_true", help="build the site and exit")
    args = parser.parse_args(argv)
    settings = get_settings()
    site = settings.state_dir / "docs_site"
    url = None if args.no_dbt else db.bootstrap(settings)
    build_site(site, url, with_dbt=not args.no_dbt)
    if not args.build_only:
        serve(site, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
