"""The pure parts of the ENTSO-E extraction task bodies (griddesk.extraction.tasks)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from griddesk.extraction import tasks
from griddesk.extraction.entsoe_feeds import feeds_of
from griddesk.markets import get_market
from griddesk.settings import Settings


def test_one_job_per_market_feed_and_series():
    jobs = tasks.feed_jobs(["FR", "BE"])
    expected = [
        {"market": s.market.code, "feed": s.feed, "series": s.series_code}
        for code in ("FR", "BE")
        for s in feeds_of(get_market(code))
    ]
    assert jobs == expected
    assert jobs[0] == {"market": "FR", "feed": "day_ahead_prices", "series": "price"}


def test_a_job_names_its_feed_spec():
    for job in tasks.feed_jobs(["FR"]):
        spec = tasks._spec(job)
        assert (spec.market.code, spec.feed, spec.series_code) == (job["market"], job["feed"], job["series"])
    with pytest.raises(KeyError):
        tasks._spec({"market": "FR", "feed": "day_ahead_prices", "series": "nope"})


@dataclass(frozen=True)
class _Outcome:
    status: str
    n_points: int


def test_the_summary_counts_inserted_versions_and_points():
    job = {"market": "FR", "feed": "day_ahead_prices", "series": "price"}
    outcomes = [_Outcome("inserted", 24), _Outcome("unchanged", 24), _Outcome("inserted", 23)]
    assert tasks._summary(job, outcomes) == {**job, "days_seen": 3, "versions_inserted": 2, "points_inserted": 47}


def test_the_client_asks_the_configured_simulator_on_the_given_clock():
    client = tasks.entsoe_client(Settings(simulator_url="http://sim.invalid", entsoe_token="t"), "2016-06-14T11:00Z")
    assert (client.base_url, client.sim_now) == ("http://sim.invalid", "2016-06-14T11:00Z")
    assert len(client.call_log.calls) == 0
