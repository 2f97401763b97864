"""Connections to the PostgreSQL warehouse, its roles, and the embedded pgserver default.

GridDesk talks to one PostgreSQL server. ``GRIDDESK_WAREHOUSE_URL`` names it and the login that bootstraps it (a
superuser, or a login with CREATEROLE that owns the database); unset, GridDesk starts an embedded PostgreSQL 16
(pgserver) whose data live in ``<state_dir>/pgdata``. The embedded server listens on a unix socket and on
127.0.0.1:``GRIDDESK_WAREHOUSE_TCP_PORT`` (password authentication, SCRAM; the superuser never over TCP). The
warehouse database is ``griddesk``; Airflow's metadata database ``airflow`` lives on the same server.

Roles (:mod:`griddesk.warehouse.roles`): :func:`bootstrap` creates them and runs the migrations as
``griddesk_owner``; the pipelines connect as ``griddesk_loader`` (:func:`warehouse_url`), dbt as
``griddesk_transform`` and BI tools as ``griddesk_bi`` (:func:`role_url`).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

from griddesk.redaction import redact_url
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import roles

log = logging.getLogger(__name__)

WAREHOUSE_DB = "griddesk"
AIRFLOW_DB = "airflow"


#: pg_hba.conf of the embedded server: the superuser only on the unix socket (mode 0700, the state dir's OS user),
#: every other role by password, TCP on loopback only and never for the superuser.
EMBEDDED_PG_HBA = """# Written by GridDesk (griddesk.warehouse.db) at every start of the embedded server: edits are lost.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
local   all       all                      scram-sha-256
host    all       postgres  127.0.0.1/32   reject
host    all       all       127.0.0.1/32   scram-sha-256
"""


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL cannot start as configured (e.g. its TCP port is taken)."""


def _postmaster(pgdata: Path):
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.is_running() else None


def _tcp_port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_embedded(server, tcp_port: int, restart: bool) -> None:
    """(Re)start pgserver's postgres with a unix socket and, when ``tcp_port``, 127.0.0.1:``tcp_port``."""
    from pgserver._commands import pg_ctl
    from pgserver.utils import find_suitable_socket_dir

    pgdata: Path = server.pgdata
    (pgdata / "pg_hba.conf").write_text(EMBEDDED_PG_HBA)
    if restart:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user, timeout=60)
    if tcp_port and not _tcp_port_free(tcp_port):
        raise EmbeddedServerError(
            f"127.0.0.1:{tcp_port} is already in use, so the embedded PostgreSQL cannot listen there: set "
            "GRIDDESK_WAREHOUSE_TCP_PORT to a free port (or 0 for the unix socket only)"
        )
    socket_dir = find_suitable_socket_dir(pgdata, server.runtime_path)
    if server.system_user is not None and socket_dir != pgdata:
        socket_dir.chmod(0o777)
    listen = f"-h 127.0.0.1 -p {tcp_port}" if tcp_port else '-h ""'
    pg_ctl(
        [
            "-w",
            "-o",
            listen,
            "-o",
            f"-k {socket_dir}",
            "-o",
            "-c unix_socket_permissions=0700",
            "-o",
            "-c password_encryption=scram-sha-256",
            "-l",
            str(server.log),
            "start",
        ],
        pgdata=pgdata,
        user=server.system_user,
        timeout=60,
    )


