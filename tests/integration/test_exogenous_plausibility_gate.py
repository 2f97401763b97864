"""Zeros that mean "missing" in exogenous forecasts fail the GX gate, critical, naming the hours (finding 10).

The simulator republishes NP's wind forecast of a day with its first 13 hours at 0 MW (as NP's real forecast of
2018-09-18 was) and DE's load forecast stuck at one value all day (as DE's real one of 2015-06-14 was); the real
extraction loads both, as it must (they parse and are not negative); the real GX run over the exogenous suite
then fails those days, critical, and the alert names the runs in local hours.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import extract_feed, feeds_of
from griddesk.markets import get_market
from griddesk.quality.alerts import render_quality_alert
from griddesk.quality.feeds_gate import validate_feeds
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, QualityGate
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers

DAY = date(2016, 6, 15)
NP, DE = get_market("NP"), get_market("DE")


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    frames = {code: datasets.synthetic_epftoolbox(code) for code in ("NP", "DE")}
    return start_simulator(settings=Settings(markets="NP,DE", data_dir=None), frames=frames)


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> QualityGate:
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return QualityGate(root)


def republish(sim: str, market: str, document_type: str, series: str, values: list[float]) -> None:
    body = {
        "market": market,
        "documentType": document_type,
        "series": series,
        "delivery_date": DAY.isoformat(),
        "values": values,
        "published_at": "2016-06-14T08:30:00Z",
    }
    requests.post(f"{sim}/admin/revisions", headers=admin_headers(), json=body, timeout=10).raise_for_status()


def test_zero_and_stuck_exogenous_days_fail_critical_with_the_hours_named(sim, warehouse_url, gate):
    np_frame = datasets.synthetic_epftoolbox("NP")
    wind = np_frame.loc[np_frame["delivery_date_local"] == DAY, "exog_2"].tolist()
    republish(sim, "NP", "A69", "wind_solar_forecast", [0.0] * 13 + wind[13:])
    republish(sim, "DE", "A65", "load_forecast", [16037.0] * 24)
    conn = psycopg2.connect(warehouse_url)
    client = EntsoeClient(sim, "t", sim_now=datetime(2016, 6, 14, 9, tzinfo=UTC))
    for market in (NP, DE):
        for spec in feeds_of(market)[1:]:
            extract_feed(client, conn, spec, DAY, DAY)

    run = validate_feeds(
        gate,
        conn,
        {"entsoe_exogenous_forecasts": [("NP", DAY), ("DE", DAY)]},
        datetime(2016, 6, 14, 9, tzinfo=UTC),
        "exog-zero-test",
    )
    by_market = {r.market_code: r for r in run.results}
    for code, named in {
        "NP": "wind_solar_forecast 00:00-12:59 local (13 h at 0 MW)",
        "DE": "load_forecast 00:00-23:59 local (24 h at 16037 MW)",
    }.items():
        result = by_market[code]
        (failed,) = result.failed_critical
        assert failed.expectation_id == "quantity_mw_not_zero_or_stuck"
        assert failed.observed == f"1 of 48 rows unexpected: {named}" and failed.expected == "null"
        _, html = render_quality_alert(result, {}, "blocked")
        assert named in html and "[CRITICAL]" in render_quality_alert(result, {}, "blocked")[0]
        # Not negative, so the old checks passed it; the spike score now has a value for every row too.
        assert {o.expectation_id for o in result.outcomes if o.success} >= {
            "quantity_not_negative",
            "quantity_mw_no_spikes",
        }
