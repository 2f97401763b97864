"""Secrets never reach a log line, an exception, a warehouse table or Airflow's database, on any failure path.

Each client is driven into its failures over real HTTP: a closed port, the simulator's injected 5xx and broken
documents, and a small echoing server that plays an API (or a proxy) quoting the request, token included, in its
error body. Everything GridDesk turns into text is then searched for the secret: every log record (DEBUG and up,
urllib3's included), the exception with its traceback, every text column of every warehouse table after the call
logs were written, and, for a whole Airflow DAG run, every text column of Airflow's metadata database.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, quote_plus

import psycopg2
import pytest
import requests

from griddesk.bidding.execution import OrderApiClient, OrderApiError
from griddesk.clock import AFTERNOON, RunClock
from griddesk.entsoe.client import EntsoeClient, EntsoeHttpError
from griddesk.extraction.entsoe_feeds import extract_feed, feeds_of
from griddesk.feeds.api_health import write_call_log
from griddesk.feeds.auth import ClientCredentials
from griddesk.feeds.errors import FeedHttpError
from griddesk.feeds.http import FeedHttpClient, RetryPolicy
from griddesk.markets import get_market
from griddesk.simulator.security import admin_headers

FR = get_market("FR")
DAY = date(2016, 6, 14)
ENTSOE_TOKEN = "gd-entsoe-token-9b2e41"
CLIENT_SECRET = "gd-ckw-client-secret-77aa"
ORDER_TOKEN = "gd-order-api-token-31f0"


@pytest.fixture(scope="module")
def simulator_url(start_simulator) -> str:
    """The default test simulator, accepting this module's own tokens (any other is refused)."""
    from tests.integration.conftest import default_simulator_kwargs

    return start_simulator(**default_simulator_kwargs(), tokens=[ENTSOE_TOKEN, ORDER_TOKEN])


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def assert_clean(texts: list[str], secret: str) -> None:
    joined = "\n".join(texts)
    assert joined, "nothing was captured: the test would prove nothing"
    leaks = [form for form in _forms(secret) if form in joined]
    at = joined.find(secret)
    assert not leaks, f"secret found in captured text near: {joined[max(0, at - 200) : at + 50]!r}"


