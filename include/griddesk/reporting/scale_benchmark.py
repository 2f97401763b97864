"""The scale benchmark (`make bench-scale`): the morning path for 5 markets and the consumption path for 20 meters on
the CeleryExecutor with 1 and with 2 workers, through the real scheduler (`griddesk cluster`).

``python -m griddesk.reporting.scale_benchmark [--markets NP,PJM,BE,FR,DE] [--meters 20] [--workers 1,2]``

One state dir (``<state_dir>/bench-scale``, kept between runs, so the history is loaded once) on its own loopback
ports. For each worker count: start the cluster with that many workers (each consumes ``default`` and ``models``),
run the consumption day and the morning day (a rerun clears the earlier run: the same work each time), read every
task instance's duration from the REST API, stop the cluster. Writes ``reports/scale_benchmark.{json,md}``:
wall time per run, the total of task times (what one worker would run back to back), and their ratio (the
parallelism actually obtained), per worker count.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from griddesk.reporting.report import (
    REPORT_DIR,
    cpu_count,
    free_port,
    table_header,
    table_row,
    write_json,
    write_markdown,
)
from griddesk.settings import get_settings
from griddesk.simulator.feeds.data import SYNTHETIC_METERS

CONSUMPTION_DAY = date(2018, 3, 14)  # in the meters' data, on NP's clock
ALL_METERS = len(SYNTHETIC_METERS)  # 20


def task_seconds(tis: list[dict]) -> float:
    """Sum of the task instances' run times (start to end), s; tasks without both ends count 0."""
    total = 0.0
    for t in tis:
        if t.get("start_date") and t.get("end_date"):
            start, end = (datetime.fromisoformat(t[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
            total += (end - start).total_seconds()
    return total


def bench_env(state: Path, markets: str, meters: int, workers: int, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GRIDDESK_"))}
    env.update(
        {
            "GRIDDESK_STATE_DIR": str(state),
            "GRIDDESK_SIMULATOR_URL": f"http://127.0.0.1:{ports['sim']}",
            "GRIDDESK_MAIL_PORT": str(ports["mail"]),
            "GRIDDESK_AIRFLOW_PORT": str(ports["api"]),
            "GRIDDESK_DOCS_PORT": str(ports["docs"]),
            "GRIDDESK_WAREHOUSE_TCP_PORT": str(ports["pg"]),
            "GRIDDESK_REDIS_PORT": str(ports["redis"]),
            "GRIDDESK_MARKETS": markets,
            "GRIDDESK_RUN_DAYS": "1",
            "GRIDDESK_HISTORY_DAYS": "35",
            "GRIDDESK_FORECAST_HISTORY_DAYS": "27",
            "GRIDDESK_EXECUTOR": "celery",
            "GRIDDESK_CELERY_WORKERS": ";".join(f"w{i + 1}=default,models" for i in range(workers)),
            # the portfolio's first N meters (the simulator serves the same 20, real or synthetic)
            "GRIDDESK_CONSUMPTION_METERS": ",".join(SYNTHETIC_METERS[:meters]) if meters < ALL_METERS else "",
            "GRIDDESK_CONSUMPTION_TRAINING_WINDOW_DAYS": "84",
            "GRIDDESK_CONSUMPTION_MIN_CLEAN_DAYS": "28",
        }
    )
    for name in ("GRIDDESK_DATA_DIR", "GRIDDESK_FEEDS_DATA_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def load_consumption_history(env: dict[str, str], timeout: float | None = None) -> None:
    """The meters' and Bedford's 110 days before ``CONSUMPTION_DAY`` - 2, through the feeds' own extraction (what
    griddesk_feeds runs daily), in a child process with the platform's environment ``env``."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from datetime import date, timedelta; from griddesk.feeds.tasks import extract_feed_job as x\n"
                f"d = date.fromisoformat('{CONSUMPTION_DAY}') - timedelta(days=2)\n"
                "for feed, key in (('meter_readings', 'portfolio'), ('weather_observations', 'bedford')):\n"
                "    x({'feed': feed, 'key': key}, d, history_days=110)\n"
            ),
        ],
        env=env,
        check=True,
        timeout=timeout,
    )


def run_with_workers(state: Path, markets: str, meters: int, workers: int, ports: dict[str, int]) -> dict:
    """Start `griddesk cluster` with ``workers`` workers, run the consumption and the morning day, stop it."""
    from griddesk.airflow_api import AirflowApi, run_id_for
    from griddesk.clock import MORNING, RunClock
    from griddesk.markets import get_market
    from griddesk.runtime import run_dag_via_scheduler, run_window
    from griddesk.settings import Settings

    env = bench_env(state, markets, meters, workers, ports)
    settings = Settings(markets=markets, run_days=1, history_days=35, data_dir=env.get("GRIDDESK_DATA_DIR"))
    day = run_window(settings)[0]
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / f"cluster-{workers}.log"
    out = {"workers": workers}
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "griddesk.cli", "cluster", "--replay"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while "Ctrl-C stops" not in log_path.read_text():
            if proc.poll() is not None:
                raise RuntimeError(f"griddesk cluster exited; see {log_path}")
            time.sleep(1)
        out["cluster_up_s"] = round(time.monotonic() - t0, 1)
        password = json.loads((state / "airflow" / "passwords.json").read_text())["admin"]
        api = AirflowApi(f"http://127.0.0.1:{env['GRIDDESK_AIRFLOW_PORT']}", "admin", password)
        for dag_id in ("griddesk_backfill", "griddesk_morning", "griddesk_consumption"):
            api.wait_for_dag(dag_id)
            api.set_paused(dag_id, False)
        marker = state / "history.loaded"
        if not marker.exists():  # once per state dir: the price, meter and weather history
            history = (day - timedelta(days=35), day - timedelta(days=1))
            run_dag_via_scheduler(
                api,
                "griddesk_backfill",
                f"history__{history[0]}__{history[1]}",
                RunClock(day, MORNING).sim_now(get_market(markets.split(",")[0])),
                {"first_day": str(history[0]), "last_day": str(history[1]), "markets": markets},
                "history",
            )
            load_consumption_history(env)
            marker.write_text("ok\n")
        runs = (
            (
                "griddesk_consumption",
                CONSUMPTION_DAY,
                RunClock(CONSUMPTION_DAY, MORNING).sim_now(get_market("NP")) - timedelta(hours=1),
                {"delivery_date": str(CONSUMPTION_DAY)},
            ),
            (
                "griddesk_morning",
                day,
                RunClock(day, MORNING).sim_now(get_market(markets.split(",")[0])),
                {"delivery_date": str(day), "markets": markets},
            ),
        )
        for dag_id, run_day, when, conf in runs:
            t1 = time.monotonic()
            run_dag_via_scheduler(api, dag_id, run_id_for(run_day), when, conf, f"{workers} worker(s)")
            wall = time.monotonic() - t1
            tis = api.task_instances(dag_id, run_id_for(run_day))
            busy = task_seconds(tis)
            out[dag_id] = {
                "day": str(run_day),
                "wall_s": round(wall, 1),
                "task_time_s": round(busy, 1),
                "tasks": len(tis),
                "parallelism": round(busy / wall, 2) if wall else None,
                "by_worker": sorted({(t["hostname"] or "").split("@")[0] for t in tis} - {""}),
            }
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=300)
    return out


def write_report(results: list[dict], markets: str, meters: int) -> Path:
    REPORT_DIR.mkdir(exist_ok=True)
    write_json(
        REPORT_DIR / "scale_benchmark.json",
        {"markets": markets.split(","), "meters": meters, "cpus": cpu_count(), "results": results},
        indent=1,
        newline=False,
    )
    lines = [
        f"# Scale benchmark: morning ({markets}), consumption ({meters} meters), CeleryExecutor",
        "",
        f"Machine: {cpu_count()} CPUs. Wall: trigger to run end. Task time: sum of the task instances' run "
        "times. Parallelism: task time / wall.",
        "",
        *table_header(("workers", "run", "wall s", "task time s", "parallelism", "tasks")),
    ]
    for r in results:
        for dag_id in ("griddesk_morning", "griddesk_consumption"):
            m = r[dag_id]
            lines.append(table_row((r["workers"], dag_id, m["wall_s"], m["task_time_s"], m["parallelism"], m["tasks"])))
    return write_markdown(REPORT_DIR / "scale_benchmark.md", lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markets", default="NP,PJM,BE,FR,DE")
    parser.add_argument("--meters", type=int, default=ALL_METERS, help="the first N meters (b0..); 20: all")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    args = parser.parse_args(argv)
    if not 1 <= args.meters <= ALL_METERS:
        raise SystemExit(f"--meters must be 1..{ALL_METERS}, not {args.meters}")
    state = get_settings().state_dir / "bench-scale"
    # One set of ports for the whole benchmark: the simulator, mail catcher and PostgreSQL outlive each cluster.
    ports = {n: free_port() for n in ("sim", "mail", "api", "docs", "redis", "pg")}
    results = []
    try:
        for n in (int(w) for w in args.workers.split(",")):
            results.append(run_with_workers(state, args.markets, args.meters, n, ports))
            print(json.dumps(results[-1]), flush=True)
    finally:
        subprocess.run(
            [sys.executable, "-m", "griddesk.cli", "stop"],
            capture_output=True,
            timeout=300,
            env=bench_env(state, args.markets, args.meters, 1, ports),
        )
    print(f"wrote {write_report(results, args.markets, args.meters)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
