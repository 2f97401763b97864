"""GridDesk on Airflow's CeleryExecutor, proven without Docker: `griddesk cluster` (what `make cluster` runs) starts a
Redis of its own (Debian's redis-server on a free loopback port in the state dir), the real scheduler, dag-processor,
API server and two Celery workers with different queues (worker-a: default + models, worker-b: default).

One platform start in a throw-away state dir (FR, 35 days of history; meters b1 and b40). The tests prove:
- a consumption run and a morning run triggered through the scheduler succeed, with tasks on both workers, every
  model fit on the ``models`` queue (so on worker-a) and the I/O tasks on ``default``;
- a worker killed (SIGKILL) in the middle of a task: Airflow's heartbeat timeout fails that try and the retry runs
  on the other worker; the run succeeds and no mart has a duplicate row;
- the marts equal those of the LocalExecutor rerunning the same two runs (`griddesk digest`; the marts that log
  every attempt, such as validations and API calls, are left out: a rerun adds its own rows there by design).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest

from griddesk.airflow_api import run_id_for
from griddesk.clock import MORNING, RunClock
from griddesk.markets import get_market
from griddesk.reporting.scale_benchmark import CONSUMPTION_DAY, load_consumption_history
from griddesk.runtime import run_dag_via_scheduler, run_window
from griddesk.settings import Settings
from griddesk.warehouse import db
from tests.platform import Platform

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(
        not Path(REDIS_SERVER).exists(),
        reason="the Celery cluster test needs Debian's redis-server (apt-get install redis-server)",
    ),
]

METERS = ("b1", "b40")
#: What a killed worker's task waits before Airflow gives up on it (default 120 s; the retry delay adds 30 s).
HEARTBEAT_TIMEOUT_S = 30


#: Marts with a row per attempt (a validation, an API call, an alert): a rerun adds its own rows there by design.
RUN_LOG_MARTS = {
    "fct_data_quality_results",
    "fct_data_quality_daily_summary",
    "fct_alerts_sent",
    "fct_api_health",
    "fct_api_health_daily",
    "fct_api_call_failures",
    "dim_external_apis",
}


def digests(p: Platform) -> dict[str, str]:
    """Mart -> digest from ``griddesk digest`` (a run-history mart's line goes on with why it differs)."""
    return dict(line.split()[:2] for line in p.cli("digest").splitlines() if line.strip())


def celery_nodes(p: Platform) -> dict[str, str]:
    """Worker name -> Celery node name (``worker-a@host``), from a real ping over the cluster's Redis."""
    from celery import Celery

    app = Celery(
        broker=f"redis://:{(p.state / 'airflow' / 'redis_password').read_text().strip()}@127.0.0.1:{p.ports['redis']}/0"
    )
    p.celery = app
    nodes = [name for reply in app.control.ping(timeout=5) for name in reply]
    return {n.split("@")[0]: n for n in nodes}


def duplicate_rows(url: str) -> dict[str, int]:
    """Mart -> rows that are exact copies of another row of the same mart (must be none)."""
    out = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        for (name,) in cur.fetchall():
            cur.execute(
                f'select count(*) - (select count(*) from (select distinct * from marts."{name}") d) '
                f'from marts."{name}"'
            )
            out[name] = cur.fetchone()[0]
    return {k: v for k, v in out.items() if v}


@pytest.fixture(scope="module")
def cluster(server_state_dir, shared_data_dir):
    p = Platform(
        server_state_dir("celery"),
        GRIDDESK_EXECUTOR="celery",
        GRIDDESK_CELERY_WORKERS="worker-a=default,models;worker-b=default",
        GRIDDESK_WORKER_CONCURRENCY="2",
        GRIDDESK_CONSUMPTION_METERS=",".join(METERS),
        GRIDDESK_CONSUMPTION_TRAINING_WINDOW_DAYS="84",
        GRIDDESK_CONSUMPTION_MIN_CLEAN_DAYS="28",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT_S),
        # A task the killed worker had reserved but not started is sent again after this (default 600 s).
        AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="180",
    )
    settings = Settings(markets="FR", run_days=1, history_days=35, data_dir=p.env.get("GRIDDESK_DATA_DIR"))
    p.day = run_window(settings)[0]
    p.timings = {}
    t0 = time.monotonic()
    try:
        p.start_ui("cluster")
        p.timings["cluster up"] = time.monotonic() - t0
        p.warehouse = db.admin_url(Settings(state_dir=p.state, warehouse_tcp_port=p.ports["pg"]))
        api = p.api()
        for dag_id in ("griddesk_backfill", "griddesk_morning", "griddesk_consumption"):
            api.wait_for_dag(dag_id)
            api.set_paused(dag_id, False)  # the scheduler runs triggered runs only (--replay)
        load_consumption_history(p.env, timeout=600)  # the meters' and Bedford's history
        t1 = time.monotonic()
        history = (p.day - timedelta(days=35), p.day - timedelta(days=1))
        run_dag_via_scheduler(
            api,
            "griddesk_backfill",
            f"history__{history[0]}__{history[1]}",
            RunClock(p.day, MORNING).sim_now(get_market("FR")) - timedelta(hours=1),
            {"first_day": str(history[0]), "last_day": str(history[1]), "markets": "FR"},
            "history",
        )
        p.timings["backfill"] = time.monotonic() - t1
        yield p
    finally:
        p.stop_all()
        print(f"\n[celery cluster] {', '.join(f'{k} {v:.0f} s' for k, v in p.timings.items())}")