def text_columns_containing(url: str, needle: str) -> list[str]:
    """``schema.table.column`` of every text-like column holding ``needle`` (plain or URL-encoded), in any schema."""
    hits = []
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select table_schema, table_name, column_name from information_schema.columns
               where table_schema not in ('pg_catalog', 'information_schema')
                 and data_type in ('text', 'character varying', 'json', 'jsonb', 'bytea', 'character')
                 and (table_schema, table_name) in (select table_schema, table_name from information_schema.tables
                                                    where table_type = 'BASE TABLE')"""
        )
        for schema, table, column in cur.fetchall():
            for form in _forms(needle):
                cur.execute(
                    f'select 1 from "{schema}"."{table}" where position(%s in "{column}"::text) > 0 limit 1', (form,)
                )
                if cur.fetchone():
                    hits.append(f"{schema}.{table}.{column}")
    return hits


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's status and a body quoting the request: line, headers, body."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        data = f"upstream refused {self.command} {self.path}\n{self.headers}\n{body}".encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def echo_server() -> Iterator:
    """``start(status) -> url``: an HTTP server on loopback that quotes each request in its error body."""
    servers = []

    def start(status: int) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.status = status
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def inject(sim: str, kind: str, times: int) -> None:
    resp = requests.post(
        f"{sim}/admin/faults",
        headers=admin_headers(),
        json={"endpoint": "entsoe.A44", "kind": kind, "times": times},
        timeout=10,
    )
    resp.raise_for_status()


def test_entsoe_token_never_reaches_logs_exceptions_or_tables(simulator_url, warehouse_url, echo_server, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 writes whole request URLs at DEBUG
    spec = feeds_of(FR)[0]
    sim_now = RunClock(DAY, AFTERNOON).sim_now(FR)
    clients = {
        "unreachable (closed port)": closed_port_url(),
        "simulator 503": simulator_url,
        "refusal quoting the request (403)": echo_server(403),
        "gateway error quoting the request (502)": echo_server(502),
        "broken document every time": simulator_url,
    }
    texts: list[str] = []
    conn = psycopg2.connect(warehouse_url)
    for case, base_url in clients.items():
        requests.delete(f"{simulator_url}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
        if case == "simulator 503":
            inject(simulator_url, "http_5xx", times=2)
        if case == "broken document every time":
            inject(simulator_url, "malformed", times=2)
        client = EntsoeClient(base_url, ENTSOE_TOKEN, sim_now=sim_now, max_attempts=2, backoff_s=0.01)
        with pytest.raises(EntsoeHttpError) as failure:
            extract_feed(client, conn, spec, DAY, DAY)
        texts += [case, str(failure.value), repr(failure.value), "".join(traceback.format_exception(failure.value))]
        assert_clean([*texts, caplog.text], ENTSOE_TOKEN)
        assert len(client.call_log.calls) == (1 if "403" in case else 2), case
        write_call_log(conn, client.call_log, run_id=f"leak-test {case}")  # as the feed tasks store their calls
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    assert "securityToken=***" in caplog.text  # the redaction did run on urllib3's DEBUG lines
    assert_clean(texts, ENTSOE_TOKEN)
    assert text_columns_containing(warehouse_url, ENTSOE_TOKEN) == []
    with psycopg2.connect(warehouse_url) as c, c.cursor() as cur:
        cur.execute("select count(*) from raw.api_call_log where feed = 'entsoe'")
        assert cur.fetchone()[0] == 9  # the attempts were stored, without the token
        cur.execute("select count(*) from raw.entsoe_deliveries")
        assert cur.fetchone()[0] == 0


def test_ckw_client_secret_and_order_api_token_never_reach_logs_exceptions_or_tables(
    warehouse_url, echo_server, caplog
):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    policy = RetryPolicy(max_attempts=2, backoff_s=0.01, timeout_s=5)
    # CKW: the token endpoint refuses the credentials and quotes the form it got (client_secret included).
    for status in (400, 503):
        token_url = f"{echo_server(status)}/oauth/token"
        http_client = FeedHttpClient(
            echo_server(200), "ckw", auth=ClientCredentials(token_url, "griddesk", CLIENT_SECRET), policy=policy
        )
        with pytest.raises(FeedHttpError) as failure:
            http_client.get_json("/dynamic_prices", "ckw.dynamic_prices")
        texts += [str(failure.value), "".join(traceback.format_exception(failure.value))]
        write_call_log(psycopg2.connect(warehouse_url), http_client.call_log, run_id="leak-test ckw")
    # Order API: unreachable, then a gateway quoting the request headers (the bearer token) in its 503 body.
    payload = {"market": "FR", "delivery_date": "2016-06-15", "client_order_set_id": "x", "orders": []}
    for base_url in (closed_port_url(), echo_server(503), echo_server(422)):
        client = OrderApiClient(
            base_url, ORDER_TOKEN, sim_now=datetime(2016, 6, 14, 9, tzinfo=UTC), max_attempts=2, backoff_s=0.01
        )
        with pytest.raises(OrderApiError) as failure:
            client.submit(payload)
        texts += [str(failure.value), repr(failure.value.detail), "".join(traceback.format_exception(failure.value))]
    texts.append(caplog.text)
    assert_clean(texts, CLIENT_SECRET)
    assert_clean(texts, ORDER_TOKEN)
    assert text_columns_containing(warehouse_url, CLIENT_SECRET) == []


@pytest.mark.slow
def test_a_failing_airflow_run_stores_no_token_in_airflow_or_the_warehouse(
    pg_server_url, warehouse_url, monkeypatch, caplog, capfd
):
    """The backfill DAG as a real Airflow run against an unreachable API: every task fails, nothing leaks."""
    from griddesk.cli import load_dag, run_dag
    from griddesk.runtime import migrate_airflow_db
    from griddesk.settings import get_settings
    from griddesk.warehouse.db import AIRFLOW_DB, with_database

    caplog.set_level(logging.DEBUG)
    for key, value in {
        "GRIDDESK_WAREHOUSE_URL": warehouse_url,
        "GRIDDESK_SIMULATOR_URL": closed_port_url(),
        "GRIDDESK_MARKETS": "FR",
        "GRIDDESK_ENTSOE_TOKEN": ENTSOE_TOKEN,
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        migrate_airflow_db({})
        dag = load_dag("griddesk_backfill")
        for task in dag.tasks:
            task.retries = 0  # the failure is the point; the retries would only repeat it
        with pytest.raises(RuntimeError, match="failed"):
            run_dag(
                dag,
                datetime(2016, 6, 14, 8, tzinfo=UTC),
                {"first_day": str(DAY - timedelta(days=1)), "last_day": str(DAY), "markets": "FR"},
            )
    finally:
        get_settings.cache_clear()
    out, err = capfd.readouterr()
    assert "EntsoeHttpError" in out + err + caplog.text  # the tasks did fail on the API
    assert_clean([out, err, caplog.text], ENTSOE_TOKEN)
    airflow_db = with_database(pg_server_url, f"{AIRFLOW_DB}_tests")
    assert text_columns_containing(airflow_db, ENTSOE_TOKEN) == []
    assert text_columns_containing(warehouse_url, ENTSOE_TOKEN) == []
