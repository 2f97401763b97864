"""Database roles: who may do what in the warehouse (docs/architecture.md, "Security and safety").

| role | login | what it may do |
|---|---|---|
| ``griddesk_owner`` | no | owns ``raw`` and every raw table; migrations (the ``schema*.sql`` files) run as it |
| ``griddesk_loader`` | yes | the pipelines (Airflow tasks): read everything, write ``raw``; the only role that writes orders, |
| | | compliance results, executions, the audit trail and the kill switch, and only as the pipeline does |
| ``griddesk_transform`` | yes | dbt: reads ``raw``, owns ``staging``, ``intermediate`` and ``marts`` (it builds them) |
| ``griddesk_bi`` | yes | reads ``marts`` only: no ``raw``, no staging, no writes, no temporary tables |

dbt runs as its own role, not as the owner: models are arbitrary SQL, and a model (or a ``run-operation``) run
as the owner could rewrite raw orders or the audit trail. As ``griddesk_transform`` it can only read ``raw``, and
it owns what it builds, which dbt needs (it drops, renames and comments its relations).

Within ``raw`` the loader may not UPDATE order steps, compliance results or executions (they are replaced whole,
so a step cannot be edited after compliance passed), and the audit trail is append-only (no UPDATE, no DELETE).
No login role may TRUNCATE, ALTER or DROP a raw table.

Passwords are generated once (``secrets.token_urlsafe``), kept in ``<state_dir>/secrets/warehouse-roles.json``
(mode 0600, folder 0700) and sent to the server only as SCRAM-SHA-256 verifiers, so no plain password is ever
part of an SQL statement or a server log. ``GRIDDESK_WAREHOUSE_BI_PASSWORD`` overrides the ``griddesk_bi``
password (docker-compose sets it, so Grafana can log in).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2

OWNER = "griddesk_owner"
LOADER = "griddesk_loader"
TRANSFORM = "griddesk_transform"
BI = "griddesk_bi"
#: Roles that log in, each with a password of its own.
LOGIN_ROLES = (LOADER, TRANSFORM, BI)
ALL_ROLES = (OWNER, *LOGIN_ROLES)

#: Schemas dbt builds (generate_schema_name); owned by the transform role.
DBT_SCHEMAS = ("staging", "intermediate", "marts")

#: Raw tables whose rows the loader inserts and deletes but never updates: a checked step, a compliance verdict or
#: an execution is replaced whole, never edited in place.
NO_UPDATE_TABLES = ("bid_order_steps", "bid_compliance_results", "bid_executions")
#: Raw tables the loader may only append to.
APPEND_ONLY_TABLES = ("bid_audit_events",)
#: The orders and compliance tables: written by the pipeline role only (tests/integration/test_warehouse_roles.py).
TRADING_TABLES = (
    "bid_order_sets",
    "bid_order_steps",
    "bid_compliance_results",
    "bid_audit_events",
    "bid_controls",
    "bid_executions",
    "bid_orders",
    "bid_schedules",
)

SECRETS_FILE = Path("secrets") / "warehouse-roles.json"
#: A libpq password file holding only griddesk_bi's entry: what the run summary's connection string points at.
BI_PASSFILE = Path("secrets") / "griddesk_bi.pgpass"

_PASSWORD_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)
SCRAM_ITERATIONS = 4096


class RoleSetupError(RuntimeError):
    """The warehouse's roles cannot be created or used as GridDesk needs; the message says what a DBA must do."""


