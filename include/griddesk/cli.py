"""``griddesk`` command line: `run` (what `make run` does), `ui`, `summary`, `digest`, `stop`.

`griddesk run`:
1. bootstraps the warehouse (embedded pgserver unless GRIDDESK_WAREHOUSE_URL) and Airflow's metadata DB;
2. starts the market simulator and the mail catcher on loopback;
3. backfills history through the extraction DAG (skipping what is loaded);
4. runs the morning and afternoon DAGs for the last ``run_days`` delivery days as real Airflow DAG runs;
5. runs the daily operational-feeds DAG once, on the eve of the last of those days (tariffs up to that day,
   weather, battery, meters, signals, API health; one GX run over every feed);
6. prints the summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
from datetime import date, datetime, timedelta

from griddesk import runtime
from griddesk.markets import get_market
from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger("griddesk")


def run_window(settings: Settings) -> list[date]:
    """The last ``run_days`` delivery days that every configured market's data covers."""
    from griddesk.datasets import load_market_data

    last = min(load_market_data(code, settings)["delivery_date_local"].max() for code in settings.market_codes)
    return [last - timedelta(days=i) for i in reversed(range(settings.run_days))]


def load_dag(dag_id: str):
    """Import ``dags/<dag_id>.py`` and return its DAG object."""
    path = PROJECT_ROOT / "dags" / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"griddesk_dags.{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    for value in vars(module).values():
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise LookupError(f"{path} defines no DAG {dag_id!r} at module level")


def run_dag(dag, logical_date: datetime, conf: dict) -> None:
    """One real Airflow DAG run in-process (``dag.test``); raises if it does not succeed."""
    t0 = time.monotonic()
    dagrun = dag.test(logical_date=logical_date, run_conf=conf)
    state = str(getattr(dagrun, "state", "unknown"))
    print(f"  {dag.dag_id:<20} {conf}  -> {state} in {time.monotonic() - t0:.1f}s", flush=True)
    if "success" not in state:
        raise RuntimeError(f"DAG run {dag.dag_id} {conf} ended {state}; see the Airflow UI (make ui) or logs")


def cmd_run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    settings = get_settings()
    url = db.bootstrap(settings)
    env = runtime.apply_airflow_env(settings)
    runtime.migrate_airflow_db(env)
    runtime.start_simulator(settings)
    runtime.start_mailcatcher(settings)
    window = run_window(settings)
    history = (window[0] - timedelta(days=settings.history_days), window[0] - timedelta(days=1))
    markets = ",".join(settings.market_codes)
    first_market = get_market(settings.market_codes[0])
    print(f"GridDesk: markets {markets}, history {history[0]}..{history[1]}, run days {window[0]}..{window[-1]}")

    from griddesk.pipeline.clock import AFTERNOON, MORNING, RunClock

    run_dag(
        load_dag("griddesk_backfill"),
        RunClock(window[0], MORNING).sim_now(first_market) - timedelta(hours=1),
        {"first_day": str(history[0]), "last_day": str(history[1]), "markets": markets},
    )
    morning, afternoon = load_dag("griddesk_morning"), load_dag("griddesk_afternoon")
    for day in window:
        conf = {"delivery_date": str(day), "markets": markets}
        run_dag(morning, RunClock(day, MORNING).sim_now(first_market), conf)
        run_dag(afternoon, RunClock(day, AFTERNOON).sim_now(first_market), conf)
    from griddesk.pipeline.feed_tasks import feeds_sim_now

    # On the eve of the last delivery day, which fetches that day's tariffs: a run on the last day itself would
    # ask for the day after the data ends and (rightly) alert that its tariffs never came.
    feeds_day = window[-1] - timedelta(days=1)
    run_dag(load_dag("griddesk_feeds"), feeds_sim_now(feeds_day), {"run_date": str(feeds_day)})

    from griddesk.reporting.summary import print_run_summary

    print_run_summary(url, settings, window, wall_seconds=time.monotonic() - t_start)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from griddesk.reporting.summary import print_run_summary

    settings = get_settings()
    print_run_summary(db.bootstrap(settings), settings, run_window(settings), wall_seconds=None)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Print a digest of every mart's business columns: equal digests mean a rerun changed nothing."""
    import psycopg2

    from griddesk.reporting.summary import mart_digests

    with psycopg2.connect(db.bootstrap(get_settings())) as conn:
        for name, digest in mart_digests(conn).items():
            print(f"{name:<40} {digest}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Airflow API server (UI on :8080), scheduler, dag-processor and triggerer on the embedded default."""
    import os
    import subprocess

    settings = get_settings()
    db.bootstrap(settings)
    env = runtime.apply_airflow_env(settings)
    runtime.migrate_airflow_db(env)
    runtime.start_simulator(settings)
    runtime.start_mailcatcher(settings)
    airflow = str(PROJECT_ROOT / ".venv" / "bin" / "airflow")
    procs = [subprocess.Popen([airflow, c], env={**os.environ}) for c in ("scheduler", "dag-processor", "triggerer")]
    print("Airflow UI: http://127.0.0.1:8080 (simple auth manager, every user is admin). Ctrl-C stops it.")
    try:
        subprocess.run([airflow, "api-server", "--port", "8080"], env={**os.environ}, check=False)
    finally:
        for p in procs:
            p.terminate()
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the embedded PostgreSQL, the simulator and the mail catcher that `run` and `ui` leave running."""
    stopped = runtime.stop_services(get_settings())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="griddesk", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="bootstrap, backfill and run the daily DAGs for the last run_days days").set_defaults(
        func=cmd_run
    )
    sub.add_parser("summary", help="print the summary of the last run").set_defaults(func=cmd_summary)
    sub.add_parser("digest", help="digest of every mart's business columns").set_defaults(func=cmd_digest)
    sub.add_parser("ui", help="start the Airflow UI and scheduler on the embedded default").set_defaults(func=cmd_ui)
    sub.add_parser("stop", help="stop the embedded PostgreSQL, simulator and mail catcher").set_defaults(func=cmd_stop)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