def consumption_when(day: date):
    return RunClock(day, MORNING).sim_now(get_market("NP")) - timedelta(hours=1)


@pytest.fixture(scope="module")
def consumption_run(cluster):
    t0 = time.monotonic()
    run_dag_via_scheduler(
        cluster.api(),
        "griddesk_consumption",
        run_id_for(CONSUMPTION_DAY),
        consumption_when(CONSUMPTION_DAY),
        {"delivery_date": str(CONSUMPTION_DAY)},
        "consumption",
    )
    cluster.timings["consumption run"] = time.monotonic() - t0
    return {
        (t["task_id"], t["map_index"]): t
        for t in cluster.api().task_instances("griddesk_consumption", run_id_for(CONSUMPTION_DAY))
    }


@pytest.fixture(scope="module")
def morning_run(cluster, consumption_run):
    """The morning run with worker-b killed in the middle of ``dbt_build``.

    worker-a stops consuming ``default`` for the start of the run (Celery's own remote control), so the I/O tasks
    go to worker-b and the fits to worker-a whatever the timing; once worker-b is killed, worker-a consumes
    ``default`` again, as a surviving worker does.
    """
    api = cluster.api()
    nodes = celery_nodes(cluster)
    assert set(nodes) == {"worker-a", "worker-b"}, nodes
    cluster.celery.control.cancel_consumer("default", destination=[nodes["worker-a"]], reply=True)
    run_id = run_id_for(cluster.day)
    t0 = time.monotonic()
    api.trigger(
        "griddesk_morning",
        run_id,
        RunClock(cluster.day, MORNING).sim_now(get_market("FR")),
        {"delivery_date": str(cluster.day), "markets": "FR"},
    )
    killed = None
    deadline = time.monotonic() + 900
    while killed is None:
        assert time.monotonic() < deadline, "dbt_build did not run on worker-b within 15 min"
        ti = next((t for t in api.task_instances("griddesk_morning", run_id) if t["task_id"] == "dbt_build"), None)
        if ti and ti["state"] == "running" and (ti["hostname"] or "").startswith("worker-b@"):
            time.sleep(2)  # well inside the task (dbt runs for tens of seconds)
            pid = int((cluster.state / "airflow-worker-b.pid").read_text())
            os.killpg(pid, signal.SIGKILL)  # the worker, its pool processes and the task die at once
            killed = dict(ti)
        time.sleep(0.5)
    cluster.celery.control.add_consumer("default", destination=[nodes["worker-a"]], reply=True)
    run = api.wait_run("griddesk_morning", run_id, timeout_s=1200)
    cluster.timings["morning run (with the kill)"] = time.monotonic() - t0
    tis = {(t["task_id"], t["map_index"]): t for t in api.task_instances("griddesk_morning", run_id)}
    return {"run": run, "tis": tis, "killed": killed, "digests": digests(cluster)}


