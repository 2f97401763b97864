"""The simulated clock, request windows and backfill gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from griddesk.clock import AFTERNOON, MORNING, RunClock, parse_delivery_date
from griddesk.extraction.entsoe_feeds import day_chunks, feeds_of, missing_ranges
from griddesk.markets import get_market, price_bounds_on


def test_morning_run_is_before_gate_closure_and_afternoon_after_publication():
    fr = get_market("FR")
    d = date(2016, 12, 31)
    morning, afternoon = RunClock(d, MORNING), RunClock(d, AFTERNOON)
    assert morning.sim_now(fr) < morning.cutoff(fr) == datetime(2016, 12, 30, 11, 0, tzinfo=UTC)
    assert afternoon.sim_now(fr) > fr.price_publication_utc(d) > morning.cutoff(fr)
    assert fr.exogenous_publication_utc(d) < morning.sim_now(fr)
    assert morning.price_days == (date(2016, 12, 24), date(2016, 12, 30))
    assert afternoon.price_days[1] == d


def test_pjm_clock_is_eastern_time():
    pjm = get_market("PJM")
    assert pjm.gate_closure_utc(date(2016, 7, 1)) == datetime(2016, 6, 30, 14, 30, tzinfo=UTC)  # EDT
    assert pjm.currency == "USD"


@pytest.mark.parametrize(("day", "hours"), [(date(2016, 3, 27), 23), (date(2016, 10, 30), 25), (date(2016, 6, 1), 24)])
def test_dst_days_have_23_24_25_hours_and_92_96_100_quarter_hours(day, hours):
    fr = get_market("FR")
    assert fr.mtus_in_day(day) == hours
    assert fr.mtus_in_day(day, 15) == hours * 4


def test_price_bounds_change_in_may_2022():
    assert price_bounds_on("FR", date(2016, 1, 1)).max_price_per_mwh == 3000
    assert price_bounds_on("FR", date(2022, 5, 10)).max_price_per_mwh == 4000
    assert price_bounds_on("PJM", date(2016, 1, 1)).min_price_per_mwh < 0


def test_day_chunks_never_exceed_a_year_of_requests():
    chunks = list(day_chunks(date(2014, 1, 1), date(2016, 12, 31)))
    assert chunks[0][0] == date(2014, 1, 1) and chunks[-1][1] == date(2016, 12, 31)
    assert all((b - a).days + 1 <= 364 for a, b in chunks)
    assert all((chunks[i + 1][0] - chunks[i][1]).days == 1 for i in range(len(chunks) - 1))


def test_missing_ranges_skip_loaded_days():
    present = {date(2016, 1, d) for d in (3, 4, 7)}
    assert missing_ranges(present, date(2016, 1, 1), date(2016, 1, 8)) == [
        (date(2016, 1, 1), date(2016, 1, 2)),
        (date(2016, 1, 5), date(2016, 1, 6)),
        (date(2016, 1, 8), date(2016, 1, 8)),
    ]
    assert missing_ranges(present, date(2016, 1, 3), date(2016, 1, 4)) == []


def test_load_forecast_uses_out_bidding_zone_domain():
    params = {
        s.series_code: s.request_params(datetime(2016, 1, 1, tzinfo=UTC), datetime(2016, 1, 2, tzinfo=UTC))
        for s in feeds_of(get_market("FR"))
    }
    assert params["price"]["documentType"] == "A44" and params["price"]["in_Domain"] == "10YFR-RTE------C"
    assert params["load_forecast"]["outBiddingZone_Domain"] == "10YFR-RTE------C"
    assert params["load_forecast"]["processType"] == "A01"
    assert params["generation_forecast"]["documentType"] == "A71"
    assert params["price"]["periodStart"] == "201601010000"


def test_delivery_date_param_or_logical_date():
    assert parse_delivery_date("2016-12-31", None, MORNING) == date(2016, 12, 31)
    assert parse_delivery_date("", datetime(2016, 12, 30, 10, tzinfo=UTC), MORNING) == date(2016, 12, 31)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_delivery_date("31/12/2016", None, MORNING)
