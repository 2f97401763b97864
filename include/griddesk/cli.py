"""``griddesk`` command line: `run` (what `make run` does), `ui`, `cluster`, `trigger`, `summary`, `digest`, `stop`.

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
import warnings
from datetime import date, datetime, timedelta

from griddesk import runtime
from griddesk.markets import get_market
from griddesk.runtime import run_dag_via_scheduler, run_window
from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger("griddesk")

# platformdirs (imported by a dependency) warns on every command that XDG_RUNTIME_DIR is unset: noise, not news.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


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


def start_platform(settings: Settings, *, schedule: bool, docs: bool = False) -> tuple[str, dict[str, str], list]:
    """Warehouse, Airflow metadata, simulator, mail catcher and Airflow's components for this state dir.

    Airflow's own output goes to files under state_dir/logs. Runs left `running` by a crash are marked failed
    before the scheduler starts (:func:`griddesk.recovery.recover_stuck_runs`). Returns the warehouse URL, the
    Airflow environment and the stuck runs recovered.

    Raises:
        SystemExit: Airflow components of this state dir are already running (another `make run` or `make ui`).
    """
    from griddesk.recovery import recover_stuck_runs

    alive = runtime.airflow_running(settings)
    if alive:
        raise SystemExit(
            f"Airflow of {settings.state_dir} is already running ({', '.join(alive)}): another `make run` or "
            "`make ui` uses it. Stop it first (Ctrl-C in `make ui`, or `griddesk stop`); after a crash, "
            "`griddesk recover`."
        )
    new = runtime.ensure_passwords(settings)  # before anything reads them, so new ones are printed here, once
    url = db.bootstrap(settings)
    env = runtime.apply_airflow_env(settings)
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    runtime.migrate_airflow_db(env, logs / "airflow-db-migrate.log")
    if new:
        print(f"Airflow users created (passwords shown this once; kept in {runtime.passwords_file(settings)}):")
        for name, role in runtime.parse_users(settings.airflow_users).items():
            if name in new:
                print(f"  {name:<10} {role:<7} {new[name]}")
    runtime.start_simulator(settings)
    runtime.start_mailcatcher(settings)
    if settings.executor == "celery":
        runtime.start_redis(settings)  # the scheduler sends tasks to it as soon as it starts
    if docs:
        from griddesk.quality import docs_site

        docs_site.ensure_site(settings)
        runtime.start_docs(settings)
    runtime.start_airflow(settings, env, ("api-server",))
    api = api_client(settings)
    runtime.ensure_pools(api, settings)
    recovered = recover_stuck_runs(api)
    for dag_id, run_id in recovered:
        print(f"recovered: {dag_id} {run_id} was left running by a crash; marked failed (see its note)")
    if settings.executor == "celery":
        runtime.start_workers(settings, env)
    runtime.start_airflow(settings, env, ("scheduler", "dag-processor", "triggerer"), schedule=schedule)
    return url, env, recovered


def stop_platform_airflow(settings: Settings) -> list[str]:
    """Stop the Celery workers (if any) and Airflow's components of this state dir."""
    return runtime.stop_airflow(settings) + runtime.stop_workers(settings)


def executor_label(settings: Settings) -> str:
    if settings.executor != "celery":
        return "LocalExecutor"
    return f"CeleryExecutor, workers {settings.celery_workers.replace(';', ' ')}"


def api_client(settings: Settings):
    from griddesk.airflow_api import AirflowApi

    admin = runtime.admin_user(settings)
    return AirflowApi(runtime.api_base_url(settings), admin, runtime.user_password(settings, admin))


DAILY_DAGS = ("griddesk_backfill", "griddesk_morning", "griddesk_afternoon", "griddesk_feeds")


def cmd_run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    settings = get_settings()
    window = run_window(settings)
    history = (window[0] - timedelta(days=settings.history_days), window[0] - timedelta(days=1))
    markets = ",".join(settings.market_codes)
    print(f"GridDesk: markets {markets}, history {history[0]}..{history[1]}, run days {window[0]}..{window[-1]}")
    print(f"  Airflow logs: {settings.state_dir / 'logs'}", flush=True)
    url, _, _ = start_platform(settings, schedule=False)
    print(f"  services up in {time.monotonic() - t_start:.0f} s (scheduler, {executor_label(settings)})", flush=True)
    try:
        run_days(api_client(settings), settings, window, history)
    finally:
        stop_platform_airflow(settings)

    from griddesk.reporting.summary import print_run_summary

    print_run_summary(url, settings, window, wall_seconds=time.monotonic() - t_start)
    return 0


