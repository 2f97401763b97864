"""Every feed client against the simulator over real HTTP, with every fault, into a real PostgreSQL.

One contract for all feeds (as gridstatus tests every market with one class): a transient fault is retried and
the data arrive as if nothing happened; a fault that outlasts the retry budget fails the job with a clear
message and writes nothing; schema drift fails naming the field; duplicated intervals are removed; missing ones
are recorded as gaps. Every attempt lands in the call log, the failing ones too.
"""

from __future__ import annotations

import time
import uuid
from datetime import date

import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.feeds import tasks as feed_tasks
from griddesk.feeds.errors import FeedAuthError, FeedHttpError, SchemaDriftError
from griddesk.feeds.http import CallLog
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from tests.conftest import _drop_database, _fresh_database
from tests.integration.helpers import feeds_settings, transient_faults

RUN_DATE = date(2016, 6, 15)

#: name -> (job, endpoint label, field a drift fault renames, has regular intervals)
JOBS = {
    "tariffs": ({"feed": "ckw_dynamic_tariffs", "key": "home_dynamic"}, "ckw.dynamic_prices", "value", True),
    "tra": ({"feed": "ckw_tra_signals", "key": "tra"}, "ckw.tra_signals", "Start", False),
    "observations": ({"feed": "weather_observations", "key": "FR"}, "weather.archive", "temperature_2m", True),
    "forecasts": ({"feed": "weather_forecasts", "key": "FR"}, "weather.forecast", "temperature_2m", True),
    "battery": ({"feed": "battery_status", "key": "FR"}, "bms.status", "soc", True),
    "meters": ({"feed": "meter_readings", "key": "portfolio"}, "meters.consumption", "energy_kwh", True),
    "plant": ({"feed": "ckw_plant_telemetry", "key": "lutersarni"}, "ckw.plant_live", "wirkleistung", False),
}
FEED_TABLES = (
    "raw.feed_batches",
    "raw.feed_gaps",
    "raw.ckw_dynamic_tariffs",
    "raw.ckw_plant_telemetry",
    "raw.ckw_tra_signals",
    "raw.weather_observations",
    "raw.weather_forecasts",
    "raw.bms_battery_status",
    "raw.meter_readings",
    "raw.api_call_log",
)


def sim_settings(**overrides) -> Settings:
    return Settings(markets="FR", ckw_reference_market="FR", **overrides)


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    return start_simulator(settings=sim_settings(), frames={"FR": datasets.synthetic_epftoolbox("FR")})


@pytest.fixture(scope="module")
def warehouse(pg_server_url):
    name = f"gd_feeds_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)


def job_settings(warehouse: str, sim: str) -> Settings:
    # a generous timeout: a loaded CI machine must not turn a slow answer into a failure
    return feeds_settings(warehouse, sim, feeds_timeout_s=5.0, feeds_max_attempts=4)


@pytest.fixture
def clean(warehouse, sim):
    """Empty feed tables and no queued fault before each test."""
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(f"truncate {', '.join(FEED_TABLES)}")
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=5).raise_for_status()
    return job_settings(warehouse, sim)


def run(name: str, settings: Settings, run_date: date = RUN_DATE, **kwargs) -> dict:
    job = JOBS[name][0]
    if job["feed"] == "ckw_plant_telemetry":
        return feed_tasks.poll_plant(job["key"], feed_tasks.feeds_sim_now(run_date), settings)
    return feed_tasks.extract_feed_job(job, run_date, settings, **kwargs)


def inject(sim: str, endpoint: str, kind: str, **params) -> None:
    requests.post(
        f"{sim}/admin/faults", headers=admin_headers(), json={"endpoint": endpoint, "kind": kind, **params}, timeout=5
    ).raise_for_status()


def query(url: str, sql: str, *args) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def calls(url: str, endpoint: str) -> list[tuple]:
    return query(
        url, "select status_code, error is null from raw.api_call_log where endpoint = %s order by call_id", endpoint
    )


@pytest.fixture(scope="module")
def baseline(warehouse, sim) -> dict[str, dict]:
    """Each job once without faults: its row and gap counts."""
    settings = job_settings(warehouse, sim)
    out = {}
    for name in JOBS:
        with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
            cur.execute(f"truncate {', '.join(FEED_TABLES)}")
        out[name] = run(name, settings)
    return out


