"""When a run stops waiting for its inputs, and what its one alert says (no HTTP, no database)."""

from __future__ import annotations

from datetime import date, timedelta

from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.markets import get_market
from griddesk.pipeline.run_state import MORNING_MARGIN, input_deadline, inputs_alert
from griddesk.quality.alerts import html_to_text

D = date(2016, 12, 31)


def test_the_morning_waits_until_twenty_minutes_before_the_earliest_gate_closure():
    deadline = input_deadline(["FR", "BE"], RunClock(D, MORNING))
    assert deadline == min(get_market(m).gate_closure_utc(D) for m in ("FR", "BE")) - MORNING_MARGIN
    assert deadline > RunClock(D, MORNING).sim_now("FR")  # a live run gets time to wait


def test_the_afternoon_waits_three_hours_after_its_clock():
    clock = RunClock(D, AFTERNOON)
    assert input_deadline(["FR"], clock) == clock.sim_now("FR") + timedelta(hours=3)


def test_the_inputs_alert_is_one_email_for_every_market_of_the_run():
    clock = RunClock(D, MORNING)
    missing = [("FR", "day_ahead_prices/price", D - timedelta(days=1)), ("BE", "exogenous_forecasts/load", D)]
    key, subject, html = inputs_alert(
        "griddesk_morning", ["FR", "BE"], clock, missing, input_deadline(["FR", "BE"], clock)
    )
    assert key == "inputs_missing|griddesk_morning|2016-12-31"
    text = html_to_text(html)
    assert subject.startswith("[GridDesk][CRITICAL] griddesk_morning: inputs not published by")
    assert "No forecast and no orders for BE, FR on 2016-12-31" in text
    assert "Delivery day affected | 2016-12-31" in text and "Data day that caused it | 2016-12-30" in text