def embedded_server_url(state_dir: Path, tcp_port: int = 0) -> str:
    """Start (or reuse) the embedded pgserver in ``state_dir/pgdata``; return its superuser URL (db ``postgres``).

    The URL names the unix socket. With ``tcp_port``, the server also listens on 127.0.0.1:``tcp_port`` with
    password authentication; a server found running otherwise (an older GridDesk, or another port) is restarted
    once. The server keeps running after this process exits, so later commands and Airflow share it.

    Raises:
        EmbeddedServerError: ``tcp_port`` is taken by another program.
    """
    import pgserver  # imported lazily: only the embedded default needs it

    pgdata = (state_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    info = _postmaster(pgdata)
    wanted_host = "127.0.0.1" if tcp_port else None
    if info is None or info.hostname != wanted_host or (tcp_port and info.port != tcp_port):
        server = pgserver.get_server(pgdata, cleanup_mode=None)  # initialises a fresh pgdata (and starts it)
        _start_embedded(server, tcp_port, restart=_postmaster(pgdata) is not None)
        info = _postmaster(pgdata)
        if info is None:
            raise EmbeddedServerError(f"the embedded PostgreSQL in {pgdata} did not start; see {pgdata / 'log'}")
    return f"postgresql://postgres:@/postgres?host={info.socket_dir}&port={info.port}"


def with_database(url: str, database: str) -> str:
    """``url`` with its database name replaced; keeps the query (e.g. ``?host=/socket/dir``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def server_url(settings: Settings | None = None) -> str:
    """Admin URL of the server (database part irrelevant): the configured one or the embedded default's superuser."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    return embedded_server_url(settings.state_dir, settings.warehouse_tcp_port)


def admin_url(settings: Settings | None = None) -> str:
    """Admin URL of the warehouse database (bootstrap and migrations). A configured URL is used as given."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    return with_database(server_url(settings), WAREHOUSE_DB)


def role_passwords(settings: Settings | None = None) -> dict[str, str]:
    """Passwords of the login roles, from the state dir (generated once); see :mod:`griddesk.warehouse.roles`."""
    settings = settings or get_settings()
    bi = settings.warehouse_bi_password.get_secret_value() if settings.warehouse_bi_password else None
    return roles.role_passwords(settings.state_dir, bi)


def role_url(url: str, role: str, settings: Settings | None = None) -> str:
    """``url`` (any login on the warehouse database) logging in as GridDesk's ``role`` with its password."""
    password = role_passwords(settings)[role] if role in roles.LOGIN_ROLES else None
    return roles.with_credentials(url, role, password)


def warehouse_url(settings: Settings | None = None) -> str:
    """URL the pipelines use: the warehouse database as ``griddesk_loader`` (no DDL, no superuser)."""
    return role_url(admin_url(settings), roles.LOADER, settings)


def bi_connection(settings: Settings | None = None) -> tuple[str, Path]:
    """The ``griddesk_bi`` connection string a BI tool can paste, and the password file it points at.

    The string names host, port and database, and ``passfile=`` (libpq reads the password from that 0600 file),
    so it carries no secret. Embedded default: 127.0.0.1 and the TCP port.

    Raises:
        EmbeddedServerError: the embedded server has no TCP listener (``GRIDDESK_WAREHOUSE_TCP_PORT=0``).
    """
    settings = settings or get_settings()
    if settings.warehouse_url:
        params = libpq_params(settings.warehouse_url)
        host, port, database = str(params["host"]), int(params["port"]), str(params["dbname"])
    elif settings.warehouse_tcp_port:
        host, port, database = "127.0.0.1", settings.warehouse_tcp_port, WAREHOUSE_DB
    else:
        raise EmbeddedServerError("the embedded PostgreSQL has no TCP port (GRIDDESK_WAREHOUSE_TCP_PORT=0)")
    password = role_passwords(settings)[roles.BI]
    if host.startswith("/"):  # a unix socket directory: libpq's password file calls that host "localhost"
        passfile = roles.write_bi_passfile(settings.state_dir, "localhost", port, database, password)
        return f"postgresql://{roles.BI}@/{database}?host={host}&port={port}&passfile={passfile}", passfile
    passfile = roles.write_bi_passfile(settings.state_dir, host, port, database, password)
    netloc_host = f"[{host}]" if ":" in host else host
    return f"postgresql://{roles.BI}@{netloc_host}:{port}/{database}?passfile={passfile}", passfile


def libpq_params(url: str) -> dict[str, str | int]:
    """Split a postgresql:// URL into host/port/user/password/dbname (socket dirs come from ``?host=``)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or parts.hostname or "localhost"
    params: dict[str, str | int] = {
        "host": host,
        "port": parts.port or int(query.pop("port", 5432)),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
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


def apply_schema(url: str, settings: Settings | None = None) -> None:
    """Roles, schemas and raw tables (idempotent): the migrations run as ``griddesk_owner``, then the grants.

    ``url`` is an admin login on the warehouse database (see the module docstring). Also refreshes the market
    reference tables.

    Raises:
        roles.RoleSetupError: the roles cannot be created or used; the message says what a DBA must grant.
    """
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
    database = str(libpq_params(url)["dbname"])
    passwords = role_passwords(settings)
    with connect(url) as conn, conn.cursor() as cur:
        # One bootstrap at a time: concurrent `create table if not exists` can race on the catalog.
        cur.execute("select pg_advisory_xact_lock(4711)")
        roles.ensure_roles(cur, passwords, database)
        roles.prepare_schemas(cur, database)
        cur.execute(f"set local role {roles.OWNER}")
        for f in files:
            cur.execute(f.read_text())
        write_market_reference(cur)
        cur.execute("reset role")
        roles.grant_privileges(cur, database)


def bootstrap(settings: Settings | None = None) -> str:
    """Make the warehouse usable: server up, databases ``griddesk`` and ``airflow`` present, roles and schema applied.

    Returns the pipelines' URL (:func:`warehouse_url`, as ``griddesk_loader``).
    """
    settings = settings or get_settings()
    url = admin_url(settings)
    if not settings.warehouse_url:
        ensure_database(url, WAREHOUSE_DB)
    ensure_database(url, AIRFLOW_DB)
    apply_schema(url, settings)
    return warehouse_url(settings)


def redact(url: str) -> str:
    """The URL with any password masked, for logs and summaries (:func:`griddesk.redaction.redact_url`)."""
    return redact_url(url)


__all__ = [
    "AIRFLOW_DB",
    "EmbeddedServerError",
    "admin_url",
    "bi_connection",
    "role_passwords",
    "role_url",
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