# ------------------------------------------------------------------------------------------------ the contract


def test_every_feed_loads_data_without_faults(baseline):
    for name, summary in baseline.items():
        assert summary["rows_inserted"] > 0, name
        assert summary["batches_inserted"] == summary["batches_seen"] > 0, name


TRANSIENT = transient_faults(delay_s=2.5, retry_after_s=1)


@pytest.mark.parametrize("fault", list(TRANSIENT))
@pytest.mark.parametrize("name", list(JOBS))
def test_transient_fault_is_retried_and_the_data_arrive_whole(name, fault, clean, sim, baseline):
    _, endpoint, _, _ = JOBS[name]
    inject(sim, endpoint, fault, **TRANSIENT[fault])
    if fault == "timeout":
        clean = clean.model_copy(update={"feeds_timeout_s": 1.5})
    started = time.perf_counter()
    summary = run(name, clean)
    assert summary["rows_inserted"] == baseline[name]["rows_inserted"]
    log = calls(clean.warehouse_url, endpoint)
    assert [ok for _, ok in log].count(False) == 1, log
    assert log[0][0] == {"http_5xx": 503, "timeout": None, "rate_limit": 429}.get(fault, 200)
    assert log[-1] == (200, True)
    if fault == "rate_limit":
        assert time.perf_counter() - started >= 1.0  # Retry-After honoured


@pytest.mark.parametrize("name", list(JOBS))
def test_fault_outlasting_the_retry_budget_fails_clearly_and_writes_nothing(name, clean, sim):
    _, endpoint, _, _ = JOBS[name]
    inject(sim, endpoint, "http_5xx", status=502, times=4)
    with pytest.raises(FeedHttpError, match=rf"{endpoint}.*failed after 4 attempts; last error: HTTP 502"):
        run(name, clean)
    assert query(clean.warehouse_url, "select count(*) from raw.feed_batches") == [(0,)]
    assert [s for s, _ in calls(clean.warehouse_url, endpoint)] == [502] * 4  # failed calls are logged too


@pytest.mark.parametrize("kind", ["schema_drift_rename", "schema_drift_extra"])
@pytest.mark.parametrize("name", list(JOBS))
def test_schema_drift_fails_naming_the_field_and_writes_nothing(name, kind, clean, sim):
    _, endpoint, field, _ = JOBS[name]
    inject(sim, endpoint, kind)
    expected = field if kind == "schema_drift_rename" else "extra_field"
    with pytest.raises(SchemaDriftError, match=f"'{expected}'") as exc:
        run(name, clean)
    assert exc.value.field == expected
    assert query(clean.warehouse_url, "select count(*) from raw.feed_batches") == [(0,)]


@pytest.mark.parametrize("name", [n for n, (_, _, _, regular) in JOBS.items() if regular])
def test_duplicated_interval_is_removed(name, clean, sim, baseline):
    inject(sim, JOBS[name][1], "duplicate_intervals", n_intervals=2)
    summary = run(name, clean)
    assert summary["rows_inserted"] == baseline[name]["rows_inserted"]
    assert summary["duplicates_removed"] >= 2


@pytest.mark.parametrize("name", [n for n, (_, _, _, regular) in JOBS.items() if regular])
def test_missing_interval_is_recorded_as_a_gap_not_filled(name, clean, sim, baseline):
    inject(sim, JOBS[name][1], "missing_intervals")
    summary = run(name, clean)
    assert summary["rows_inserted"] < baseline[name]["rows_inserted"]
    absent = query(clean.warehouse_url, "select sum(n_intervals) from raw.feed_gaps where reason = 'absent'")[0][0]
    assert absent >= 1


def test_tra_signal_dropped_from_an_answer_is_simply_absent(clean, sim, baseline):
    inject(sim, "ckw.tra_signals", "missing_intervals")
    assert run("tra", clean)["rows_inserted"] == baseline["tra"]["rows_inserted"] - 1