# ---------------------------------------------------------------------------------------------------- passwords


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (what ``ALTER ROLE ... PASSWORD`` accepts).

    Sending the verifier instead of the password keeps the password out of statements and server logs.
    Passwords here are printable ASCII, for which SASLprep is the identity.
    """
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def check_password(password: str, name: str) -> str:
    """``password`` when it is 16+ printable ASCII characters without blanks; raises ``ValueError`` naming ``name``.

    The value itself never appears in the message.
    """
    if len(password) < 16 or not set(password) <= _PASSWORD_CHARS:
        raise ValueError(f"{name} must be at least 16 printable ASCII characters without spaces")
    return password


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive file lock, so two processes never generate different passwords for the same role."""
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (folder 0700, file 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def role_passwords(state_dir: Path, bi_password: str | None = None) -> dict[str, str]:
    """The password of every login role: read from ``state_dir``'s secrets file, generated once when missing.

    Args:
        state_dir: GridDesk's state folder (``GRIDDESK_STATE_DIR``).
        bi_password: Overrides griddesk_bi's password (``GRIDDESK_WAREHOUSE_BI_PASSWORD``); not written to the file.

    Raises:
        ValueError: the secrets file is not a JSON object of strings, or ``bi_password`` is too weak.
    """
    path = state_dir / SECRETS_FILE
    with _locked(path.with_name(".warehouse-roles.lock")):
        stored = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
            raise ValueError(f"{path} must hold a JSON object of role name -> password")
        missing = [role for role in LOGIN_ROLES if role not in stored]
        for role in missing:
            stored[role] = secrets.token_urlsafe(24)
        if missing:
            write_private(path, json.dumps(stored, indent=2, sort_keys=True) + "\n")
    passwords = {role: stored[role] for role in LOGIN_ROLES}
    if bi_password:
        passwords[BI] = check_password(bi_password, "GRIDDESK_WAREHOUSE_BI_PASSWORD")
    return passwords


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def write_bi_passfile(state_dir: Path, host: str, port: int, database: str, password: str) -> Path:
    """Write the libpq password file that holds griddesk_bi's password only (0600); returns its path."""
    line = ":".join(_pgpass_escape(str(v)) for v in (host, port, database, BI, password))
    path = state_dir / BI_PASSFILE
    write_private(path, line + "\n")
    return path


def with_credentials(url: str, user: str, password: str | None) -> str:
    """``url`` logging in as ``user`` with ``password`` (host, port, database and query kept)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------------------------------------------- server side


def _is_superuser(cur) -> bool:
    cur.execute("select rolsuper from pg_roles where rolname = current_user")
    return bool(cur.fetchone()[0])


def _existing_roles(cur) -> set[str]:
    cur.execute("select rolname from pg_roles where rolname = any(%s)", (list(ALL_ROLES),))
    return {r[0] for r in cur.fetchall()}


def _dba_instructions(database: str) -> str:
    return (
        "GridDesk needs four roles on this server. Either grant the login in GRIDDESK_WAREHOUSE_URL the CREATEROLE "
        "attribute (ALTER ROLE <login> CREATEROLE), or create them as a DBA: CREATE ROLE griddesk_owner NOLOGIN; "
        "CREATE ROLE griddesk_loader LOGIN PASSWORD '...'; CREATE ROLE griddesk_transform LOGIN PASSWORD '...'; "
        "CREATE ROLE griddesk_bi LOGIN PASSWORD '...'; GRANT griddesk_owner, griddesk_transform TO <login> WITH "
        f"SET TRUE; and make <login> the owner of database {database}. Put the three passwords in "
        f"<GRIDDESK_STATE_DIR>/{SECRETS_FILE} as a JSON object (mode 0600). See docs/architecture.md."
    )


def ensure_roles(cur, passwords: dict[str, str], database: str) -> None:
    """Create the four roles when missing and set the login roles' passwords (as SCRAM verifiers); idempotent.

    Runs as the bootstrap login (a superuser, or a login with CREATEROLE). Roles are server-wide: every GridDesk
    database on one server shares them. A role that exists but cannot be altered is accepted when its password is
    already known (a DBA created it and wrote the secrets file).

    Raises:
        RoleSetupError: a role is missing and cannot be created, or the bootstrap login cannot act as the owner
            and transform roles; the message says what a DBA must grant.
    """
    superuser = _is_superuser(cur)
    existing = _existing_roles(cur)
    for role in ALL_ROLES:
        login = role in LOGIN_ROLES
        password = f" password '{scram_verifier(passwords[role])}'" if login else ""
        create = ("login noinherit" if login else "nologin") + " nosuperuser nocreatedb nocreaterole" + password
        alter = ("login" if login else "nologin") + password
        cur.execute("savepoint gd_role")
        try:
            if role in existing:
                cur.execute(f"alter role {role} with {alter}")
            else:
                # A concurrent bootstrap of another database may create it first: then alter it.
                cur.execute(
                    f"""do $gd$ begin create role {role} with {create};
                        exception when duplicate_object or unique_violation then alter role {role} with {alter};
                        end $gd$"""
                )
            cur.execute("release savepoint gd_role")
        except psycopg2.Error as exc:
            cur.execute("rollback to savepoint gd_role")
            if role not in existing:
                raise RoleSetupError(
                    f"cannot create role {role}: {exc.pgerror or exc}. {_dba_instructions(database)}"
                ) from None
    cur.execute(
        "select rolname from pg_roles where rolname = any(%s) and (rolsuper or rolbypassrls)", (list(ALL_ROLES),)
    )
    powerful = [r[0] for r in cur.fetchall()]
    if powerful:
        raise RoleSetupError(
            f"role(s) {', '.join(powerful)} are superuser or bypass row security: GridDesk's roles "
            "must not be (ALTER ROLE ... NOSUPERUSER NOBYPASSRLS)"
        )
    if not superuser:
        # The bootstrap login runs migrations as the owner and sets dbt's default privileges as transform.
        for role in (OWNER, TRANSFORM):
            cur.execute("select pg_has_role(current_user, %s, 'SET')", (role,))
            if cur.fetchone()[0]:
                continue
            cur.execute("savepoint gd_member")
            try:
                cur.execute(f"grant {role} to current_user with inherit false, set true")
                cur.execute("release savepoint gd_member")
            except psycopg2.Error as exc:
                cur.execute("rollback to savepoint gd_member")
                raise RoleSetupError(f"cannot act as {role}: {exc}. {_dba_instructions(database)}") from None


_OWNERSHIP_SQL = """
do $$
declare
    r record;
begin
    for r in
        select n.nspname, c.relname, c.relkind, case when n.nspname = 'raw' then %(owner)s else %(transform)s end as role
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
          and pg_get_userbyid(c.relowner) <> case when n.nspname = 'raw' then %(owner)s else %(transform)s end
          -- sequences owned by a column follow their table
          and not (c.relkind = 'S' and exists (
              select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))
    loop
        execute format(
            'alter %%s %%I.%%I owner to %%I',
            case r.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'S' then 'sequence'
                           when 'f' then 'foreign table' else 'table' end,
            r.nspname, r.relname, r.role);
    end loop;
end $$;
"""


def prepare_schemas(cur, database: str) -> None:
    """``raw`` owned by the owner role and the dbt schemas by the transform role, with everything in them.

    Moves objects an older GridDesk (one superuser) created; a fresh warehouse only gets the schemas. The owner
    role may create schemas (the migrations' ``create schema if not exists`` checks that right first).
    """
    cur.execute(f"grant create on database {_quoted(database)} to {OWNER}")
    cur.execute(f"create schema if not exists raw authorization {OWNER}")
    cur.execute(f"alter schema raw owner to {OWNER}")
    for schema in DBT_SCHEMAS:
        cur.execute(f"create schema if not exists {schema} authorization {TRANSFORM}")
        cur.execute(f"alter schema {schema} owner to {TRANSFORM}")
    cur.execute(_OWNERSHIP_SQL, {"owner": OWNER, "transform": TRANSFORM, "schemas": ["raw", *DBT_SCHEMAS]})


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def grant_privileges(cur, database: str) -> None:
    """Grant each role exactly what the table in the module docstring says; idempotent.

    Run after the raw DDL, by the bootstrap login (owner of the database, member of the owner and transform roles).
    """
    db = _quoted(database)
    no_update = ", ".join(f"raw.{t}" for t in NO_UPDATE_TABLES)
    append_only = ", ".join(f"raw.{t}" for t in APPEND_ONLY_TABLES)
    dbt_schemas = ", ".join(DBT_SCHEMAS)
    statements = [
        # nothing for PUBLIC: every right below is named
        f"revoke all on database {db} from public",
        f"grant connect, temporary on database {db} to {LOADER}, {TRANSFORM}",
        f"grant connect on database {db} to {BI}",
        "revoke create on schema public from public",
        # raw: the loader writes, dbt reads, BI sees nothing
        "revoke all on schema raw from public",
        f"grant usage on schema raw to {LOADER}, {TRANSFORM}",
        f"grant select, insert, update, delete on all tables in schema raw to {LOADER}",
        f"grant usage, select on all sequences in schema raw to {LOADER}",
        f"grant select on all tables in schema raw to {TRANSFORM}",
        f"revoke update on {no_update} from {LOADER}",
        f"revoke update, delete on {append_only} from {LOADER}",
        f"alter default privileges for role {OWNER} in schema raw "
        f"grant select, insert, update, delete on tables to {LOADER}",
        f"alter default privileges for role {OWNER} in schema raw grant usage, select on sequences to {LOADER}",
        f"alter default privileges for role {OWNER} in schema raw grant select on tables to {TRANSFORM}",
        # dbt's schemas: the pipelines read them all (quality gates, summaries), BI reads marts
        f"grant usage on schema {dbt_schemas} to {LOADER}",
        f"grant usage on schema marts to {BI}",
        f"grant select on all tables in schema {dbt_schemas} to {LOADER}",
        f"grant select on all tables in schema marts to {BI}",
        f"alter default privileges for role {TRANSFORM} in schema {dbt_schemas} grant select on tables to {LOADER}",
        f"alter default privileges for role {TRANSFORM} in schema marts grant select on tables to {BI}",
    ]
    for statement in statements:
        cur.execute(statement)


__all__ = [
    "ALL_ROLES",
    "APPEND_ONLY_TABLES",
    "BI",
    "BI_PASSFILE",
    "DBT_SCHEMAS",
    "LOADER",
    "LOGIN_ROLES",
    "NO_UPDATE_TABLES",
    "OWNER",
    "RoleSetupError",
    "SECRETS_FILE",
    "TRADING_TABLES",
    "TRANSFORM",
    "check_password",
    "ensure_roles",
    "grant_privileges",
    "prepare_schemas",
    "role_passwords",
    "scram_verifier",
    "with_credentials",
    "write_bi_passfile",
    "write_private",
]