def run_days(
    api, settings: Settings, window: list[date], history: tuple[date, date], *, skip_done: bool = False
) -> None:
    """The runs of `make run` through the scheduler behind ``api``: the history backfill, morning and afternoon of
    every day of ``window``, the feeds on the eve of its last day. The DAGs are unpaused for it and paused again.

    ``skip_done``: a run that already succeeded is not run again (the compose init job, restarted).
    """
    from griddesk.airflow_api import run_id_for
    from griddesk.clock import AFTERNOON, MORNING, RunClock
    from griddesk.feeds.tasks import feeds_sim_now
    from griddesk.simulator.security import exchange_clock_for_run, set_simulator_clock

    def exchange_now(day: date, kind: str) -> tuple[Settings, datetime]:
        return settings, exchange_clock_for_run(kind, (RunClock(day, kind).sim_now(m) for m in settings.market_codes))

    markets = ",".join(settings.market_codes)
    first_market = get_market(settings.market_codes[0])

    def run(dag_id, run_id, when, conf, label, sim_clock):
        done = skip_done and (api.get_run(dag_id, run_id) or {}).get("state") == "success"
        if done:
            print(f"  {dag_id:<20} {label:<24} already succeeded", flush=True)
        else:
            run_dag_via_scheduler(api, dag_id, run_id, when, conf, label, sim_clock)

    unpaused = []
    try:
        for dag_id in DAILY_DAGS:
            if api.wait_for_dag(dag_id)["is_paused"]:
                api.set_paused(dag_id, False)  # the scheduler runs no cron run: use_job_schedule is off
                unpaused.append(dag_id)
        run(
            "griddesk_backfill",
            f"history__{history[0]}__{history[1]}",
            RunClock(window[0], MORNING).sim_now(first_market) - timedelta(hours=1),
            {"first_day": str(history[0]), "last_day": str(history[1]), "markets": markets},
            "history",
            # the backfill reads as of the first morning's clock (the latest of the markets': it places no order)
            (settings, max(RunClock(window[0], MORNING).sim_now(m) for m in settings.market_codes)),
        )
        for day in window:
            conf = {"delivery_date": str(day), "markets": markets}
            for dag_id, kind in (("griddesk_morning", MORNING), ("griddesk_afternoon", AFTERNOON)):
                run(
                    dag_id,
                    run_id_for(day),
                    RunClock(day, kind).sim_now(first_market),
                    conf,
                    f"delivery day {day}",
                    exchange_now(day, kind),
                )
        # On the eve of the last delivery day, which fetches that day's tariffs: a run on the last day itself
        # would ask for the day after the data ends and (rightly) alert that its tariffs never came.
        feeds_day = window[-1] - timedelta(days=1)
        run(
            "griddesk_feeds",
            f"run_date__{feeds_day}",
            feeds_sim_now(feeds_day),
            {"run_date": str(feeds_day)},
            f"run date {feeds_day}",
            (settings, feeds_sim_now(feeds_day)),
        )
    finally:
        try:
            set_simulator_clock(settings, None)  # back to the wall clock for `make ui`'s live runs
        except RuntimeError as exc:
            print(f"  warning: {exc}", flush=True)
        for dag_id in unpaused:
            api.set_paused(dag_id, True)  # as found: `make ui`'s scheduler must not start today's cron runs