@pytest.mark.parametrize("name", ["tariffs", "tra", "plant"])
def test_expired_token_is_refreshed_once(name, clean, sim, baseline):
    before = requests.get(f"{sim}/oauth/stats", timeout=5).json()["tokens_issued"]
    inject(sim, JOBS[name][1], "expired_token")
    assert run(name, clean)["rows_inserted"] == baseline[name]["rows_inserted"]
    assert [s for s, _ in calls(clean.warehouse_url, JOBS[name][1])][:2] == [401, 200]
    assert requests.get(f"{sim}/oauth/stats", timeout=5).json()["tokens_issued"] == before + 2  # first + refresh


def test_token_refused_twice_fails_with_an_auth_error(clean, sim):
    inject(sim, "ckw.dynamic_prices", "expired_token", times=2)
    with pytest.raises(FeedAuthError, match="401 again with a fresh token"):
        run("tariffs", clean)


def test_the_call_log_never_holds_a_token_or_secret(clean, sim):
    inject(sim, "ckw.dynamic_prices", "expired_token")
    run("tariffs", clean)
    token = requests.post(
        f"{sim}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": clean.ckw_client_id,
            "client_secret": clean.ckw_client_secret,
        },
        timeout=5,
    ).json()["access_token"]
    header = token.split(".")[0]  # every token of the simulator starts with the same JWT header
    rows = query(clean.warehouse_url, "select coalesce(error, '') || url_path from raw.api_call_log")
    assert rows and not any(header in text or clean.ckw_client_secret in text for (text,) in rows)


# ------------------------------------------------------------------------------------------------ reloads, paging


def test_rerunning_the_same_day_is_idempotent(clean):
    first = {name: run(name, clean) for name in JOBS}
    counts = query(clean.warehouse_url, "select table_name, sum(n_rows) from raw.feed_batches group by 1 order by 1")
    again = {name: run(name, clean) for name in JOBS}
    assert all(s["batches_inserted"] == 0 for s in again.values()), again
    assert (
        query(clean.warehouse_url, "select table_name, sum(n_rows) from raw.feed_batches group by 1 order by 1")
        == counts
    )
    assert all(first[n]["batches_seen"] == again[n]["batches_seen"] for n in JOBS)


def test_a_changed_reload_becomes_a_new_version(clean, sim):
    run("observations", clean)
    inject(sim, "weather.archive", "missing_intervals")
    summary = run("observations", clean)
    assert summary["batches_inserted"] == 1  # only the day that lost an hour changed
    assert query(clean.warehouse_url, "select max(version) from raw.feed_batches") == [(2,)]


def test_tariffs_page_through_windows_longer_than_30_days(clean):
    summary = run("tariffs", clean, history_days=64)  # local days X-63 .. X+1: 65 days
    assert [ok for _, ok in calls(clean.warehouse_url, "ckw.dynamic_prices")].count(True) == 3
    assert summary["batches_inserted"] == 65


def test_a_failing_page_leaves_nothing_of_the_window(clean, sim):
    inject(sim, "ckw.dynamic_prices", "http_5xx", times=4, after=1)  # page 1 answers, page 2 never does
    with pytest.raises(FeedHttpError, match="failed after 4 attempts"):
        run("tariffs", clean, history_days=64)
    assert query(clean.warehouse_url, "select count(*) from raw.ckw_dynamic_tariffs") == [(0,)]


def test_a_repeated_plant_poll_stores_the_sample_once(clean):
    now = feed_tasks.feeds_sim_now(RUN_DATE)
    assert feed_tasks.poll_plant("lutersarni", now, clean)["batches_inserted"] == 1
    assert feed_tasks.poll_plant("lutersarni", now, clean)["batches_inserted"] == 0
    from datetime import timedelta

    assert feed_tasks.poll_plant("lutersarni", now + timedelta(minutes=5), clean)["batches_inserted"] == 1
    assert query(clean.warehouse_url, "select count(*) from raw.ckw_plant_telemetry") == [(2,)]


# ------------------------------------------------------------------------------------------------ auth and rate limits


