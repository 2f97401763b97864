"""Database roles on a real PostgreSQL: who may read and write what (griddesk.warehouse.roles), and the embedded
server's TCP listener with password authentication."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
from datetime import date

import psycopg2
import pytest

from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db, roles

pytestmark = pytest.mark.slow


def _as(url: str, role: str) -> str:
    return db.role_url(url, role)


def _denied(url: str, sql: str, params=None) -> str:
    """Run ``sql`` and return the error PostgreSQL raised; fails the test when the statement succeeds."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql, params)
            except psycopg2.Error as exc:
                return exc.pgerror or str(exc)
        pytest.fail(f"{sql!r} succeeded as {psycopg2.extensions.parse_dsn(url)['user']}")
    finally:
        conn.rollback()
        conn.close()


def _run(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def order_set(warehouse_url) -> str:
    """An order set with one step, a passed compliance check and an audit event, written as the pipeline role."""
    loader = _as(warehouse_url, roles.LOADER)
    os_id = "FR|2016-06-15|fixed|v1"
    with psycopg2.connect(loader) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_order_sets (order_set_id, market_code, delivery_date_local, schedule_id, strategy,
               trading_mode, status, forecast_model_version, end_soc_mode, expected_value, currency, n_steps,
               gate_closure_utc) values (%s, 'FR', %s, 's', 'fixed', 'paper', 'recorded', 'v1', 'fixed', 10, 'EUR',
               1, '2016-06-14 10:00Z')""",
            (os_id, date(2016, 6, 15)),
        )
        cur.execute(
            """insert into raw.bid_order_steps (order_set_id, market_code, delivery_date_local, delivery_start_utc,
               mtu_index, resolution_minutes, step_index, side, volume_mw, volume_ticks, limit_price_per_mwh,
               price_ticks, is_price_taker, currency) values (%s, 'FR', %s, '2016-06-14 22:00Z', 0, 60, 0, 'sell',
               1.0, 10, 50.0, 5000, false, 'EUR')""",
            (os_id, date(2016, 6, 15)),
        )
        cur.execute(
            "insert into raw.bid_compliance_results (order_set_id, check_name, passed) values (%s, 'volume_limit', true)",
            (os_id,),
        )
        cur.execute(
            """insert into raw.bid_audit_events (order_set_id, market_code, delivery_date_local, event, actor)
               values (%s, 'FR', %s, 'generated', 'test')""",
            (os_id, date(2016, 6, 15)),
        )
    return os_id


def test_loader_cannot_edit_a_checked_step_or_verdict_nor_rewrite_the_audit_trail(warehouse_url, order_set):
    loader = _as(warehouse_url, roles.LOADER)
    # Finding 21.1's edit (a step raised to 50 MW after compliance passed) is refused by the database itself.
    assert "permission denied" in _denied(
        loader, "update raw.bid_order_steps set volume_mw = 50 where order_set_id = %s", (order_set,)
    )
    assert "permission denied" in _denied(
        loader, "update raw.bid_compliance_results set passed = true where order_set_id = %s", (order_set,)
    )
    assert "permission denied" in _denied(loader, "update raw.bid_executions set accepted_volume_mw = 9")
    for sql in ("update raw.bid_audit_events set actor = 'someone else'", "delete from raw.bid_audit_events"):
        assert "permission denied" in _denied(loader, sql)
    for sql in (
        "truncate raw.bid_order_sets cascade",
        "alter table raw.bid_order_steps disable trigger all",
        "drop table raw.bid_audit_events",
        "alter table raw.bid_order_sets add column x int",
    ):
        assert "permission denied" in _denied(loader, sql) or "must be owner" in _denied(loader, sql)
    # What the pipeline does is allowed: status moves, and a rerun replaces the whole set (steps follow by cascade).
    _run(loader, "update raw.bid_order_sets set status = 'ready' where order_set_id = %s", (order_set,))
    _run(loader, "delete from raw.bid_order_sets where order_set_id = %s", (order_set,))
    assert _run(loader, "select count(*) from raw.bid_order_steps") == [(0,)]
    assert _run(loader, "select count(*) from raw.bid_audit_events") == [(1,)]


@pytest.mark.parametrize("role", [roles.TRANSFORM, roles.BI])
def test_only_the_pipeline_role_writes_orders_and_compliance(warehouse_url, order_set, role):
    url = _as(warehouse_url, role)
    for table in roles.TRADING_TABLES:
        error = _denied(url, f"delete from raw.{table}")
        assert "permission denied" in error, (table, error)
    assert "permission denied" in _denied(url, "update raw.bid_controls set is_active = false")


def _build_markets_mart(url: str) -> None:
    from griddesk.transform.dbt import run_dbt

    run_dbt(["run", "--select", "+dim_markets"], url)


def test_bi_reads_marts_only_and_writes_nowhere(warehouse_url):
    _build_markets_mart(warehouse_url)
    bi = _as(warehouse_url, roles.BI)
    assert _run(bi, "select count(distinct market_code) from marts.dim_markets")[0][0] >= 5
    for sql in (
        "select 1 from raw.bid_order_sets",
        "select 1 from raw.entsoe_day_ahead_prices",
        "select 1 from staging.stg_griddesk__market_reference",
        "select 1 from intermediate.int_day_ahead_prices_unioned",
        "delete from marts.dim_markets",
        "update marts.dim_markets set market_name = 'x'",
        "create table public.scratch (a int)",
        "create table marts.scratch (a int)",
        "create temporary table scratch (a int)",
        "create schema scratch",
    ):
        assert "permission denied" in _denied(bi, sql), sql


def test_dbt_runs_as_the_transform_role_and_cannot_touch_raw(warehouse_url):
    _build_markets_mart(warehouse_url)
    owners = _run(
        warehouse_url,
        """select distinct n.nspname, pg_get_userbyid(c.relowner) from pg_class c
                                    join pg_namespace n on n.oid = c.relnamespace
                                    where n.nspname in ('raw', 'staging', 'intermediate', 'marts')
                                      and c.relkind in ('r', 'v') order by 1""",
    )
    assert owners == [("marts", roles.TRANSFORM), ("raw", roles.OWNER), ("staging", roles.TRANSFORM)]
    transform = _as(warehouse_url, roles.TRANSFORM)
    assert "permission denied" in _denied(transform, "delete from raw.market_reference")
    assert "must be owner" in _denied(transform, "drop table raw.market_reference")


def test_bootstrap_is_idempotent_and_takes_over_tables_an_older_griddesk_made(pg_server_url):
    """An older warehouse (everything owned by one superuser) is migrated: raw to the owner role, the marts to
    the transform role; a second bootstrap changes nothing."""
    import uuid

    name = f"gd_roles_{uuid.uuid4().hex[:8]}"
    db.ensure_database(pg_server_url, name)
    url = db.with_database(pg_server_url, name)
    try:
        from importlib import resources

        # What an older GridDesk left: the raw DDL and a mart, all created by the superuser.
        _run(url, resources.files("griddesk.warehouse").joinpath("schema.sql").read_text())
        _run(url, "create schema marts; create table marts.old_mart as select 1 as x")
        db.apply_schema(url)
        db.apply_schema(url)
        owners = dict(
            _run(
                url,
                """select c.relname, pg_get_userbyid(c.relowner) from pg_class c
                                   where c.relname in ('market_reference', 'old_mart')""",
            )
        )
        assert owners == {"market_reference": roles.OWNER, "old_mart": roles.TRANSFORM}
        assert _run(_as(url, roles.BI), "select x from marts.old_mart") == [(1,)]
    finally:
        db.drop_database(pg_server_url, name)


# ------------------------------------------------------------------------------------------------ embedded server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(server_state_dir):
    """A fresh embedded server as `make run` starts it, on a free TCP port, before any bootstrap."""
    state = server_state_dir("roles")
    port = _free_port()
    settings = Settings(state_dir=state, warehouse_tcp_port=port, warehouse_url=None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDDESK_STATE_DIR", str(state))
        mp.setenv("GRIDDESK_WAREHOUSE_TCP_PORT", str(port))
        mp.delenv("GRIDDESK_WAREHOUSE_URL", raising=False)
        get_settings.cache_clear()
        yield settings, db.server_url(settings)
        get_settings.cache_clear()
    pid = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)


def test_a_login_without_createrole_is_told_what_the_dba_must_grant(server):
    """GRIDDESK_WAREHOUSE_URL naming a login that may not create roles, on a server without GridDesk's roles."""
    settings, admin = server
    _run(admin, "create role gd_plain login password 'plain-password-1234'")
    db.ensure_database(admin, "gd_plain")
    _run(db.with_database(admin, "gd_plain"), "alter database gd_plain owner to gd_plain")
    plain = roles.with_credentials(db.with_database(admin, "gd_plain"), "gd_plain", "plain-password-1234")
    with pytest.raises(roles.RoleSetupError, match="CREATEROLE") as raised:
        db.apply_schema(plain, settings)
    assert "plain-password-1234" not in str(raised.value)
    assert _run(admin, "select count(*) from pg_roles where rolname like 'griddesk%'") == [(0,)]


@pytest.fixture(scope="module")
def embedded(server):
    settings, _ = server
    return settings, db.bootstrap(settings)


def test_embedded_server_listens_on_loopback_tcp_with_passwords_only(embedded):
    settings, loader_url = embedded
    port = settings.warehouse_tcp_port
    passwords = db.role_passwords(settings)
    bi_tcp = f"postgresql://{roles.BI}:{passwords[roles.BI]}@127.0.0.1:{port}/{db.WAREHOUSE_DB}"
    assert _run(bi_tcp, "show listen_addresses") == [("127.0.0.1",)]
    assert _run(bi_tcp, "select current_user") == [(roles.BI,)]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(f"postgresql://{roles.BI}:wrong-password-123@127.0.0.1:{port}/{db.WAREHOUSE_DB}")
    with pytest.raises(psycopg2.OperationalError, match="pg_hba.conf rejects"):
        psycopg2.connect(f"postgresql://postgres@127.0.0.1:{port}/{db.WAREHOUSE_DB}")
    # The pipelines' URL is the loader's, on the socket, checked by password too.
    assert _run(loader_url, "select current_user, (select rolsuper from pg_roles where rolname = current_user)") == [
        (roles.LOADER, False)
    ]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(roles.with_credentials(loader_url, roles.LOADER, "not-the-password"))


def test_the_printed_bi_connection_string_holds_no_secret_and_connects(embedded):
    settings, _ = embedded
    conninfo, passfile = db.bi_connection(settings)
    password = db.role_passwords(settings)[roles.BI]
    assert password not in conninfo and conninfo.startswith(f"postgresql://{roles.BI}@127.0.0.1:")
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert _run(conninfo, "select current_user") == [(roles.BI,)]  # libpq reads the password from passfile=


def test_role_passwords_are_generated_once_and_kept_private(embedded):
    settings, _ = embedded
    secrets_file = settings.state_dir / roles.SECRETS_FILE
    first = db.role_passwords(settings)
    assert db.role_passwords(settings) == first == json.loads(secrets_file.read_text())
    assert {len(p) for p in first.values()} == {32} and len(set(first.values())) == 3
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_file.parent.stat().st_mode) == 0o700
