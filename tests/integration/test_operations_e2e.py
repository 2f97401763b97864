"""Operating GridDesk as a desk does, end to end, on real processes: `griddesk run` (what `make run` does) drives
the real scheduler + LocalExecutor through the REST API, then `griddesk ui` serves the UI, the API and the docs.

One small window (FR, one delivery day, 35 days of history) in a throw-away state dir with its own embedded
PostgreSQL, simulator, mail catcher, API server and docs site on free loopback ports. The tests prove:
- the runs look like scheduled runs (run id names the delivery day, real start/end) and their task logs are
  served by the API server over HTTP with auth;
- login is required, nothing listens beyond 127.0.0.1, a viewer cannot trigger;
- a GX-blocked market is a skipped task with the reason in its log and the run note; its alert names the delivery
  day, is multipart, and links to its own Data Docs page, which the docs site serves;
- a run for a day whose inputs are not published fails with exactly one alert;
- after a database crash during a task, `griddesk recover` marks the stuck run failed and the next run proceeds;
- in a headless Chromium: log in, the DAG list, a run, a task log, the blocked market, the Data Docs page.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
import requests

from griddesk.airflow_api import run_id_for
from griddesk.clock import MORNING, RunClock
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from tests.integration.helpers import revise_fr_prices
from tests.platform import Platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def platform(server_state_dir):
    p = Platform(server_state_dir("ops"))
    t0 = time.monotonic()
    try:
        out = p.cli("run", timeout=3000)
    except BaseException:
        p.stop_all()
        raise
    p.make_run_seconds = time.monotonic() - t0
    p.make_run_output = out
    p.day = date.fromisoformat(out.split("run days ")[1][:10])
    try:
        p.start_ui()
        yield p
    finally:
        p.stop_all()
        print(
            f"\n[ops e2e] griddesk run {p.make_run_seconds:.0f} s; griddesk ui healthy after "
            f"{', '.join(f'{s:.0f} s' for s in p.ui_seconds)}"
        )


def test_make_run_prints_one_line_per_dag_run_and_no_airflow_log(platform):
    lines = platform.make_run_output.splitlines()
    runs = [line for line in lines if line.startswith("  griddesk_")]
    assert [r.split()[0] for r in runs] == [
        "griddesk_backfill",
        "griddesk_morning",
        "griddesk_afternoon",
        "griddesk_feeds",
    ]
    assert all(" success " in r and r.rstrip().endswith(" s") for r in runs)
    assert len(lines) < 150, "make run should print progress and the summary, not Airflow's logs"
    assert (platform.state / "logs" / "airflow-scheduler.log").stat().st_size > 0


def test_make_run_runs_look_like_scheduled_runs(platform):
    run = platform.api().get_run("griddesk_morning", run_id_for(platform.day))
    assert run["state"] == "success"
    morning_clock = RunClock(platform.day, MORNING).sim_now(get_market("FR"))
    assert run["run_after"].startswith(morning_clock.strftime("%Y-%m-%dT%H:%M"))  # run-after: D-1, the run clock
    assert run["conf"]["delivery_date"] == platform.day.isoformat()
    from datetime import datetime

    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    assert start.year == datetime.now().year and timedelta(0) < end - start < timedelta(hours=1)


def test_task_log_of_a_make_run_run_is_served_by_the_api_server_with_auth(platform):
    api = platform.api()
    url = (
        f"{platform.base}/api/v2/dags/griddesk_morning/dagRuns/{run_id_for(platform.day)}/taskInstances/validate/logs/1"
    )
    assert requests.get(url, timeout=30).status_code in (401, 403)
    text = api.task_log("griddesk_morning", run_id_for(platform.day), "validate", 1)
    assert "Log file not found" not in text
    assert "GX context" in text and "Done. Returned value was" in text


def test_api_requires_login_and_nothing_listens_beyond_loopback(platform):
    assert requests.get(f"{platform.base}/api/v2/dags", timeout=30).status_code in (401, 403)
    bad = requests.post(f"{platform.base}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30)
    assert bad.status_code in (401, 403)
    ours = set()
    for pid_file in platform.state.glob("*.pid"):
        try:
            proc = psutil.Process(int(pid_file.read_text()))
            ours |= {proc.pid, *(c.pid for c in proc.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ours]
    assert {c.laddr.port for c in listening} >= {platform.ports["api"], platform.ports["docs"]}
    assert all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening), listening


def test_viewer_can_look_but_cannot_trigger(platform):
    viewer = platform.api("trader")
    assert viewer.call("GET", "/dags/griddesk_morning")
    resp = viewer.call("POST", "/dags/griddesk_morning/dagRuns", ok=(401, 403), json={"logical_date": None, "conf": {}})
    assert resp.status_code == 403


@pytest.fixture(scope="module")
def blocked_run(platform):
    """A corrected FR price day (x1000, above the +3,000 bound) published before D's morning; D's morning rerun.

    The loader refuses such a publication (nothing of it stored) and the gate blocks FR on the refusal
    (``no_refused_publication``); ``price_within_market_bounds`` stays as GX's own second line behind it.
    """
    d1 = platform.day - timedelta(days=1)
    published = RunClock(platform.day, MORNING).sim_now(get_market("FR")) - timedelta(hours=1)
    admin = admin_headers(Settings(state_dir=platform.state))  # the platform's simulator has its own state dir
    revise_fr_prices(platform.env["GRIDDESK_SIMULATOR_URL"], d1, 1000, published, headers=admin)
    platform.cli("trigger", "griddesk_morning", "--day", str(platform.day))
    return run_id_for(platform.day)


def test_gx_blocked_market_is_a_skipped_task_with_the_reason_in_its_log_and_the_run_note(platform, blocked_run):
    api = platform.api()
    tis = {(t["task_id"], t["map_index"]): t for t in api.task_instances("griddesk_morning", blocked_run)}
    gate = tis[("quality_gate", 0)]
    assert gate["state"] == "skipped" and gate["rendered_map_index"] == "FR"
    log = api.task_log("griddesk_morning", blocked_run, "quality_gate", gate["try_number"], 0)
    reason = f"FR blocked for delivery day {platform.day}"
    assert reason in log and "no_refused_publication" in log
    assert reason in (api.get_run("griddesk_morning", blocked_run)["note"] or "")
    assert not any(t == "forecast" and m >= 0 and tis[(t, m)]["state"] == "success" for t, m in tis)


def test_blocked_market_alert_names_the_delivery_day_and_links_its_validation_page(platform, blocked_run):
    d1 = platform.day - timedelta(days=1)
    critical = [m for m in platform.mails() if "[CRITICAL] raw_day_ahead_prices" in m["Subject"]]
    assert len(critical) == 1
    msg = critical[0]
    assert f"FR delivery day {platform.day} (data of {d1})" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert f"What GridDesk did | No forecast and no orders for FR on {platform.day}." in text
    assert "What to do next | " in text
    link = f"{platform.docs}/gx/validations/raw_day_ahead_prices/FR/{d1}/{blocked_run}.html"
    assert link in text and link in msg.get_body(preferencelist=("html",)).get_content()
    page = requests.get(link, timeout=30)
    assert page.ok and "FAILED" in page.text and "no_refused_publication" in page.text


def test_a_run_whose_inputs_never_come_fails_with_exactly_one_alert(platform):
    """Like unpausing griddesk_morning on a day without data: no silent success, no CRITICAL per market."""
    before = len(platform.mails())
    after_end = platform.day + timedelta(days=1)  # beyond the data: nothing is ever published for it
    with pytest.raises(AssertionError, match="ended failed"):
        platform.cli("trigger", "griddesk_morning", "--day", str(after_end))
    api = platform.api()
    tis = {t["task_id"]: t["state"] for t in api.task_instances("griddesk_morning", run_id_for(after_end))}
    assert tis["wait_for_inputs"] == "failed" and tis.get("validate") in (None, "upstream_failed")
    new = platform.mails()[before:]
    assert len(new) == 1 and "inputs not published" in new[0]["Subject"]
    assert f"No forecast and no orders for FR on {after_end}" in new[0].get_body(("plain",)).get_content()


def test_browser_login_dag_list_run_task_log_blocked_market_and_data_docs(platform, blocked_run, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless browser test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    d1 = platform.day - timedelta(days=1)
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("request", lambda r: requested.append(r.url))
        step = "login"
        try:
            page.goto(f"{platform.base}/", wait_until="networkidle")
            page.wait_for_selector("input[name=username]", timeout=60_000)  # the login form of the simple auth manager
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", platform.password("admin"))
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "login" not in url, timeout=60_000)
            step = "dag list"
            page.goto(f"{platform.base}/dags", wait_until="networkidle")
            page.get_by_text("griddesk_morning").first.wait_for(timeout=60_000)
            step = "make-run morning run"
            page.goto(f"{platform.base}/dags/griddesk_morning/runs/{blocked_run}", wait_until="networkidle")
            page.get_by_text(blocked_run).first.wait_for(timeout=60_000)
            step = "task log"
            page.goto(
                f"{platform.base}/dags/griddesk_morning/runs/{blocked_run}/tasks/validate?try_number=1",
                wait_until="networkidle",
            )
            page.get_by_text("Done. Returned value was").first.wait_for(timeout=60_000)
            step = "blocked market"
            page.goto(
                f"{platform.base}/dags/griddesk_morning/runs/{blocked_run}/tasks/quality_gate/mapped/0",
                wait_until="networkidle",
            )
            page.get_by_text(f"FR blocked for delivery day {platform.day}").first.wait_for(timeout=60_000)
            page.get_by_text("skipped", exact=False).first.wait_for(timeout=60_000)
            step = "Data Docs tab of the DAG"
            page.goto(f"{platform.base}/dags/griddesk_morning/plugin/data-docs", wait_until="networkidle")
            page.frame_locator("iframe").get_by_text("Validations (newest first)").wait_for(timeout=60_000)
            step = "Data Docs from the alert"
            page.goto(f"{platform.docs}/gx/validations/raw_day_ahead_prices/FR/{d1}/{blocked_run}.html")
            page.get_by_text("no_refused_publication").first.wait_for(timeout=30_000)
            assert "FAILED" in page.content()
        except Exception:
            page.screenshot(path=str(tmp_path / f"failed-{step.replace(' ', '_')}.png"), full_page=True)
            raise
        finally:
            browser.close()
    remote = [u for u in requested if not u.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))]
    assert not remote, f"pages loaded remote resources: {remote[:5]}"


def test_recovery_after_a_database_crash_during_a_task(platform):
    api = platform.api()
    run_id = run_id_for(platform.day)
    api.set_paused("griddesk_afternoon", False)
    api.clear_run("griddesk_afternoon", run_id)
    deadline = time.monotonic() + 600
    while not any(t["state"] == "running" for t in api.task_instances("griddesk_afternoon", run_id)):
        assert time.monotonic() < deadline, "no afternoon task started in 10 min"
        time.sleep(0.5)
    postmaster = int((platform.state / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)  # the database crashes in the middle of a task
    time.sleep(5)

    out = platform.cli("recover")
    assert f"marked failed: griddesk_afternoon {run_id}" in out
    platform.stop_ui()
    platform.start_ui()
    api = platform.api()
    crashed = api.get_run("griddesk_afternoon", run_id)
    assert crashed["state"] == "failed" and "Marked failed by GridDesk recovery" in crashed["note"]
    # The next run of the DAG (max_active_runs=1) is not blocked by the crashed one.
    platform.cli("trigger", "griddesk_afternoon", "--day", str(platform.day - timedelta(days=1)))
    assert api.get_run("griddesk_afternoon", run_id_for(platform.day - timedelta(days=1)))["state"] == "success"
