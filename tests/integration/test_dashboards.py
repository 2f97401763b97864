"""The dashboards, proven without Grafana: every provisioned panel's SQL (macros expanded) runs as the read-only
``griddesk_bi`` role against marts built by a real end-to-end run, and returns rows of the expected columns.

The run: real Airflow DAG runs (``dag.test()``) of the backfill, a live-mode morning and afternoon (orders go to
the simulator's order API and their executions come back), a plant-telemetry poll, the operational feeds with an
injected weather-API failure (their GX run warns about the thin telemetry day), and the API-health watch (both
email through a real SMTP server), then the bidding backtest's task body over the last 5 days and a full dbt
build. Everything as the pipelines run it: the loader role, dbt as the transform role, no superuser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest
import requests
import yaml

from griddesk import datasets
from griddesk.cli import load_dag, run_dag
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.dashboards import grafana, panels
from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.simulator.security import admin_headers
from griddesk.warehouse import db, roles
from tests.conftest import SHARED_DATA, _drop_database, _fresh_database
from tests.plugins.smtp import SmtpSink, _free_port, _Handler

pytestmark = pytest.mark.slow

MARKET = "FR"
HISTORY_DAYS = 35
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = PROJECT_ROOT / "reports" / "local-dashboard.png"


class Built:
    def __init__(self, url: str, day, sink: SmtpSink) -> None:
        self.url, self.day, self.sink = url, day, sink
        self.bi_url = db.role_url(url, roles.BI)
        self.now = datetime.now(UTC)
        # The market panels' range: the backfill and the run day, as a user would pick them in the time picker.
        self.start = datetime.combine(day - timedelta(days=HISTORY_DAYS), time(), tzinfo=UTC)
        self.end = datetime.combine(day + timedelta(days=2), time(), tzinfo=UTC)

    def query(self, sql: str, url: str | None = None) -> pd.DataFrame:
        with psycopg2.connect(url or self.url) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="module")
def built(pg_server_url, start_simulator):
    from aiosmtpd.controller import Controller

    from griddesk.feeds.tasks import feeds_sim_now
    from griddesk.quality.tasks import run_watch
    from griddesk.reporting.bidding_benchmark import run_and_store_market
    from griddesk.runtime import migrate_airflow_db
    from griddesk.transform.dbt import build

    real = SHARED_DATA.is_dir()
    sim_settings = Settings(markets=MARKET, data_dir=SHARED_DATA / "epftoolbox_datasets" if real else None)
    frame = (
        datasets.load_epftoolbox(MARKET, sim_settings.resolved_data_dir)
        if real
        else datasets.synthetic_epftoolbox(MARKET)
    )
    sim = start_simulator(settings=sim_settings, frames=None if real else {MARKET: frame})
    name = f"gd_dash_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    day = frame["delivery_date_local"].max()
    sink = SmtpSink("127.0.0.1", _free_port())
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "GRIDDESK_WAREHOUSE_URL": url,
            "GRIDDESK_SIMULATOR_URL": sim,
            "GRIDDESK_MARKETS": MARKET,
            "GRIDDESK_FORECAST_HISTORY_DAYS": str(HISTORY_DAYS - 8),
            "GRIDDESK_BIDDING_MODE": "live",
            "GRIDDESK_WEATHER_LOCATIONS": MARKET,
            "GRIDDESK_CKW_TARIFF_NAMES": "home_dynamic",
            "GRIDDESK_FEEDS_BACKOFF_S": "0.01",
            "GRIDDESK_ALERT_EMAIL_TO": "desk@example.com",
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "griddesk@example.com"},
                }
            ),
        }.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        migrate_airflow_db({})
        first = day - timedelta(days=HISTORY_DAYS)
        run_dag(
            load_dag("griddesk_backfill"),
            RunClock(day, MORNING).sim_now(MARKET) - timedelta(hours=1),
            {"first_day": str(first), "last_day": str(day - timedelta(days=1)), "markets": MARKET},
        )
        conf = {"delivery_date": str(day), "markets": MARKET}
        run_dag(load_dag("griddesk_morning"), RunClock(day, MORNING).sim_now(MARKET), conf)
        run_dag(load_dag("griddesk_afternoon"), RunClock(day, AFTERNOON).sim_now(MARKET), conf)
        # One plant poll the day before the feeds' run day: too few samples for that day, a GX warning (and its
        # email) in the feeds run. Two failed attempts of the weather archive before the retry succeeds: API
        # errors and an API-health alert.
        feeds_day = day - timedelta(days=1)
        poll_at = datetime.combine(feeds_day - timedelta(days=1), time(12, 5), tzinfo=UTC)
        run_dag(load_dag("griddesk_plant_telemetry"), poll_at, {"sim_now": poll_at.isoformat()})
        requests.post(
            f"{sim}/admin/faults",
            headers=admin_headers(),
            json={"endpoint": "weather.archive", "kind": "http_5xx", "status": 503, "times": 2},
            timeout=10,
        ).raise_for_status()
        run_dag(load_dag("griddesk_feeds"), feeds_sim_now(feeds_day), {"run_date": str(feeds_day)})
        run_watch("api_health", feeds_day, datetime.now(UTC))
        # The strategy backtest of the last 5 days, as griddesk_bidding_backtest runs it (perfect foresight and the
        # published LEAR reference where ../shared has it; no GridDesk forecast, which the benchmarks cover).
        run_and_store_market(MARKET, 5, "2h", forecast="none")
        build(db.warehouse_url())  # every mart, as the afternoon's full build does
        yield Built(url, day, sink)
    controller.stop()
    get_settings.cache_clear()
    _drop_database(pg_server_url, name)


# ------------------------------------------------------------------------------------------------ the panels


def provisioned_dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(grafana.DASHBOARD_DIR.glob("*.json"))]


def _panel_cases() -> list:
    expected = {(d.uid, p.title): p for d in panels.DASHBOARDS for p in d.panels}
    cases = []
    for dashboard in provisioned_dashboards():
        for panel in dashboard["panels"]:
            spec = expected[(dashboard["uid"], panel["title"])]
            cases.append(pytest.param(dashboard, panel, spec, id=f"{dashboard['uid']}/{panel['title']}"))
    return cases


PANEL_CASES = _panel_cases()


def _variables(built: Built, dashboard: dict) -> dict[str, list[str]]:
    """The values of each templating variable, from its own query run as griddesk_bi (Grafana's "All")."""
    return {
        v["name"]: [str(x) for x in built.query(v["query"], built.bi_url).iloc[:, 0]]
        for v in dashboard["templating"]["list"]
    }


@pytest.mark.parametrize(("dashboard", "panel", "spec"), PANEL_CASES)
def test_panel_query_returns_rows_of_its_columns_as_griddesk_bi(built, dashboard, panel, spec):
    start, end = built.start, built.end
    if panel.get("timeFrom"):  # a wall-clock panel: Grafana's relative time override
        start, end = built.now - timedelta(days=int(panel["timeFrom"].rstrip("d"))), built.now + timedelta(minutes=5)
    (target,) = panel["targets"]
    assert target["datasource"]["uid"] == panels.DATASOURCE_UID and target["rawQuery"] is True
    sql = panels.expand(target["rawSql"], start, end, _variables(built, dashboard))
    assert "$" not in sql, sql
    rows = built.query(sql, built.bi_url)
    assert tuple(rows.columns) == spec.columns
    assert len(rows) > 0, f"no rows for {panel['title']}:\n{sql}"
    if spec.is_time_series:
        assert rows["value"].notna().any() and rows["time"].notna().all()


def test_every_provisioned_query_was_run_as_a_panel_case():
    n_targets = sum(len(p["targets"]) for d in provisioned_dashboards() for p in d["panels"])
    assert n_targets == len(PANEL_CASES) == sum(len(d.panels) for d in panels.DASHBOARDS)
    print(f"\nGrafana panel queries run as griddesk_bi: {n_targets}")


@pytest.mark.parametrize("rule", grafana.alert_rules(), ids=lambda r: r.uid)
def test_alert_rule_query_returns_a_number_per_series_as_griddesk_bi(built, rule):
    provisioned = yaml.safe_load(grafana.ALERT_RULES_FILE.read_text())
    (query,) = [
        q
        for g in provisioned["groups"]
        for r in g["rules"]
        if r["uid"] == rule.uid
        for q in r["data"]
        if q["refId"] == "A"
    ]
    rows = built.query(panels.expand(query["model"]["rawSql"], built.start, built.end, {}), built.bi_url)
    assert list(rows.columns)[-1] == "value" and len(rows.columns) == 2
    assert rows["value"].map(lambda v: isinstance(v, (int, float, np.number)) or v is None).all()


def test_the_api_health_alert_fires_on_the_failures_the_watch_emailed(built):
    """The Grafana rule and the email agree: the injected 503s put weather.archive below 90 %."""
    (rule,) = [r for r in grafana.alert_rules() if r.uid == "griddesk-api-health"]
    rows = built.query(rule.sql, built.bi_url).set_index("endpoint")["value"]
    assert rows["weather.archive"] < rule.threshold
    subjects = [m["Subject"] for m in built.sink.messages]
    assert any("API health below threshold for weather.archive" in s for s in subjects), subjects
    assert any("raw_ckw_plant_telemetry has warnings" in s for s in subjects), subjects


# ------------------------------------------------------------------------------------------------ the marts


def test_every_mart_and_mart_column_has_a_comment_in_the_database(built):
    missing = built.query("""
        select c.relname as mart, a.attname as column_name
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'marts' and c.relkind in ('r', 'v', 'p')
          and coalesce(col_description(c.oid, a.attnum), '') = ''""")
    assert missing.empty, missing.to_string()
    undocumented = built.query("""select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                  where n.nspname = 'marts' and c.relkind in ('r', 'v', 'p')
                                    and coalesce(obj_description(c.oid, 'pg_class'), '') = ''""")
    assert undocumented.empty, undocumented.to_string()
    # The BI role reads the comments too (they are its documentation).
    comment = built.query("select col_description('marts.fct_bid_success_daily'::regclass, 1) as c", built.bi_url)
    assert "market" in comment["c"].iloc[0].lower()


def test_bid_success_is_accepted_over_offered_from_the_live_executions(built):
    executions = built.query("select * from marts.fct_bid_executions")
    assert not executions.empty and set(executions["trading_mode"]) == {"live"}
    success = built.query("select * from marts.fct_bid_success_daily")
    (row,) = success.itertuples()
    assert row.is_shadow is False and row.order_count == len(executions)
    assert row.accepted_order_count == executions["is_accepted"].sum()
    offered = (executions["volume_mw"] * executions["resolution_minutes"] / 60).sum()
    assert row.volume_success_rate == pytest.approx(executions["accepted_energy_mwh"].sum() / offered)


def test_storage_utilisation_follows_the_bid_schedule(built):
    schedule = built.query(f"select * from marts.fct_bid_schedules where delivery_date_local = '{built.day}'")
    (row,) = built.query(
        f"select * from marts.fct_storage_utilisation_daily where delivery_date_local = '{built.day}'"
    ).itertuples()
    discharged = (schedule["discharge_mw"] * schedule["resolution_minutes"] / 60).sum()
    assert row.equivalent_full_cycles == pytest.approx(discharged / schedule["battery_energy_mwh"].max())
    assert row.idle_hours == pytest.approx((schedule["action"] == "idle").sum() * 1.0)
    assert row.soc_range_pct == pytest.approx(schedule["soc_pct"].max() - schedule["soc_pct"].min())


def test_api_health_names_every_external_api_and_which_ones_log_their_calls(built):
    apis = built.query("select * from marts.dim_external_apis", built.bi_url).set_index("api_code")
    assert set(apis.index) == {"entsoe", "orders", "ckw", "oauth", "weather", "meters", "bms"}
    # What raw logs today; ENTSO-E and the order API are listed, without logged calls until their clients log.
    logged = set(built.query("select distinct split_part(endpoint, '.', 1) as a from raw.api_call_log")["a"])
    assert logged <= set(apis.index) and set(apis.index[apis["has_logged_calls"]]) == logged
    assert apis.loc["weather", "has_logged_calls"] and apis.loc["ckw", "has_logged_calls"]
    failures = built.query("select * from marts.fct_api_call_failures", built.bi_url)
    assert (failures["endpoint"] == "weather.archive").sum() >= 2 and set(failures["status_code"].dropna()) >= {503}


# ------------------------------------------------------------------------------------------------ local dashboard


def test_local_dashboard_renders_every_panel_and_shows_in_headless_chromium(built, tmp_path):
    from griddesk.dashboards.local import build_local_dashboard

    page, results = build_local_dashboard(built.bi_url, tmp_path / "dashboard", days=HISTORY_DAYS, now=built.now)
    assert [r.title for r in results if r.error] == []
    assert len(results) == len(PANEL_CASES)
    text = page.read_text()
    assert "Plotly.newPlot" in text and "no data in this range" not in text.split("GridDesk: Energy Trading")[0]
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: the HTML was built and checked, the screenshot is not taken")
    from PIL import Image

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    profile = tmp_path / "chromium-profile"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={SCREENSHOT}",
            "--window-size=1400,2400",
            "--virtual-time-budget=10000",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    shutil.rmtree(profile, ignore_errors=True)
    image = Image.open(SCREENSHOT).convert("RGB")
    assert image.size == (1400, 2400)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    print(f"\nlocal dashboard screenshot: {SCREENSHOT}")


def test_run_summary_prints_a_working_bi_connection_string_and_no_secret(built, capsys):
    from griddesk.reporting.summary import print_run_summary

    settings = get_settings()
    print_run_summary(db.warehouse_url(settings), settings, [built.day], wall_seconds=None)
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("BI (read-only marts")]
    conninfo = line.split("psql '", 1)[1].rstrip("'")
    assert built.query("select current_user as u", conninfo)["u"].iloc[0] == roles.BI
    assert not [p for p in db.role_passwords(settings).values() if p in out]
    assert "Local dashboard (" in out and "failed" not in out.split("Local dashboard (", 1)[1].split(")")[0]
