"""Connections to the PostgreSQL warehouse, and the embedded pgserver default.

GridDesk talks to one PostgreSQL server. ``GRIDDESK_WAREHOUSE_URL`` names it; unset, GridDesk starts an
embedded PostgreSQL 16 (pgserver) whose data live in ``<state_dir>/pgdata`` and which listens on a unix
socket only. The warehouse database is ``griddesk``; Airflow's metadata database ``airflow`` lives on the
same server.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

from griddesk.redaction import redact_url
from griddesk.settings import Settings, get_settings

log = logging.getLogger(__name__)

WAREHOUSE_DB = "griddesk"
AIRFLOW_DB = "airflow"


def embedded_server_url(state_dir: Path) -> str:
    """Start (or reuse) the embedded pgserver in ``state_dir/pgdata``; return its server URL (db ``postgres``).

    The server keeps running after this process exits, so later commands and Airflow share it.
    """
    import pgserver  # imported lazily: only the embedded default needs it

    pgdata = state_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def with_database(url: str, database: str) -> str:
    """``url`` with its database name replaced; keeps the query (e.g. ``?host=/socket/dir``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def server_url(settings: Settings | None = None) -> str:
    """URL of the server (database part irrelevant): the configured one or the embedded default."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    return embedded_server_url(settings.state_dir)


def warehouse_url(settings: Settings | None = None) -> str:
    """URL of the warehouse database. A configured URL is used as given, database included."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    return with_database(server_url(settings), WAREHOUSE_DB)


def libpq_params(url: str) -> dict[str, str | int]:
    """Split a postgresql:// URL into host/port/user/password/dbname (socket dirs come from ``?host=``)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or parts.hostname or "localhost"
    params: dict[str, str | int] = {
        "host": host,
        "port": parts.port or int(query.pop("port", 5432)),
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": (parts.path or "/postgres").lstrip("/") or "postgres",
    }
    return params


def sqlalchemy_url(url: str) -> str:
    """The psycopg2 SQLAlchemy form of a libpq URL (Airflow, GX and pandas want this)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, parts.path, parts.query, parts.fragment))


def ensure_database(url: str, database: str) -> None:
    """Create ``database`` on the server of ``url`` if it does not exist."""
    conn = psycopg2.connect(with_database(url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{database}"')
                log.info("created database %s", database)
    finally:
        conn.close()


def drop_database(url: str, database: str) -> None:
    """Drop ``database`` on the server of ``url`` if it exists, closing its open connections."""
    conn = psycopg2.connect(with_database(url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
    finally:
        conn.close()


def fresh_database(url: str, database: str) -> str:
    """A new, empty ``database`` on the server of ``url`` (dropped first if it exists) with the raw schema; its URL."""
    drop_database(url, database)
    ensure_database(url, database)
    new_url = with_database(url, database)
    apply_schema(new_url)
    return new_url


@contextmanager
def connect(url: str | None = None):
    """A psycopg2 connection to the warehouse, committed on success and rolled back on error."""
    conn = psycopg2.connect(url or warehouse_url())
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def apply_schema(url: str) -> None:
    """Create the raw schema and tables (idempotent) and refresh the market reference tables."""
    from griddesk.warehouse.reference import write_market_reference

    # schema.sql first, then each capability's own schema_<name>.sql, in name order.
    files = sorted(
        (
            f
            for f in resources.files("griddesk.warehouse").iterdir()
            if f.name.startswith("schema") and f.name.endswith(".sql")
        ),
        key=lambda f: (f.name != "schema.sql", f.name),
    )
    with connect(url) as conn, conn.cursor() as cur:
        # One bootstrap at a time: concurrent `create table if not exists` can race on the catalog.
        cur.execute("select pg_advisory_xact_lock(4711)")
        for f in files:
            cur.execute(f.read_text())
        write_market_reference(cur)


def bootstrap(settings: Settings | None = None) -> str:
    """Make the warehouse usable: server up, databases ``griddesk`` and ``airflow`` present, schema applied.

    Returns the warehouse URL.
    """
    settings = settings or get_settings()
    url = warehouse_url(settings)
    if not settings.warehouse_url:
        ensure_database(url, WAREHOUSE_DB)
    ensure_database(url, AIRFLOW_DB)
    apply_schema(url)
    return url


def redact(url: str) -> str:
    """The URL with any password masked, for logs and summaries (:func:`griddesk.redaction.redact_url`)."""
    return redact_url(url)


__all__ = [
    "AIRFLOW_DB",
    "WAREHOUSE_DB",
    "apply_schema",
    "bootstrap",
    "connect",
    "embedded_server_url",
    "drop_database",
    "ensure_database",
    "fresh_database",
    "libpq_params",
    "redact",
    "server_url",
    "sqlalchemy_url",
    "warehouse_url",
    "with_database",
]
