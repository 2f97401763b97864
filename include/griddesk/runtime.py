"""Local runtime for `make run`, `make ui` and the end-to-end tests: Airflow settings and background services.

Everything lives under ``settings.state_dir`` (git-ignored): the embedded PostgreSQL, AIRFLOW_HOME, the Airflow
users' generated passwords and the JWT secret, service logs and pid files, and caught mail.

Every service listens on 127.0.0.1 on a configurable port (``GRIDDESK_SIMULATOR_URL``, ``GRIDDESK_MAIL_PORT``,
``GRIDDESK_AIRFLOW_PORT``, ``GRIDDESK_DOCS_PORT``). A service found on its port is reused only when it is this
state dir's own (its pid file names the listening process or one of its parents); anything else on the port is
an error naming the port and what holds it, never silently shared with another checkout.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

#: Airflow components `make ui` runs; `make run` runs all but the triggerer's absence matters nowhere it waits.
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Roles of Airflow's simple auth manager, lowest first.
AIRFLOW_ROLES = ("viewer", "user", "op", "admin")


class PortInUse(RuntimeError):
    """A port GridDesk needs is held by a process that is not this state dir's service."""


# ---------------------------------------------------------------------------------------------------------------
# Secrets and users in the state dir


def _private_file(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` readable by the owner only (created with mode 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)


def state_secret(settings: Settings, name: str) -> str:
    """A random secret kept in ``state_dir/airflow/<name>`` (generated once), shared by every Airflow process."""
    path = settings.state_dir / "airflow" / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    _private_file(path, value)
    return value


def parse_users(spec: str) -> dict[str, str]:
    """``"admin:admin,trader:viewer"`` -> {"admin": "admin", "trader": "viewer"}.

    Raises:
        ValueError: an entry without a role, an unknown role, a duplicate name, or no admin at all.
    """
    users: dict[str, str] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, _, role = entry.partition(":")
        name, role = name.strip(), role.strip().lower()
        if not name or role not in AIRFLOW_ROLES:
            raise ValueError(
                f"GRIDDESK_AIRFLOW_USERS entry {entry!r}: expected name:role, role one of {', '.join(AIRFLOW_ROLES)}"
            )
        if name in users:
            raise ValueError(f"GRIDDESK_AIRFLOW_USERS names {name!r} twice")
        users[name] = role
    if "admin" not in users.values():
        raise ValueError(f"GRIDDESK_AIRFLOW_USERS={spec!r} has no admin: nobody could manage Airflow")
    return users


def passwords_file(settings: Settings) -> Path:
    return settings.state_dir / "airflow" / "passwords.json"


def ensure_passwords(settings: Settings) -> dict[str, str]:
    """Generate a password for every configured Airflow user that has none yet; returns only the new ones.

    The file is Airflow's simple-auth-manager passwords file (``{"name": "password"}``, mode 0600). Existing
    passwords are kept, so a rerun prints nothing and logins stay valid.
    """
    path = passwords_file(settings)
    current = json.loads(path.read_text()) if path.exists() else {}
    new = {name: secrets.token_urlsafe(12) for name in parse_users(settings.airflow_users) if name not in current}
    if new or not path.exists():
        _private_file(path, json.dumps({**current, **new}, indent=1))
    return new


def user_password(settings: Settings, name: str) -> str:
    """The stored password of Airflow user ``name`` (tests and the CLI log in with it)."""
    ensure_passwords(settings)
    return json.loads(passwords_file(settings).read_text())[name]


def admin_user(settings: Settings) -> str:
    return next(n for n, role in parse_users(settings.airflow_users).items() if role == "admin")


# ---------------------------------------------------------------------------------------------------------------
# Airflow settings


def api_base_url(settings: Settings) -> str:
    """The URL local clients use for the API server (loopback when it listens on every address)."""
    host = settings.airflow_host if settings.airflow_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{settings.airflow_port}"


def airflow_env(settings: Settings, mail_port: int | None = None) -> dict[str, str]:
    """Environment for Airflow: metadata DB ``airflow`` on the warehouse's server, our DAGs, SMTP to the catcher,
    the API server on ``airflow_host:airflow_port`` with a login required (simple auth manager, generated
    passwords in the state dir), and a JWT secret shared by every component.

    Values already set in the environment win, so a deployment can override any of them.
    """
    metadata_url = db.sqlalchemy_url(db.with_database(db.server_url(settings), db.AIRFLOW_DB))
    home = settings.state_dir / "airflow"
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": mail_port or settings.mail_port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "griddesk@localhost"},
    }
    base = api_base_url(settings)
    users = parse_users(settings.airflow_users)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # LocalExecutor whose workers fork with the tasks' libraries loaded (griddesk.airflow_executor).
        "AIRFLOW__CORE__EXECUTOR": "griddesk.airflow_executor.GridDeskLocalExecutor",
        # Two cores: a handful of task processes at once is all the machine can use.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__HOST": settings.airflow_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": state_secret(settings, "api_secret_key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": state_secret(settings, "jwt_secret"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(settings.airflow_all_admins),
        # Airflow's own zombie handling: a task whose process died stops heartbeating and is failed after this.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
        # The DAGs write run notes through the REST API as the admin (a note needs DAG-run edit rights).
        "AIRFLOW_CONN_GRIDDESK_AIRFLOW_API": json.dumps(
            {
                "conn_type": "http",
                "host": base,
                "login": admin_user(settings),
                "password": user_password(settings, admin_user(settings)),
            }
        ),
        "GRIDDESK_STATE_DIR": str(settings.state_dir),
        # Task instances record which worker ran them (GRIDDESK_WORKER_NAME@host when several share a host).
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "griddesk.airflow_executor.worker_hostname",
    }
    if settings.executor == "celery":
        env.update(celery_env(settings, metadata_url))
    return {k: os.environ.get(k, v) for k, v in env.items()}


def redis_url(settings: Settings) -> str:
    """The Celery broker: this state dir's Redis on 127.0.0.1:``redis_port``, with its generated password."""
    return f"redis://:{state_secret(settings, 'redis_password')}@127.0.0.1:{settings.redis_port}/0"


def celery_env(settings: Settings, metadata_url: str) -> dict[str, str]:
    """CeleryExecutor settings: Redis as the broker, the metadata database as Celery's result backend."""
    from griddesk.pipeline.placement import DEFAULT_QUEUE, parse_workers

    workers = parse_workers(settings.celery_workers)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(max(4, len(workers) * settings.worker_concurrency)),
        "AIRFLOW__CELERY__BROKER_URL": redis_url(settings),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.worker_concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        # Redis re-delivers a message not acknowledged in this time: longer than any task (a backtest: hours).
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
    }


def apply_airflow_env(settings: Settings | None = None) -> dict[str, str]:
    """Put :func:`airflow_env` into ``os.environ`` (before Airflow is imported)."""
    env = airflow_env(settings or get_settings())
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def migrate_airflow_db(env: dict[str, str], log_file: Path | None = None) -> None:
    """``airflow db migrate`` on the metadata database (idempotent); its output goes to ``log_file``."""
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        subprocess.run(
            [airflow_bin(), "db", "migrate"],
            env={**os.environ, **env},
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT if log_file else None,
        )
    finally:
        if log_file:
            out.close()


# ---------------------------------------------------------------------------------------------------------------
# Ports and ownership


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def port_listener(port: int) -> int | None:
    """The pid listening on TCP ``port`` on any local address, or None (0 when the owner cannot be seen)."""
    import psutil

    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
            return c.pid or 0
    return None


def describe_pid(pid: int | None) -> str:
    import psutil

    if not pid:
        return "a process this user cannot see"
    try:
        return f"pid {pid} ({' '.join(psutil.Process(pid).cmdline())[:160]})"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"pid {pid}"


def is_own_listener(listener: int | None, own_pid: int | None, lineage: Callable[[int], list[int]]) -> bool:
    """Whether the listening process is ``own_pid`` or a descendant of it (uvicorn and gunicorn fork workers)."""
    return bool(listener and own_pid and (listener == own_pid or own_pid in lineage(listener)))


def _parents(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).parents()]
    except psutil.NoSuchProcess:
        return []


def pid_file(settings: Settings, name: str) -> Path:
    return settings.state_dir / f"{name}.pid"


def own_pid(settings: Settings, name: str, marker: str) -> int | None:
    """The pid of this state dir's ``name`` service if its pid file names a live process running ``marker``."""
    path = pid_file(settings, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _running(pid, marker) else None


def claim_port(settings: Settings, name: str, port: int, marker: str, env_var: str) -> bool:
    """True when this state dir's ``name`` already listens on ``port`` (reuse it), False when the port is free.

    Raises:
        PortInUse: another process holds the port (another checkout's service, or anything else).
    """
    listener = port_listener(port)
    if listener is None:
        return False
    if is_own_listener(listener, own_pid(settings, name, marker), _parents):
        return True
    raise PortInUse(
        f"{name}: port {port} is held by {describe_pid(listener)}, which is not the {name} of this state dir "
        f"({settings.state_dir}). Stop it, or give this checkout another port with {env_var}."
    )


def _running(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``marker`` (a stale pid file may name a reused pid).

    Airflow retitles its processes (``airflow api_server -- host:...``), so ``-`` and ``_`` count as one.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        cmdline = " ".join(proc.cmdline()).replace("_", "-")
        return proc.status() != psutil.STATUS_ZOMBIE and marker.replace("_", "-") in cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


# ---------------------------------------------------------------------------------------------------------------
# Background services


@dataclass(frozen=True)
class Service:
    """A background process of this state dir: how to start it, how to recognise it, and where it listens."""

    name: str
    argv: list[str]
    marker: str  # a part of its command line, to tell it from an unrelated process that reused a stale pid
    port: int | None = None
    env_var: str = ""
    ready: Callable[[], bool] | None = None
    env: dict[str, str] | None = None
    timeout_s: float = 60.0


def start_service(settings: Settings, svc: Service) -> str:
    """Start ``svc`` detached (log in state_dir/logs/<name>.log) unless this state dir's one already runs;
    wait until it is ready. Returns "started" or "reused".

    Raises:
        PortInUse: the port is held by something that is not this state dir's service.
        RuntimeError / TimeoutError: the process exited, or did not become ready in time (the log says why).
    """
    ready = svc.ready or (lambda: _port_open("127.0.0.1", svc.port) if svc.port else True)
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{svc.name}.log"
    if svc.port is not None:
        reuse = claim_port(settings, svc.name, svc.port, svc.marker, svc.env_var)
    else:
        reuse = own_pid(settings, svc.name, svc.marker) is not None
    if reuse:
        _wait_ready(svc, ready, None, log_path)
        log.info("%s already running for %s", svc.name, settings.state_dir)
        return "reused"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            svc.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=svc.env,
        )
    pid_file(settings, svc.name).write_text(str(proc.pid))
    _wait_ready(svc, ready, proc, log_path)
    return "started"


def _wait_ready(svc: Service, ready: Callable[[], bool], proc, log_path: Path) -> None:
    deadline = time.monotonic() + svc.timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{svc.name} exited with {proc.returncode}; see {log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"{svc.name} did not become ready in {svc.timeout_s:.0f} s; see {log_path}")


def simulator_healthy(url: str) -> bool:
    try:
        return requests.get(f"{url.rstrip('/')}/health", timeout=1).ok
    except requests.RequestException:
        return False


def api_healthy(base_url: str) -> bool:
    """The API server answers its unauthenticated health endpoint and reports a healthy metadata database."""
    try:
        resp = requests.get(f"{base_url}/api/v2/monitor/health", timeout=2)
        return resp.ok and resp.json().get("metadatabase", {}).get("status") == "healthy"
    except (requests.RequestException, ValueError):
        return False


def start_simulator(settings: Settings) -> str:
    """Start the market simulator on the loopback address of ``settings.simulator_url``."""
    parts = urlsplit(settings.simulator_url)
    port = parts.port or 8765
    argv = [sys.executable, "-m", "griddesk.simulator", "--host", parts.hostname or "127.0.0.1", "--port", str(port)]
    return start_service(
        settings,
        Service(
            "simulator",
            argv,
            "griddesk.simulator",
            port,
            "GRIDDESK_SIMULATOR_URL",
            lambda: simulator_healthy(settings.simulator_url),
        ),
    )


def start_mailcatcher(settings: Settings, port: int | None = None) -> str:
    """Start the SMTP mail catcher on ``port`` (default ``settings.mail_port``); messages land in state_dir/mail."""
    port = port or settings.mail_port
    argv = [
        sys.executable,
        "-m",
        "griddesk.mailcatcher",
        "--port",
        str(port),
        "--maildir",
        str(settings.state_dir / "mail"),
    ]
    return start_service(settings, Service("mailcatcher", argv, "griddesk.mailcatcher", port, "GRIDDESK_MAIL_PORT"))


def start_docs(settings: Settings) -> str:
    """Serve the docs site (state_dir/docs_site: Data Docs and dbt docs) on 127.0.0.1:``docs_port``."""
    argv = [sys.executable, "-m", "griddesk.quality.docs_site", "--serve-only", "--port", str(settings.docs_port)]
    return start_service(
        settings, Service("docs", argv, "griddesk.quality.docs_site", settings.docs_port, "GRIDDESK_DOCS_PORT")
    )


def redis_healthy(settings: Settings) -> bool:
    """This state dir's Redis answers PING with its password."""
    import redis

    try:
        return bool(redis.Redis.from_url(redis_url(settings), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis(settings: Settings) -> str:
    """Start Debian's ``redis-server`` for this state dir on 127.0.0.1:``redis_port`` (the Celery broker).

    Its config (bind, port, password, no persistence: a lost queue is re-sent by the scheduler) is a 0600 file in
    state_dir/redis, so the password is in no command line.

    Raises:
        FileNotFoundError: no redis-server binary (apt-get install redis-server, or use docker compose).
    """
    import shutil

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise FileNotFoundError(
            "GRIDDESK_EXECUTOR=celery needs redis-server on PATH (apt-get install redis-server),"
            " or run the Celery setup with docker compose"
        )
    folder = settings.state_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "redis.conf"
    _private_file(
        conf,
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {settings.redis_port}",
                "protected-mode yes",
                f"dir {folder}",
                f"requirepass {state_secret(settings, 'redis_password')}",
                'save ""',
                "appendonly no",
                "daemonize no",
                'logfile ""',
            ]
        )
        + "\n",
    )
    return start_service(
        settings,
        Service(
            "redis",
            [binary, str(conf)],
            "redis-server",
            settings.redis_port,
            "GRIDDESK_REDIS_PORT",
            lambda: redis_healthy(settings),
        ),
    )


def worker_names(settings: Settings) -> list[str]:
    from griddesk.pipeline.placement import parse_workers

    return list(parse_workers(settings.celery_workers))


def start_workers(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """Start the Celery workers of ``settings.celery_workers`` (each consumes its queues); name -> started/reused.

    Each records itself as ``<name>@<host>`` in the task instances it runs (GRIDDESK_WORKER_NAME). No log server
    (it would bind every address): the API server reads task logs from the shared local log folder.
    """
    from griddesk.pipeline.placement import parse_workers

    done = {}
    for name, queues in parse_workers(settings.celery_workers).items():
        log_path = settings.state_dir / "logs" / f"airflow-{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        argv = [
            airflow_bin(),
            "celery",
            "worker",
            "--queues",
            ",".join(queues),
            "--celery-hostname",
            f"{name}@%h",
            "--concurrency",
            str(settings.worker_concurrency),
            "--skip-serve-logs",
            "--without-mingle",
            "--without-gossip",
        ]
        ready = lambda p=log_path, o=offset: _log_says(p, o, " ready.")  # noqa: E731
        svc = Service(
            f"airflow-{name}",
            argv,
            name,
            None,
            "",
            ready,
            {**os.environ, **env, "GRIDDESK_WORKER_NAME": name},
            timeout_s=180,
        )
        done[name] = start_service(settings, svc)
    return done


def _log_says(path: Path, offset: int, text: str) -> bool:
    """Whether ``text`` was written to ``path`` after byte ``offset`` (a service that says when it is ready)."""
    if not path.exists():
        return False
    with open(path, "rb") as fh:
        fh.seek(offset)
        return text.encode() in fh.read()


def stop_workers(settings: Settings, timeout_s: float = 60) -> list[str]:
    """Stop this state dir's Celery workers (warm shutdown: running tasks finish, up to ``timeout_s``)."""
    stopped = []
    for path in sorted(settings.state_dir.glob("airflow-*.pid")):
        name = path.stem.removeprefix("airflow-")
        if name in AIRFLOW_COMPONENTS:
            continue
        if _stop_pid_file(settings, path.stem, name, timeout_s):
            stopped.append(path.stem)
    return stopped


def start_airflow(
    settings: Settings, env: dict[str, str], components=AIRFLOW_COMPONENTS, schedule: bool = True
) -> dict[str, str]:
    """Start Airflow's ``components`` for this state dir (logs in state_dir/logs/airflow-<component>.log).

    ``schedule=False`` starts the scheduler with ``use_job_schedule`` off: it runs triggered runs only and never
    creates a cron run (what `make run` wants while it replays past delivery days on unpaused DAGs).
    Returns component -> "started" / "reused".
    """
    full_env = {**os.environ, **env}
    done = {}
    for comp in components:
        argv = [airflow_bin(), comp]
        port = None
        ready = None
        comp_env = full_env
        if comp == "api-server":
            argv += ["--host", settings.airflow_host, "--port", str(settings.airflow_port)]
            port = settings.airflow_port
            base = api_base_url(settings)
            ready = lambda base=base: api_healthy(base)  # noqa: E731
        if comp == "scheduler":
            comp_env = {**full_env, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(schedule)}
        if comp in ("scheduler", "triggerer"):
            # Their log server binds every address (hard-coded): the API server reads the task logs from the local
            # log folder instead, so nothing listens beyond 127.0.0.1 and two checkouts never share port 8793.
            argv.append("--skip-serve-logs")
        svc = Service(f"airflow-{comp}", argv, comp, port, "GRIDDESK_AIRFLOW_PORT", ready, comp_env, timeout_s=180)
        done[comp] = start_service(settings, svc)
        if comp == "scheduler" and done[comp] == "started":
            pid_file(settings, "airflow-scheduler").with_suffix(".mode").write_text(
                "cron" if schedule else "triggered-only"
            )
    return done


def scheduler_mode(settings: Settings) -> str | None:
    """``cron`` (`make ui`: cron runs are created), ``triggered-only`` (`make run`, `ui --replay`), or None."""
    if not own_pid(settings, "airflow-scheduler", "scheduler"):
        return None
    mode = pid_file(settings, "airflow-scheduler").with_suffix(".mode")
    return mode.read_text().strip() if mode.exists() else None


def stop_airflow(settings: Settings, components=AIRFLOW_COMPONENTS, timeout_s: float = 30) -> list[str]:
    """Stop this state dir's Airflow components (SIGTERM to their process groups, SIGKILL after ``timeout_s``)."""
    stopped = []
    for comp in components:
        if _stop_pid_file(settings, f"airflow-{comp}", comp, timeout_s):
            stopped.append(f"airflow-{comp}")
    return stopped


def _stop_pid_file(settings: Settings, name: str, marker: str, timeout_s: float = 30) -> bool:
    """Stop the process (and its process group) named by ``name``'s pid file, if it is still that service."""
    import psutil

    path = pid_file(settings, name)
    if not path.exists():
        return False
    pid = int(path.read_text().strip() or 0)
    path.unlink()
    if not pid or not _running(pid, marker):
        return False
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)  # started with start_new_session: the group is the service's own
    except (ProcessLookupError, PermissionError):
        procs[0].terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:
        p.kill()
    return True


def stop_services(settings: Settings) -> list[str]:
    """Stop what `make run` / `make ui` left running for ``settings.state_dir``; return the names stopped.

    Airflow's components, the docs site, the simulator and the mail catcher are found by their pid files, the
    embedded pgserver by its postmaster.pid. A server named by ``GRIDDESK_WAREHOUSE_URL`` is never touched.
    """
    stopped = stop_workers(settings) + stop_airflow(settings)
    for name, marker in (
        ("docs", "griddesk.quality.docs_site"),
        ("simulator", "griddesk.simulator"),
        ("mailcatcher", "griddesk.mailcatcher"),
        ("redis", "redis-server"),
    ):
        if _stop_pid_file(settings, name, marker, timeout_s=10):
            stopped.append(name)
    postmaster = settings.state_dir / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pid = int(postmaster.read_text().split()[0])
        if _running(pid, "postgres"):
            os.kill(pid, signal.SIGINT)  # fast shutdown: roll back open transactions, then stop
            stopped.append("pgserver")
    return stopped


def ensure_pools(api, settings: Settings) -> dict[str, int]:
    """Create or resize GridDesk's pools (:func:`griddesk.pipeline.placement.pools`) through the REST API.

    A task in a pool that does not exist is never scheduled, so every platform start makes sure they exist.
    """
    from griddesk.pipeline.placement import pools

    done = {}
    for name, (slots, description) in pools(settings).items():
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        if api.call("GET", f"/pools/{name}", ok=(200, 404)).status_code == 404:
            api.call("POST", "/pools", ok=(200, 201), json=body)
        else:
            api.call("PATCH", f"/pools/{name}", json=body)
        done[name] = slots
    return done


def airflow_running(settings: Settings) -> list[str]:
    """This state dir's Airflow components that are alive."""
    return [c for c in AIRFLOW_COMPONENTS if own_pid(settings, f"airflow-{c}", c)]


def run_window(settings: Settings) -> list[date]:
    """The last ``run_days`` delivery days that every configured market's data covers."""
    from griddesk.datasets import load_market_data

    last = min(load_market_data(code, settings)["delivery_date_local"].max() for code in settings.market_codes)
    return [last - timedelta(days=i) for i in reversed(range(settings.run_days))]


def run_dag_via_scheduler(
    api,
    dag_id: str,
    run_id: str,
    logical_date: datetime,
    conf: dict,
    label: str,
    sim_clock: tuple[Settings, datetime] | None = None,
) -> dict:
    """Trigger ``run_id`` (or clear it when it exists: a rerun of the same day), wait for the scheduler to finish
    it, print one progress line; raises if it did not succeed.

    ``sim_clock``: (settings, instant) to set the simulator's own clock to first. Outside backtest mode the
    simulator, not the client, owns the trading clock: the orchestrator replaying a past day sets it.
    """
    t0 = time.monotonic()
    if sim_clock is not None:
        from griddesk.simulator.security import set_simulator_clock

        set_simulator_clock(*sim_clock)
    existing = api.get_run(dag_id, run_id)
    if existing is None:
        api.trigger(dag_id, run_id, logical_date, conf)
    elif existing["state"] not in ("queued", "running"):
        api.clear_run(dag_id, run_id)
    run = api.wait_run(dag_id, run_id)
    print(f"  {dag_id:<20} {label:<24} {run['state']:<8} {time.monotonic() - t0:6.1f} s", flush=True)
    if run["state"] != "success":
        failed = [
            f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]
            for t in api.task_instances(dag_id, run_id)
            if t["state"] in ("failed", "upstream_failed")
        ]
        raise RuntimeError(
            f"{dag_id} {run_id} ended {run['state']} (failed: {', '.join(failed) or 'see the UI'});"
            " open it with `make ui` to read the task logs"
        )
    return run
