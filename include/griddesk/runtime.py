"""Local runtime for `make run`, `make ui` and the end-to-end tests: Airflow settings and background services.

Everything lives under ``settings.state_dir`` (git-ignored): the embedded PostgreSQL, AIRFLOW_HOME,
service logs and pid files, and caught mail.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

MAIL_PORT = 1025


def airflow_env(settings: Settings, mail_port: int = MAIL_PORT) -> dict[str, str]:
    """Environment for Airflow: metadata DB ``airflow`` on the warehouse's server, our DAGs, SMTP to the catcher.

    Values already set in the environment win, so a deployment can override any of them.
    """
    metadata_url = db.sqlalchemy_url(db.with_database(db.server_url(settings), db.AIRFLOW_DB))
    home = settings.state_dir / "airflow"
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": mail_port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "griddesk@localhost"},
    }
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__PORT": "8080",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
    }
    return {k: os.environ.get(k, v) for k, v in env.items()}


def apply_airflow_env(settings: Settings | None = None) -> dict[str, str]:
    """Put :func:`airflow_env` into ``os.environ`` (before Airflow is imported)."""
    env = airflow_env(settings or get_settings())
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def migrate_airflow_db(env: dict[str, str]) -> None:
    """``airflow db migrate`` on the metadata database (idempotent)."""
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start_background(name: str, args: list[str], settings: Settings, ready) -> None:
    """Start ``python -m <args>`` detached, logging to state_dir/logs/<name>.log, and wait until ``ready()``."""
    if ready():
        log.info("%s already running", name)
        return
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    (settings.state_dir / f"{name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}")
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not become ready in 60 s; see {logs / (name + '.log')}")


def simulator_healthy(url: str) -> bool:
    try:
        return requests.get(f"{url.rstrip('/')}/health", timeout=1).ok
    except requests.RequestException:
        return False


def start_simulator(settings: Settings) -> None:
    """Start the market simulator on the loopback address of ``settings.simulator_url``."""
    parts = urlsplit(settings.simulator_url)
    args = ["griddesk.simulator", "--host", parts.hostname or "127.0.0.1", "--port", str(parts.port or 8765)]
    start_background("simulator", args, settings, lambda: simulator_healthy(settings.simulator_url))


def start_mailcatcher(settings: Settings, port: int = MAIL_PORT) -> None:
    """Start the SMTP mail catcher; messages land in state_dir/mail."""
    args = ["griddesk.mailcatcher", "--port", str(port), "--maildir", str(settings.state_dir / "mail")]
    start_background("mailcatcher", args, settings, lambda: _port_open("127.0.0.1", port))


def _running(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``marker`` (a stale pid file may name a reused pid)."""
    import psutil

    try:
        return any(marker in part for part in psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def stop_services(settings: Settings) -> list[str]:
    """Stop what `make run` / `make ui` left running for ``settings.state_dir``; return the names stopped.

    The simulator and mail catcher are found by their pid files, the embedded pgserver by its postmaster.pid.
    A server named by ``GRIDDESK_WAREHOUSE_URL`` is never touched: it is not GridDesk's.
    """
    import signal

    stopped = []
    for name in ("simulator", "mailcatcher"):
        pid_file = settings.state_dir / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        if _running(pid, f"griddesk.{name}"):
            os.kill(pid, signal.SIGTERM)
            stopped.append(name)
        pid_file.unlink()
    postmaster = settings.state_dir / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pid = int(postmaster.read_text().split()[0])
        if _running(pid, "postgres"):
            os.kill(pid, signal.SIGINT)  # fast shutdown: roll back open transactions, then stop
            stopped.append("pgserver")
    return stopped