def test_token_is_refreshed_before_it_expires(start_simulator, warehouse):
    sim = start_simulator(settings=sim_settings(sim_token_ttl_s=2), frames={"FR": datasets.synthetic_epftoolbox("FR")})
    log = CallLog()
    client = feed_tasks.ckw_client(job_settings(warehouse, sim), feed_tasks.feeds_sim_now(RUN_DATE), log)
    for i in range(3):  # 3.4 s of calls with tokens that live 2 s
        if i:
            time.sleep(1.7)
        client.tra_signals("last")
    assert [c.status_code for c in log.calls if c.endpoint == "ckw.tra_signals"] == [200, 200, 200]  # never a 401
    assert client.http.auth.tokens_fetched >= 2
    assert requests.get(f"{sim}/oauth/stats", timeout=5).json()["tokens_issued"] == client.http.auth.tokens_fetched


def test_rate_limit_headers_make_the_client_wait_instead_of_earning_429(start_simulator, warehouse):
    sim = start_simulator(
        settings=sim_settings(sim_rate_limit=3, sim_rate_window_ms=1000),
        frames={"FR": datasets.synthetic_epftoolbox("FR")},
    )
    log = CallLog()
    client = feed_tasks.ckw_client(job_settings(warehouse, sim), feed_tasks.feeds_sim_now(RUN_DATE), log)
    started = time.perf_counter()
    for _ in range(5):
        client.tra_signals("last")
    assert [c.status_code for c in log.calls if c.endpoint == "ckw.tra_signals"] == [200] * 5
    assert time.perf_counter() - started >= 0.3  # waited for the window to reset


def test_a_real_429_from_the_limiter_is_retried_after_its_reset(start_simulator, warehouse):
    sim = start_simulator(
        settings=sim_settings(sim_rate_limit=2, sim_rate_window_ms=1000),
        frames={"FR": datasets.synthetic_epftoolbox("FR")},
    )
    settings = job_settings(warehouse, sim)
    now = feed_tasks.feeds_sim_now(RUN_DATE)
    greedy = feed_tasks.ckw_client(settings, now, CallLog())
    greedy.tra_signals("last")
    greedy.tra_signals("last")  # the shared client id has used up its window
    log = CallLog()
    feed_tasks.ckw_client(settings, now, log).tra_signals("last")
    statuses = [c.status_code for c in log.calls if c.endpoint == "ckw.tra_signals"]
    assert statuses[0] == 429 and statuses[-1] == 200


# ------------------------------------------------------------------------------------------------ point in time


def _get(sim: str, path: str, now: str, **params) -> requests.Response:
    return requests.get(f"{sim}{path}", params=params, headers={"X-GridDesk-Sim-Now": now}, timeout=10)


def test_simulator_hides_tariffs_before_their_publication(sim):
    token = requests.post(
        f"{sim}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "griddesk", "client_secret": "griddesk-dev-secret"},
        timeout=5,
    ).json()["access_token"]
    params = {"start_timestamp": "2016-06-16T00:00:00+02:00", "end_timestamp": "2016-06-17T00:00:00+02:00"}
    path = "/ckw/api/v1/netzinformationen/energie/dynamische-preise"

    def prices(now: str) -> int:
        resp = requests.get(
            f"{sim}{path}",
            params=params,
            timeout=10,
            headers={"X-GridDesk-Sim-Now": now, "Authorization": f"Bearer {token}"},
        )
        assert resp.headers["x-ratelimit-limit"] == "600"
        return len(resp.json()["prices"])

    assert prices("2016-06-15T15:29:00Z") == 0  # 17:29 in Zurich
    assert prices("2016-06-15T15:30:00Z") == 96


def test_simulator_publishes_meter_readings_at_six_the_next_morning(sim):
    params = {"start": "2016-06-14T23:00:00Z", "end": "2016-06-15T23:00:00Z", "meter_id": "b1"}
    before = _get(sim, "/meters/v1/consumption", "2016-06-16T04:59:00Z", **params).json()
    after = _get(sim, "/meters/v1/consumption", "2016-06-16T05:00:00Z", **params).json()
    assert len(before["meters"][0]["timestamps"]) == 0 and len(after["meters"][0]["timestamps"]) == 24


def test_weather_archive_reveals_an_hour_one_lag_after_it(sim):
    params = {
        "latitude": "46.6",
        "longitude": "2.4",
        "start_date": "2016-06-15",
        "end_date": "2016-06-15",
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }
    times = _get(sim, "/openmeteo/v1/archive", "2016-06-15T12:00:00Z", **params).json()["hourly"]["time"]
    assert times[-1] == "2016-06-15T11:00"
