"""Rendering of data-quality alert emails: subject format, consequences, escaping, links (no GX, no Airflow)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from griddesk.quality.alerts import quality_alert_key, render_quality_alert
from griddesk.quality.gx_runner import ExpectationOutcome, MarketDayResult


def outcome(name: str, *, success: bool, severity: str = "critical", observed: str = "22", expected: str = "24 rows"):
    return ExpectationOutcome(
        expectation_id=name,
        expectation_type="expect_table_row_count_to_equal",
        column=None,
        severity=severity,
        success=success,
        observed=observed,
        expected=expected,
    )


def result(*outcomes: ExpectationOutcome, market_code: str = "FR", day: date = date(2016, 12, 24)) -> MarketDayResult:
    return MarketDayResult(
        suite_name="raw_day_ahead_prices",
        market_code=market_code,
        delivery_date_local=day,
        validated_at_utc=datetime(2016, 12, 23, 12, 0, tzinfo=UTC),
        outcomes=outcomes,
    )


def test_critical_subject_names_suite_market_and_day():
    subject, _ = render_quality_alert(result(outcome("mtu_count_matches_day", success=False)))
    assert subject == "[GridDesk][CRITICAL] raw_day_ahead_prices failed for FR 2016-12-24"


def test_critical_body_says_no_forecast_and_no_orders():
    _, html = render_quality_alert(result(outcome("mtu_count_matches_day", success=False)))
    assert "No forecast is published and no orders go out for FR 2016-12-24." in html


def test_warning_only_result_is_a_warning_and_trading_goes_ahead():
    late = outcome("published_within_window", success=False, severity="warning", observed="1 of 24 rows unexpected")
    subject, html = render_quality_alert(result(outcome("mtu_count_matches_day", success=True), late))
    assert subject == "[GridDesk][WARNING] raw_day_ahead_prices has warnings for FR 2016-12-24"
    assert "go ahead" in html
    assert "No forecast is published" not in html


def test_table_lists_only_failed_expectations_critical_first():
    _, html = render_quality_alert(
        result(
            outcome("published_within_window", success=False, severity="warning"),
            outcome("price_not_null", success=True),
            outcome("price_within_market_bounds", success=False, observed="1 of 24 rows unexpected: 3120.5"),
        )
    )
    assert "price_not_null" not in html
    assert html.index("price_within_market_bounds") < html.index("published_within_window")
    assert "1 of 24 rows unexpected: 3120.5" in html


def test_values_from_the_data_are_html_escaped():
    evil = outcome(
        "price_within_market_bounds",
        success=False,
        observed="<script>alert('x')</script> & more",
        expected='<= 3000 "quoted"',
    )
    subject, html = render_quality_alert(result(evil, market_code="FR"))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "&lt;= 3000 &quot;quoted&quot;" in html
    assert "<" not in subject


def test_data_docs_link_is_rendered_and_unsafe_scheme_is_not():
    bad = result(outcome("mtu_count_matches_day", success=False))
    _, html = render_quality_alert(bad, {"Data Docs": "file:///srv/docs/index.html?a=1&b=2", "Runbook": None})
    assert '<a href="file:///srv/docs/index.html?a=1&amp;b=2">Data Docs</a>' in html
    assert "Runbook" not in html
    _, html = render_quality_alert(bad, {"Data Docs": "javascript:alert(1)"})
    assert "<a " not in html
    assert "not linked" in html


def test_passed_result_has_nothing_to_alert():
    ok = result(outcome("mtu_count_matches_day", success=True, observed="24"))
    with pytest.raises(ValueError, match="nothing to alert"):
        render_quality_alert(ok)
    with pytest.raises(ValueError, match="nothing to alert"):
        quality_alert_key(ok)


def test_alert_key_separates_warning_from_critical_for_the_same_day():
    warning = result(outcome("published_within_window", success=False, severity="warning"))
    critical = result(outcome("mtu_count_matches_day", success=False))
    assert quality_alert_key(warning) == "dq_warning|raw_day_ahead_prices|FR|2016-12-24"
    assert quality_alert_key(critical) == "dq_critical|raw_day_ahead_prices|FR|2016-12-24"
