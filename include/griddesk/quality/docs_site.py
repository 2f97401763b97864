"""The docs site: Data Docs of every validation and the dbt docs, as plain self-contained HTML that works offline.

``<state_dir>/docs_site/``:
- ``gx/index.html``: every suite and every validation run (newest first), from ``raw.dq_validation_results``;
- ``gx/validations/<suite>/<scope>/<day>/<run>.html``: one page per validated (suite, scope, day) of a run, with
  each expectation's verdict, severity, observed and expected value. Alerts link to exactly this page;
- ``gx/suites/<suite>.html``: the expectations of a suite (from ``expectations/expectations/*.json``);
- ``dbt/index.html``: ``dbt docs generate --static`` with its one remote script (snowplow tracking) removed.

No page loads anything from another host: GX's own Data Docs pull jQuery, Bootstrap and Font Awesome from CDNs and
render their validation list with JavaScript, so offline they were unstyled and empty. These pages carry inline
CSS only and no script. The validation pages and the index are rewritten after every validation run
(:func:`publish_results`, called by the quality tasks), so the site is never a stale snapshot.

`make docs` builds everything and serves it on 127.0.0.1:``GRIDDESK_DOCS_PORT`` (default 8081); `make ui` serves it
too. Links (alerts, the Airflow UI's tabs) use ``GRIDDESK_PUBLIC_URL``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import logging
import re
import shutil
from collections.abc import Iterable
from datetime import date
from html import escape
from pathlib import Path

from griddesk.quality.store import validation_index, validation_rows

log = logging.getLogger(__name__)

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    ".fail{background:#fde2e1}.ok{color:#256029}.bad{color:#a00;font-weight:bold}.warn{color:#8a5a00}"
    "a{color:#0645ad}code{font-size:12px}"
)

INDEX_HTML = f"""<!doctype html><html><head><meta charset="utf-8"><title>GridDesk docs</title>
<style>{STYLE}</style></head><body><h1>GridDesk documentation</h1><ul>
<li><a href="gx/index.html">Data quality: Data Docs</a> (every suite, every validation run)</li>
<li><a href="dbt/index.html">Warehouse: dbt docs</a> (models, columns, lineage, tests)</li>
</ul><p>What each alert means and what to do: docs/alerts.md in the repository.</p></body></html>
"""

#: The one remote resource in dbt's static docs page: its snowplow tracker. Replaced by an empty script.
_DBT_REMOTE_SCRIPT = re.compile(r'"//[a-z0-9.-]+\.cloudfront\.net/[^"]*sp\.js"')


def _slug(value: str) -> str:
    """A file-name-safe form of a run id or scope (``manual__2016-12-30T10:00:00+00:00`` -> ``manual__2016-...``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("_") or "_"


def validation_path(suite: str, scope: str, day: date | str, run_id: str) -> str:
    """The page of one validation, relative to the site root: ``gx/validations/<suite>/<scope>/<day>/<run>.html``."""
    return f"gx/validations/{_slug(suite)}/{_slug(scope)}/{day}/{_slug(run_id)}.html"


def validation_url(base_url: str, suite: str, scope: str, day: date | str, run_id: str) -> str:
    """The public URL of that page under ``base_url`` (``GRIDDESK_PUBLIC_URL``)."""
    return f"{base_url.rstrip('/')}/{validation_path(suite, scope, day, run_id)}"


def _page(title: str, body: str, root: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style>'
        f'</head><body><p><a href="{root}index.html">GridDesk docs</a> · <a href="{root}gx/index.html">Data Docs'
        f"</a></p><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _table(columns: Iterable[str], rows: Iterable[tuple[str, Iterable[object]]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_validation_page(
    suite: str, scope: str, day: date | str, run_id: str, validated_at: str, rows: list[dict]
) -> str:
    """One validation: verdict line and a row per expectation (failed first). ``rows``: dicts with the columns of
    ``raw.dq_validation_results`` (expectation_id, expectation_type, severity, success, observed_value, expected).
    Every value is HTML-escaped."""
    failed_critical = [r for r in rows if not r["success"] and r["severity"] == "critical"]
    failed = [r for r in rows if not r["success"]]
    if failed_critical:
        verdict = (
            f'<p class="bad">FAILED: {len(failed_critical)} critical expectation(s) failed. A critical '
            "failure blocks the market-day or feed-day (docs/alerts.md).</p>"
        )
    elif failed:
        verdict = f'<p class="warn">Warnings: {len(failed)} expectation(s) failed; nothing is blocked.</p>'
    else:
        verdict = '<p class="ok">Passed: every expectation succeeded.</p>'
    ordered = sorted(rows, key=lambda r: (r["success"], r["severity"] != "critical", r["expectation_id"]))
    table = _table(
        ("Expectation", "Type", "Severity", "Result", "Observed", "Expected"),
        (
            (
                "" if r["success"] else "fail",
                (
                    f"<code>{escape(r['expectation_id'])}</code>",
                    escape(r["expectation_type"]),
                    escape(r["severity"]),
                    "passed" if r["success"] else "<b>FAILED</b>",
                    escape(str(r.get("observed_value") or "")),
                    escape(str(r.get("expected") or "")),
                ),
            )
            for r in ordered
        ),
    )
    meta = (
        f'<p>Suite <a href="../../../../suites/{_slug(suite)}.html"><code>{escape(suite)}</code></a>, scope '
        f"<b>{escape(scope)}</b>, data day <b>{escape(str(day))}</b>, run <code>{escape(run_id)}</code>, "
        f"validated at {escape(validated_at)} UTC.</p>"
    )
    return _page(f"{suite} · {scope} · {day}", meta + verdict + table, "../../../../../")


def _group(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["run_id"], r["suite_name"], r["market_code"], r["delivery_date_local"]), []).append(r)
    return groups