def cmd_seed(args: argparse.Namespace) -> int:
    """The docker compose init job: `make run`'s runs through an already running Airflow (its REST API).

    Logs in as AIRFLOW_ADMIN_USERNAME / AIRFLOW_ADMIN_PASSWORD (never printed); runs that already succeeded are
    skipped, so a restarted job resumes where it stopped. The summary is printed at the end.
    """
    import os

    from griddesk.airflow_api import AirflowApi
    from griddesk.reporting.summary import print_run_summary

    t_start = time.monotonic()
    settings = get_settings()
    try:
        user, password = os.environ["AIRFLOW_ADMIN_USERNAME"], os.environ["AIRFLOW_ADMIN_PASSWORD"]
    except KeyError as exc:
        raise SystemExit(f"griddesk seed logs in to Airflow as the admin: set {exc.args[0]}") from None
    deadline = time.monotonic() + args.wait_s
    while not runtime.api_healthy(args.api_url):
        if time.monotonic() > deadline:
            raise SystemExit(f"the Airflow API at {args.api_url} was not healthy within {args.wait_s:.0f} s")
        time.sleep(2)
    window = run_window(settings)
    history = (window[0] - timedelta(days=settings.history_days), window[0] - timedelta(days=1))
    print(
        f"GridDesk seed: markets {','.join(settings.market_codes)}, history {history[0]}..{history[1]}, "
        f"run days {window[0]}..{window[-1]} through {args.api_url}",
        flush=True,
    )
    run_days(AirflowApi(args.api_url, user, password), settings, window, history, skip_done=True)
    print_run_summary(db.bootstrap(settings), settings, window, wall_seconds=time.monotonic() - t_start)
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    """Run one DAG for one day through the scheduler of a running `make ui` (as `make run` does)."""
    from griddesk.airflow_api import run_id_for
    from griddesk.clock import AFTERNOON, MORNING, RunClock
    from griddesk.feeds.tasks import feeds_sim_now
    from griddesk.simulator.security import exchange_clock_for_run, set_simulator_clock

    settings = get_settings()
    runtime.apply_airflow_env(settings)
    day = date.fromisoformat(args.day)
    markets = args.markets or ",".join(settings.market_codes)
    first_market = get_market(markets.split(",")[0])
    if args.dag_id == "griddesk_feeds":
        run_id, when, conf = f"run_date__{day}", feeds_sim_now(day), {"run_date": str(day)}
        exchange_now = when
    elif args.dag_id in ("griddesk_morning", "griddesk_afternoon"):
        kind = MORNING if args.dag_id == "griddesk_morning" else AFTERNOON
        run_id, when = run_id_for(day), RunClock(day, kind).sim_now(first_market)
        conf = {"delivery_date": str(day), "markets": markets}
        exchange_now = exchange_clock_for_run(kind, (RunClock(day, kind).sim_now(m) for m in markets.split(",")))
    elif args.dag_id == "griddesk_consumption":
        from griddesk.consumption.settings import ConsumptionSettings

        # its cron time: an hour before the morning run of the paired market, on the same clock
        run_id, conf = run_id_for(day), {"delivery_date": str(day)}
        when = RunClock(day, MORNING).sim_now(get_market(ConsumptionSettings().market)) - timedelta(hours=1)
        exchange_now = when
    else:
        raise SystemExit(
            f"griddesk trigger runs griddesk_morning, griddesk_afternoon, griddesk_consumption or "
            f"griddesk_feeds, not {args.dag_id!r}"
        )
    api = api_client(settings)
    paused = api.wait_for_dag(args.dag_id)["is_paused"]
    if paused and runtime.scheduler_mode(settings) != "triggered-only":
        raise SystemExit(
            f"{args.dag_id} is paused and the scheduler of `make ui` creates cron runs: unpausing it would also start "
            "today's scheduled run. Unpause it in the UI if that is what you want, or run `griddesk ui --replay` "
            "to replay past days."
        )
    if paused:
        api.set_paused(args.dag_id, False)
    try:
        # The simulator owns the trading clock: the day replayed is set there for the run, then cleared.
        run_dag_via_scheduler(api, args.dag_id, run_id, when, conf, f"day {day}", (settings, exchange_now))
    finally:
        try:
            set_simulator_clock(settings, None)  # back to the wall clock for live runs
        except RuntimeError as exc:
            print(f"  warning: {exc}", flush=True)
        if paused:
            api.set_paused(args.dag_id, True)
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """After a crash: stop what is left of Airflow, bring the database back, mark runs left running failed."""
    from griddesk.recovery import recover_stuck_runs

    settings = get_settings()
    stopped = stop_platform_airflow(settings)
    if stopped:
        print("stopped what the crash left running: " + ", ".join(stopped))
    db.bootstrap(settings)
    env = runtime.apply_airflow_env(settings)
    runtime.start_airflow(settings, env, ("api-server",))
    try:
        recovered = recover_stuck_runs(api_client(settings))
    finally:
        runtime.stop_airflow(settings)
    for dag_id, run_id in recovered:
        print(f"marked failed: {dag_id} {run_id}")
    print(f"{len(recovered)} run(s) recovered; `make run` or `make ui` proceed from here")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from griddesk.reporting.summary import print_run_summary

    settings = get_settings()
    print_run_summary(db.bootstrap(settings), settings, run_window(settings), wall_seconds=None)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Print a digest of every mart's business columns: equal digests mean a rerun changed nothing."""
    import psycopg2

    from griddesk.reporting.summary import RUN_HISTORY_MARTS, mart_digests

    with psycopg2.connect(db.bootstrap(get_settings())) as conn:
        for name, digest in mart_digests(conn).items():
            why = f"  run history, differs on every run: {RUN_HISTORY_MARTS[name]}" if name in RUN_HISTORY_MARTS else ""
            print(f"{name:<40} {digest}{why}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Airflow's API server (UI), scheduler, dag-processor and triggerer, and the docs site, until Ctrl-C.

    `griddesk cluster` (`make cluster`) is the same on the CeleryExecutor: Redis and the Celery workers too.
    """
    import signal

    t0 = time.monotonic()
    settings = get_settings()
    if getattr(args, "cluster", False):
        settings = settings.model_copy(update={"executor": "celery"})
    start_platform(settings, schedule=not args.replay, docs=True)
    if settings.executor == "celery":
        print(
            f"Celery workers: {settings.celery_workers.replace(';', ' ')} (Redis on 127.0.0.1:{settings.redis_port},"
            f" logs {settings.state_dir / 'logs'}/airflow-<worker>.log)"
        )
    admin = runtime.admin_user(settings)
    print(
        f"Airflow UI: {settings.airflow_public_url} (healthy after {time.monotonic() - t0:.0f} s); log in as "
        f"{admin!r} (or a viewer), passwords in {runtime.passwords_file(settings)}"
    )
    print(f"Data Docs and dbt docs: {settings.docs_public_url}/ ; Airflow logs: {settings.state_dir / 'logs'}")
    print("Ctrl-C stops Airflow and the docs site (PostgreSQL, simulator and mail catcher keep running).", flush=True)
    stop = []
    # Both, explicitly: a shell starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop_platform_airflow(settings)
        runtime._stop_pid_file(settings, "docs", "griddesk.quality.docs_site", timeout_s=10)
        if settings.executor == "celery":
            runtime._stop_pid_file(settings, "redis", "redis-server", timeout_s=10)
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
    seed = sub.add_parser("seed", help="docker compose init job: `run`'s runs through a running Airflow's API")
    seed.add_argument("--api-url", default="http://airflow-apiserver:8080", help="base URL of the API server")
    seed.add_argument("--wait-s", type=float, default=600, help="how long to wait for the API to be healthy")
    seed.set_defaults(func=cmd_seed)
    sub.add_parser("summary", help="print the summary of the last run").set_defaults(func=cmd_summary)
    sub.add_parser("digest", help="digest of every mart's business columns").set_defaults(func=cmd_digest)
    ui = sub.add_parser("ui", help="start the Airflow UI, scheduler and the docs site until Ctrl-C")
    ui.add_argument(
        "--replay",
        action="store_true",
        help="the scheduler runs triggered runs only, never a cron run (to replay past days)",
    )
    ui.set_defaults(func=cmd_ui)
    cluster = sub.add_parser(
        "cluster",
        help="`ui` on the CeleryExecutor: Redis and the Celery workers of GRIDDESK_CELERY_WORKERS too, until Ctrl-C",
    )
    cluster.add_argument("--replay", action="store_true", help="as for ui: triggered runs only, never a cron run")
    cluster.set_defaults(func=cmd_ui, cluster=True)
    trig = sub.add_parser("trigger", help="run one DAG for one day through the running scheduler (`make ui`)")
    trig.add_argument("dag_id")
    trig.add_argument("--day", required=True, help="delivery day (morning/afternoon) or run date (feeds)")
    trig.add_argument("--markets", default="", help="comma-separated markets (default GRIDDESK_MARKETS)")
    trig.set_defaults(func=cmd_trigger)
    sub.add_parser(
        "recover", help="after a crash: mark runs left running failed, so the next run proceeds"
    ).set_defaults(func=cmd_recover)
    sub.add_parser("stop", help="stop the embedded PostgreSQL, simulator and mail catcher").set_defaults(func=cmd_stop)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
