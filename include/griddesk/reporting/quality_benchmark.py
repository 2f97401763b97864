"""What the ONE feeds-wide GX run adds to a daily feeds run: ``python -m griddesk.reporting.quality_benchmark``.

Fills a scratch warehouse the way ``griddesk_feeds`` does (every feed job of run day X, a week of history, one
plant sample) from the simulator over HTTP (real Cambridge meters and ERA5/Bedford weather when ../shared/data
is there), with a local SMTP sink for the alerts. Then it measures:

- ``cold_task_s``: a fresh Python process running ``validate_feeds_for_run`` (what the Airflow task costs: GX
  import, context, every feed, results stored, alerts);
- ``gx_import_s``: the GX import and context load in this process;
- ``warm_run_s``: median of ``--repeats`` further runs in this process, and the median per feed (prepare + GX).

Writes ``reports/quality_feeds_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psycopg2

from griddesk.quality.store import count_results
from griddesk.reporting.report import REPORT_DIR, free_port, load_1m, write_json
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

REPORT = REPORT_DIR / "quality_feeds_benchmark.json"
BENCH_DB = "griddesk_bench_quality"


def _start_simulator() -> str:
    import uvicorn

    from griddesk import datasets
    from griddesk.simulator import create_app

    app = create_app(settings=Settings(markets="FR"), frames={"FR": datasets.synthetic_epftoolbox("FR")})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def _start_smtp() -> int:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            return "250 OK"

    port = free_port()
    Controller(Sink(), hostname="127.0.0.1", port=port).start()
    return port


def run(run_day: date, repeats: int = 3, report: Path = REPORT) -> dict:
    from datetime import UTC, datetime, timedelta

    settings = get_settings()
    db.bootstrap(settings)
    url = db.fresh_database(db.server_url(settings), BENCH_DB)
    env = {
        "GRIDDESK_WAREHOUSE_URL": url,
        "GRIDDESK_SIMULATOR_URL": _start_simulator(),
        "GRIDDESK_MARKETS": "FR",
        "GRIDDESK_WEATHER_LOCATIONS": "FR,bedford",
        "GRIDDESK_CKW_TARIFF_NAMES": "home_dynamic,business_dynamic",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": _start_smtp(),
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "griddesk@example.com"},
            }
        ),
    }
    os.environ.update(env)
    get_settings.cache_clear()
    from griddesk.feeds import tasks as feed_tasks

    for job in feed_tasks.feed_jobs():
        feed_tasks.extract_feed_job(job, run_day)
    feed_tasks.poll_plant("lutersarni", datetime.combine(run_day - timedelta(days=1), datetime.min.time(), UTC))

    code = (
        "import time, datetime; t = time.perf_counter(); "
        "from griddesk.quality.tasks import validate_feeds_for_run; "
        f"out = validate_feeds_for_run(datetime.date.fromisoformat('{run_day}'), 'bench-cold'); "
        "import json; print(json.dumps({'total': time.perf_counter() - t, **out}))"
    )
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True)
    cold_wall = time.perf_counter() - started
    cold = json.loads(proc.stdout.strip().splitlines()[-1])

    from griddesk.quality.gx_runner import default_gate
    from griddesk.quality.tasks import validate_feeds_for_run

    t0 = time.perf_counter()
    _ = default_gate().context
    gx_import = time.perf_counter() - t0
    warm = [validate_feeds_for_run(run_day, f"bench-warm-{i}") for i in range(repeats)]
    feeds = sorted({k.split(".")[0] for k in warm[0]["timings_s"]})
    per_feed = {
        f: round(statistics.median(w["timings_s"][f"{f}.prepare"] + w["timings_s"][f"{f}.gx"] for w in warm), 3)
        for f in feeds
    }
    with psycopg2.connect(url) as conn:
        n_results = count_results(conn, "bench-warm-0")
    result = {
        "run_day": str(run_day),
        "feeds": len(feeds),
        "batches": sum(len(v) for v in cold["verdicts"].values()),
        "expectation_results_per_run": n_results,
        "cold_task_s": round(cold_wall, 2),
        "cold_task_in_process_s": round(cold["total"], 2),
        "cold_gx_import_s": cold["seconds_gx_import"],
        "gx_import_s": round(gx_import, 2),
        "warm_run_s_median": round(statistics.median(w["seconds_validate"] for w in warm), 3),
        "warm_run_s_all": [w["seconds_validate"] for w in warm],
        "per_feed_s_median": per_feed,
        "load_average_1m": load_1m(),
    }
    report.parent.mkdir(parents=True, exist_ok=True)
    write_json(report, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.quality_benchmark", description=__doc__)
    parser.add_argument(
        "--run-day", default="2016-11-15", help="run day X (the synthetic FR prices behind the tariffs end in 2016)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run(date.fromisoformat(args.run_day), args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