def write_validation_pages(site_dir: Path, rows: list[dict]) -> list[Path]:
    """Write the page of every (run, suite, scope, day) in ``rows``; returns the paths written."""
    written = []
    for (run_id, suite, scope, day), group in _group(rows).items():
        path = site_dir / validation_path(suite, scope, day, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_validation_page(suite, scope, day, run_id, group[0]["validated_at"], group))
        written.append(path)
    return written


def suite_files(context_root_dir: Path | None = None) -> list[Path]:
    from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR

    return sorted(((context_root_dir or DEFAULT_CONTEXT_DIR) / "expectations").glob("*.json"))


def write_suite_pages(site_dir: Path, context_root_dir: Path | None = None) -> list[str]:
    """One page per expectation suite: each expectation's name, type, severity and description."""
    names = []
    for path in suite_files(context_root_dir):
        suite = json.loads(path.read_text())
        rows = []
        for e in suite.get("expectations", []):
            meta = e.get("meta", {})
            rows.append(
                (
                    "",
                    (
                        f"<code>{escape(meta.get('name', e.get('id', '')))}</code>",
                        escape(e["type"]),
                        escape(meta.get("severity", e.get("severity", ""))),
                        escape(meta.get("description", "")),
                    ),
                )
            )
        out = site_dir / "gx" / "suites" / f"{_slug(suite['name'])}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            _page(f"Suite {suite['name']}", _table(("Expectation", "Type", "Severity", "What"), rows), "../../")
        )
        names.append(suite["name"])
    return names