def test_consumption_run_fits_on_the_models_queue_and_succeeds(cluster, consumption_run):
    fits = [t for (task, _), t in consumption_run.items() if task == "train_meter"]
    assert sorted(t["rendered_map_index"] for t in fits) == sorted(METERS)
    assert all(
        t["state"] == "success"
        and t["queue"] == "models"
        and t["pool"] == "griddesk_models"
        and t["hostname"].startswith("worker-a@")
        for t in fits
    ), fits
    io = [t for (task, _), t in consumption_run.items() if task != "train_meter"]
    assert io and all(t["queue"] == "default" and t["pool"] == "griddesk_warehouse" for t in io)
    with psycopg2.connect(cluster.warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            "select meter_id, count(*) from raw.consumption_forecasts where delivery_date_local = %s "
            "group by meter_id order by 1",
            (CONSUMPTION_DAY,),
        )
        assert cur.fetchall() == [(m, 5 * 24) for m in sorted(METERS)]  # 5 models x 24 h, stored once


def test_morning_run_ran_on_both_workers_by_queue(morning_run):
    assert morning_run["run"]["state"] == "success"
    tis = morning_run["tis"]
    hosts = {t["hostname"].split("@")[0] for t in tis.values() if t["hostname"]}
    assert hosts == {"worker-a", "worker-b"}
    forecast = tis[("forecast", 0)]
    assert (forecast["queue"], forecast["pool"], forecast["state"]) == ("models", "griddesk_models", "success")
    assert forecast["hostname"].startswith("worker-a@")
    extracts = [t for (task, _), t in tis.items() if task == "extract"]
    assert extracts and all(t["queue"] == "default" and t["hostname"].startswith("worker-b@") for t in extracts)


def test_a_task_of_a_killed_worker_is_retried_on_the_other_without_duplicates(cluster, morning_run):
    killed = morning_run["killed"]
    assert killed["try_number"] == 1
    retried = morning_run["tis"][("dbt_build", -1)]
    assert retried["state"] == "success" and retried["try_number"] == 2
    assert retried["hostname"].startswith("worker-a@")
    assert duplicate_rows(cluster.warehouse) == {}
    with psycopg2.connect(cluster.warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*), count(distinct delivery_start_utc) from raw.price_forecasts "
            "where market_code = 'FR' and delivery_date_local = %s",
            (cluster.day,),
        )
        n, distinct = cur.fetchone()
    assert n == distinct and n in (23, 24, 25)


def test_marts_equal_those_of_the_local_executor_for_the_same_runs(cluster, consumption_run, morning_run):
    celery = morning_run["digests"]
    cluster.stop_ui()  # the cluster stops its workers, Airflow and its Redis
    cluster.env["GRIDDESK_EXECUTOR"] = "local"
    t0 = time.monotonic()
    cluster.start_ui("ui")
    api = cluster.api()
    run_dag_via_scheduler(
        api,
        "griddesk_consumption",
        run_id_for(CONSUMPTION_DAY),
        consumption_when(CONSUMPTION_DAY),
        {"delivery_date": str(CONSUMPTION_DAY)},
        "consumption (local)",
    )
    run_dag_via_scheduler(
        api,
        "griddesk_morning",
        run_id_for(cluster.day),
        RunClock(cluster.day, MORNING).sim_now(get_market("FR")),
        {"delivery_date": str(cluster.day), "markets": "FR"},
        "morning (local)",
    )
    cluster.timings["LocalExecutor reruns"] = time.monotonic() - t0
    local = digests(cluster)
    compared = set(celery) - RUN_LOG_MARTS
    assert {"fct_price_forecasts", "fct_bid_schedules", "fct_consumption_forecasts"} <= compared
    assert {m: local[m] for m in compared} == {m: celery[m] for m in compared}
