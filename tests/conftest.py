"""Shared pytest fixtures: the real data folder, and a fresh real PostgreSQL database per test module."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from griddesk.settings import PROJECT_ROOT

pytest_plugins = ["tests.plugins.smtp"]

SHARED_DATA = Path(os.environ.get("GRIDDESK_SHARED_DIR", PROJECT_ROOT.parent / "shared")) / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data``; skips the test when it is absent (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the real data folder {SHARED_DATA} (../shared/data), which is absent here")
    return SHARED_DATA


_SERVER: dict = {}


def pytest_configure(config) -> None:
    """Start the test PostgreSQL server and point Airflow at it, before any test imports Airflow.

    ``GRIDDESK_TEST_SERVER_URL`` names a server (e.g. postgresql://postgres@127.0.0.1:5432/postgres);
    unset, a throw-away embedded pgserver is started for the session, as on a fresh machine.
    Airflow's metadata database for the tests is ``airflow_tests`` on that server.
    """
    import tempfile

    from griddesk.warehouse.db import AIRFLOW_DB, ensure_database, sqlalchemy_url, with_database

    base = Path(tempfile.mkdtemp(prefix="gd-tests-"))
    url = os.environ.get("GRIDDESK_TEST_SERVER_URL")
    if not url:
        import pgserver

        server = pgserver.get_server(base / "pg", cleanup_mode=None)
        _SERVER["server"] = server
        url = server.get_uri()
    _SERVER["url"] = url
    metadata_db = f"{AIRFLOW_DB}_tests"
    ensure_database(url, metadata_db)
    os.environ["AIRFLOW_HOME"] = str(base / "airflow")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sqlalchemy_url(with_database(url, metadata_db))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    # The tests' own state (dbt targets, GX results) stays out of the developer's .griddesk.
    os.environ["GRIDDESK_STATE_DIR"] = str(base / "state")


def pytest_unconfigure(config) -> None:
    server = _SERVER.get("server")
    if server is None:
        return
    # Close Airflow's pooled connections while the server is up; otherwise Airflow's atexit hook
    # rolls them back against a stopped server and prints a traceback after the test summary.
    airflow_settings = sys.modules.get("airflow.settings")
    if airflow_settings is not None:
        with contextlib.suppress(Exception):
            airflow_settings.dispose_orm(do_log=False)
    # pgserver's atexit hook logs through handlers whose streams pytest has closed by then.
    logging.getLogger("pgserver").disabled = True
    # pgserver's own cleanup runs pg_ctl as another user and can fail on a root-owned temp dir;
    # a fast shutdown signal to the postmaster always works and leaves no server behind.
    pid_file = Path(server.pgdata) / "postmaster.pid"
    with contextlib.suppress(Exception):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the session's real PostgreSQL server (see ``pytest_configure``)."""
    return _SERVER["url"]


def _fresh_database(server_url: str, name: str) -> str:
    from griddesk.warehouse.db import fresh_database

    return fresh_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    from griddesk.warehouse.db import drop_database

    drop_database(server_url, name)


@pytest.fixture
def warehouse_url(pg_server_url, request) -> str:
    """A fresh warehouse database with the raw schema applied, dropped after the test."""
    import uuid

    name = f"gd_test_{uuid.uuid4().hex[:10]}"
    url = _fresh_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)