def write_gx_index(site_dir: Path, conn, suites: list[str], limit: int = 2000) -> Path:
    """The Data Docs index: suites, then the newest ``limit`` validations with their verdict and link."""
    runs = validation_index(conn, limit)
    suite_list = "".join(f'<li><a href="suites/{_slug(s)}.html">{escape(s)}</a></li>' for s in suites)
    rows = []
    for run_id, suite, scope, day, at, failed_critical, failed, n in runs:
        href = validation_path(suite, scope, day, run_id).removeprefix("gx/")
        verdict = "<b>FAILED</b> (critical)" if failed_critical else f"{failed} warning(s)" if failed else "passed"
        rows.append(
            (
                "fail" if failed_critical else "",
                (
                    escape(at),
                    f'<a href="{href}">{escape(suite)}</a>',
                    escape(scope),
                    escape(str(day)),
                    verdict,
                    f"{n - failed}/{n}",
                    f"<code>{escape(run_id)}</code>",
                ),
            )
        )
    body = f"<h2>Suites</h2><ul>{suite_list}</ul><h2>Validations (newest first)</h2>" + (
        _table(("Validated (UTC)", "Suite", "Scope", "Data day", "Verdict", "Passed", "Run"), rows)
        if rows
        else "<p>No validation has run yet.</p>"
    )
    out = site_dir / "gx" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page("Data Docs", body, "../"))
    return out


def publish_results(conn, run_id: str, site_dir: Path | None = None) -> list[Path]:
    """After a validation run: write its pages and rewrite the index (called by every quality task)."""
    site_dir = site_dir or default_site_dir()
    site_dir.mkdir(parents=True, exist_ok=True)
    if not (site_dir / "index.html").exists():
        (site_dir / "index.html").write_text(INDEX_HTML)
    written = write_validation_pages(site_dir, validation_rows(conn, run_id))
    write_gx_index(site_dir, conn, write_suite_pages(site_dir))
    return written


def build_gx_docs(site_dir: Path, warehouse_url: str | None, context_root_dir: Path | None = None) -> Path:
    """Every suite page, every stored validation's page and the index, under ``site_dir/gx``."""
    suites = write_suite_pages(site_dir, context_root_dir)
    if warehouse_url:
        from griddesk.warehouse import db

        with db.connect(warehouse_url) as conn:
            write_validation_pages(site_dir, validation_rows(conn))
            write_gx_index(site_dir, conn, suites)
    return site_dir / "gx"


def offline_dbt_page(html: str) -> str:
    """dbt's static docs page without its remote tracking script (everything else in it is inline)."""
    return _DBT_REMOTE_SCRIPT.sub('"data:text/javascript,"', html)


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
    page = (work_dir_for(warehouse_url) / "target" / "static_index.html").read_text()
    (target / "index.html").write_text(offline_dbt_page(page))
    return target


def build_site(site_dir: Path, warehouse_url: str | None, *, with_dbt: bool = True) -> Path:
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / "index.html").write_text(INDEX_HTML)
    build_gx_docs(site_dir, warehouse_url)
    if with_dbt and warehouse_url:
        build_dbt_docs(site_dir, warehouse_url)
    return site_dir


def default_site_dir() -> Path:
    from griddesk.settings import get_settings

    return get_settings().state_dir / "docs_site"


def ensure_site(settings) -> Path:
    """Build the site once if it does not exist yet (`make ui` serves it; validations keep it current).

    The build runs in a child process whose output (dbt's) goes to state_dir/logs/docs-build.log.
    """
    import subprocess
    import sys

    site = settings.state_dir / "docs_site"
    if not (site / "dbt" / "index.html").exists():
        log_path = settings.state_dir / "logs" / "docs-build.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "griddesk.quality.docs_site", "--build-only"],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode:
            raise RuntimeError(f"building the docs site failed; see {log_path}")
    return site


def serve(site_dir: Path, host: str, port: int) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"GridDesk docs: http://{host}:{port}/  (Data Docs: /gx/index.html, dbt: /dbt/index.html)", flush=True)
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    from griddesk.settings import get_settings
    from griddesk.warehouse import db

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.docs_port)
    parser.add_argument("--no-dbt", action="store_true", help="build only the Data Docs")
    parser.add_argument("--build-only", action="store_true", help="build the site and exit")
    parser.add_argument("--serve-only", action="store_true", help="serve the site as it is (make ui)")
    args = parser.parse_args(argv)
    site = settings.state_dir / "docs_site"
    if not args.serve_only:
        url = db.bootstrap(settings)
        build_site(site, url, with_dbt=not args.no_dbt)
    site.mkdir(parents=True, exist_ok=True)
    if not args.build_only:
        serve(site, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
