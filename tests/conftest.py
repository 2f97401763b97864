"""Shared pytest fixtures: the real data folder, and a fresh real PostgreSQL database per test module."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    """A real PostgreSQL server for the tests.

    ``GRIDDESK_TEST_SERVER_URL`` names one (e.g. postgresql://postgres@127.0.0.1:5432/postgres); unset,
    a throw-away embedded pgserver is started for the session, as on a fresh machine.
    """
    url = os.environ.get("GRIDDESK_TEST_SERVER_URL")
    if url:
        return url
    import pgserver

    pgdata = tmp_path_factory.mktemp("pg") / "data"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    # Keep a reference so the server lives as long as the session.
    pg_server_url._server = server  # type: ignore[attr-defined]
    return server.get_uri()


def _fresh_database(server_url: str, name: str) -> str:
    from griddesk.warehouse.db import apply_schema, ensure_database, with_database

    ensure_database(server_url, name)
    url = with_database(server_url, name)
    apply_schema(url)
    return url


def _drop_database(server_url: str, name: str) -> None:
    import psycopg2

    from griddesk.warehouse.db import with_database

    conn = psycopg2.connect(with_database(server_url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    conn.close()


@pytest.fixture
def warehouse_url(pg_server_url, request) -> str:
    """A fresh warehouse database with the raw schema applied, dropped after the test."""
    import uuid

    name = f"gd_test_{uuid.uuid4().hex[:10]}"
    url = _fresh_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)
