"""The local dashboard for `make run` users without Docker: one static HTML page with the Grafana dashboards'
own queries, run as ``griddesk_bi``.

Choice: plotly (a maintained PyPI package) renders each time series into an interactive chart; tables are plain
HTML. plotly.js is inlined once, so the page works offline from ``file://``. Limits: a snapshot (rerun `make
dashboard` to refresh), no time picker (market panels show the last 7 delivery days in the data, wall-clock panels
the last 7 days up to now, as in Grafana), no alerting, tables cut at 50 rows.

    python -m griddesk.dashboards.local [--out DIR] [--days N]
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import psycopg2

from griddesk.dashboards.panels import DASHBOARDS, Dashboard, Panel, expand, panel_range
from griddesk.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 50


@dataclass(frozen=True)
class PanelResult:
    """What one panel's query returned (or why it failed)."""

    dashboard_uid: str
    title: str
    sql: str
    frame: pd.DataFrame | None
    error: str | None

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


def run_query(conn, sql: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def variable_values(conn, dashboard: Dashboard) -> dict[str, list[str]]:
    """Every value of each dashboard variable ("All", as the dashboards open)."""
    return {v.name: [str(r) for r in run_query(conn, v.sql).iloc[:, 0]] for v in dashboard.variables}


def market_data_range(conn, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` delivery days in the price mart (UTC midnight to midnight); the last week to now without."""
    latest = run_query(conn, "select max(delivery_date_local) as d from marts.fct_day_ahead_prices")["d"].iloc[0]
    if latest is None or pd.isna(latest):
        now = datetime.now(UTC)
        return now - timedelta(days=days), now
    end = datetime.combine(latest + timedelta(days=1), time(), tzinfo=UTC)
    return end - timedelta(days=days + 1), end


def run_dashboard(conn, dashboard: Dashboard, start: datetime, end: datetime, now: datetime) -> list[PanelResult]:
    """Every panel's query with the macros expanded for the range; a failing query is reported, not raised."""
    variables = variable_values(conn, dashboard)
    results = []
    for panel in dashboard.panels:
        sql = expand(panel.sql, *panel_range(panel, start, end, now), variables)
        try:
            frame, error = run_query(conn, sql), None
        except psycopg2.Error as exc:
            conn.rollback()
            frame, error = None, (exc.pgerror or str(exc)).strip()
        results.append(PanelResult(dashboard.uid, panel.title, sql, frame, error))
    return results


def _figure_html(panel: Panel, frame: pd.DataFrame) -> str:
    import plotly.graph_objects as go

    times = frame["time"]
    if not pd.api.types.is_datetime64_any_dtype(times):
        epochs = pd.to_numeric(times, errors="coerce")  # $__timeGroupAlias gives epoch seconds, as Grafana reads them
        times = pd.to_datetime(epochs, unit="s", utc=True) if epochs.notna().all() else pd.to_datetime(times, utc=True)
    fig = go.Figure()
    for metric, part in frame.assign(time=times).groupby("metric", sort=True):
        fig.add_trace(go.Scatter(x=part["time"], y=part["value"], mode="lines+markers", name=str(metric)))
    fig.update_layout(
        height=360, margin={"l": 50, "r": 20, "t": 10, "b": 40}, yaxis_title=panel.unit or None, legend_orientation="h"
    )
    first, last = pd.Timestamp(times.min()), pd.Timestamp(times.max())
    if last - first < pd.Timedelta(days=1):  # one day of daily points: show a readable day axis around them
        fig.update_xaxes(range=[first - pd.Timedelta(days=1), last + pd.Timedelta(days=1)], tickformat="%Y-%m-%d")
    return fig.to_html(full_html=False, include_plotlyjs=False)


def _table_html(frame: pd.DataFrame) -> str:
    shown = frame.head(MAX_TABLE_ROWS)
    shown = shown.astype(object).where(shown.notna(), "")  # SQL NULL as an empty cell, not "None"
    note = f"<p class='note'>first {MAX_TABLE_ROWS} of {len(frame)} rows</p>" if len(frame) > MAX_TABLE_ROWS else ""
    return (
        shown.to_html(index=False, na_rep="", border=0, classes="panel-table", float_format=lambda v: f"{v:,.3f}")
        + note
    )


def panel_html(panel: Panel, result: PanelResult) -> str:
    """One panel: its chart or table, or what went wrong."""
    head = f"<h3>{html.escape(panel.title)}</h3><p class='desc'>{html.escape(panel.description)}</p>"
    if result.error is not None:
        body = f"<pre class='error'>query failed: {html.escape(result.error)}</pre>"
    elif result.frame is None or result.frame.empty:
        body = "<p class='empty'>no data in this range</p>"
    elif panel.is_time_series:
        body = _figure_html(panel, result.frame)
    else:
        body = _table_html(result.frame)
    return f"<section class='panel w{panel.width}'>{head}{body}</section>"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1f2328; }
header { background: #1f2937; color: #fff; padding: 12px 24px; }
header a { color: #93c5fd; margin-right: 16px; }
main { padding: 12px 24px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.panel { background: #fff; border-radius: 6px; padding: 8px 12px; box-sizing: border-box; overflow-x: auto; }
.w24 { flex: 1 1 100%; } .w12 { flex: 1 1 calc(50% - 12px); min-width: 480px; }
.desc, .note { color: #57606a; font-size: 12px; }
.empty { color: #57606a; font-style: italic; }
.error { color: #b42318; white-space: pre-wrap; }
.panel-table { border-collapse: collapse; font-size: 12px; }
.panel-table th, .panel-table td { padding: 3px 8px; border-bottom: 1px solid #e5e7eb; text-align: left; }
"""


def render_html(sections: list[tuple[Dashboard, list[PanelResult]]], start: datetime, end: datetime) -> str:
    """The whole page; plotly.js is inlined once in the head."""
    from plotly.offline import get_plotlyjs

    nav = " ".join(f"<a href='#{d.uid}'>{html.escape(d.title)}</a>" for d, _ in sections)
    body = []
    for dashboard, results in sections:
        panels = "".join(panel_html(p, r) for p, r in zip(dashboard.panels, results, strict=True))
        body.append(
            f"<h2 id='{dashboard.uid}'>{html.escape(dashboard.title)}</h2>"
            f"<p class='desc'>{html.escape(dashboard.description)}</p><div class='grid'>{panels}</div>"
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>GridDesk dashboards</title>"
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<header><strong>GridDesk dashboards</strong> &middot; market data {start:%Y-%m-%d} .. "
        f"{end - timedelta(seconds=1):%Y-%m-%d} (UTC) &middot; generated {generated} as griddesk_bi"
        f"<br>{nav}</header><main>{''.join(body)}</main></body></html>"
    )


def build_local_dashboard(
    bi_url: str, out_dir: Path, days: int = 7, now: datetime | None = None
) -> tuple[Path, list[PanelResult]]:
    """Run every dashboard's queries as ``griddesk_bi`` (``bi_url``) and write ``out_dir/index.html``.

    Returns the page's path and every panel's result.
    """
    now = now or datetime.now(UTC)
    conn = psycopg2.connect(bi_url)
    try:
        conn.set_session(readonly=True, autocommit=True)
        start, end = market_data_range(conn, days)
        sections = [(d, run_dashboard(conn, d, start, end, now)) for d in DASHBOARDS]
    finally:
        conn.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "index.html"
    page.write_text(render_html(sections, start, end))
    return page, [r for _, results in sections for r in results]


def default_output(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).state_dir / "dashboard"


def main(argv: list[str] | None = None) -> int:
    from griddesk.warehouse import db, roles

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <state_dir>/dashboard)")
    parser.add_argument("--days", type=int, default=7, help="delivery days the market panels show")
    args = parser.parse_args(argv)
    settings = get_settings()
    bi_url = db.role_url(db.bootstrap(settings), roles.BI, settings)
    page, results = build_local_dashboard(bi_url, args.out or default_output(settings), args.days)
    failed = [r for r in results if r.error]
    empty = [r.title for r in results if not r.error and r.rows == 0]
    print(f"Dashboard: file://{page.resolve()}  ({len(results)} panels, {len(empty)} without data in the range)")
    for r in failed:
        print(f"  FAILED {r.dashboard_uid} / {r.title}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
