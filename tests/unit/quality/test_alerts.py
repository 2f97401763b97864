"""Rendering of alert emails: subject, the facts a trader acts on (delivery day, data day, action, next steps),
escaping, links, the plain-text part (no GX, no Airflow)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from griddesk.quality.alerts import (
    NEXT_STEPS,
    TableAlert,
    alert_message,
    html_to_text,
    quality_alert_key,
    render_quality_alert,
    render_table_alert,
)
from griddesk.quality.gx_runner import ExpectationOutcome, MarketDayResult
from griddesk.settings import PROJECT_ROOT


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


def test_critical_subject_names_suite_market_delivery_day_and_data_day():
    bad = result(outcome("mtu_count_matches_day", success=False), day=date(2016, 12, 30))
    subject, _ = render_quality_alert(bad, delivery_day=date(2016, 12, 31))
    assert subject == (
        "[GridDesk][CRITICAL] raw_day_ahead_prices failed for FR delivery day 2016-12-31 (data of 2016-12-30)"
    )


def test_critical_morning_alert_says_what_griddesk_did_and_what_to_do_next():
    bad = result(outcome("mtu_count_matches_day", success=False), day=date(2016, 12, 30))
    _, html = render_quality_alert(bad, delivery_day=date(2016, 12, 31))
    text = html_to_text(html)
    assert "Delivery day affected | 2016-12-31" in text
    assert "Data day that caused it | 2016-12-30" in text
    assert "What GridDesk did | No forecast and no orders for FR on 2016-12-31." in text
    assert "Severity | CRITICAL" in text and "Market / source | FR" in text
    assert f"What to do next | {NEXT_STEPS['prices_morning']}" in text


def test_warning_only_result_is_a_warning_and_trading_goes_ahead():
    late = outcome("published_within_window", success=False, severity="warning", observed="1 of 24 rows unexpected")
    subject, html = render_quality_alert(result(outcome("mtu_count_matches_day", success=True), late))
    assert subject == "[GridDesk][WARNING] raw_day_ahead_prices has warnings for FR 2016-12-24"
    assert "go ahead" in html
    assert "No forecast and no orders" not in html


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


def test_alert_email_is_multipart_with_the_plain_text_part_first():
    bad = result(outcome("price_within_market_bounds", success=False), day=date(2016, 12, 30))
    subject, html = render_quality_alert(
        bad, {"Validation result (Data Docs)": "http://docs.example/gx/v.html"}, delivery_day=date(2016, 12, 31)
    )
    msg = alert_message(subject, html, ["desk@example.com"], "griddesk@example.com")
    assert msg.get_content_type() == "multipart/alternative"
    plain, rich = msg.get_payload()
    assert (plain.get_content_type(), rich.get_content_type()) == ("text/plain", "text/html")
    text = plain.get_payload(decode=True).decode()
    assert "2016-12-31" in text and "price_within_market_bounds" in text
    assert "Validation result (Data Docs): http://docs.example/gx/v.html" in text
    assert "<" not in text


def test_table_alert_names_the_delivery_day_the_data_day_and_the_next_steps():
    subject, html = render_table_alert(
        TableAlert(
            "WARNING",
            "data gap in meter_readings",
            "portfolio",
            "2016-11-14",
            "Nothing is blocked.",
            ("Hour",),
            [("03:00",)],
            delivery_day=date(2016, 11, 15),
            data_day=date(2016, 11, 14),
            next_steps=NEXT_STEPS["data_gap"],
        )
    )
    text = html_to_text(html)
    assert subject == "[GridDesk][WARNING] data gap in meter_readings for portfolio 2016-11-14"
    assert "Delivery day affected | 2016-11-15" in text and "Data day that caused it | 2016-11-14" in text
    assert NEXT_STEPS["data_gap"] in text


def test_every_next_step_is_the_one_docs_alerts_md_gives():
    doc = " ".join((PROJECT_ROOT / "docs" / "alerts.md").read_text().split())
    for kind, steps in NEXT_STEPS.items():
        assert steps in doc, f"docs/alerts.md lacks the next steps of {kind!r}: {steps}"
