"""The docs site's pages: self-contained (no remote asset), escaped, and addressable per validation."""

from __future__ import annotations

import re
from datetime import date

from griddesk.quality import docs_site


def _rows():
    return [
        {
            "expectation_id": "price_not_null",
            "expectation_type": "expect_column_values_to_not_be_null",
            "severity": "critical",
            "success": True,
            "observed_value": "0 nulls",
            "expected": "no nulls",
        },
        {
            "expectation_id": "price_within_market_bounds",
            "expectation_type": "expect_column_values_to_be_between",
            "severity": "critical",
            "success": False,
            "observed_value": "<b>24</b> of 24 rows",
            "expected": "<= 3000",
        },
    ]


def test_validation_page_shows_the_failed_check_first_and_escapes_values():
    html = docs_site.render_validation_page(
        "raw_day_ahead_prices", "FR", date(2016, 12, 30), "delivery__2016-12-31", "2016-12-31 09:00:00", _rows()
    )
    assert "FAILED: 1 critical expectation(s) failed" in html
    assert html.index("price_within_market_bounds") < html.index("price_not_null")
    assert "&lt;b&gt;24&lt;/b&gt;" in html and "<b>24</b>" not in html


def test_pages_load_nothing_from_another_host():
    html = docs_site.render_validation_page("s", "FR", date(2016, 12, 30), "r", "t", _rows())
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html


def test_validation_url_is_stable_and_file_safe():
    url = docs_site.validation_url(
        "http://docs.example/", "raw_day_ahead_prices", "FR", date(2016, 12, 30), "manual__2016-12-30T10:00:00+00:00"
    )
    assert url == (
        "http://docs.example/gx/validations/raw_day_ahead_prices/FR/2016-12-30/manual__2016-12-30T10_00_00_00_00.html"
    )


def test_dbt_docs_lose_their_remote_tracking_script():
    page = 'i.src="//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js",a.parentNode'
    assert docs_site.offline_dbt_page(page) == 'i.src="data:text/javascript,",a.parentNode'


def test_dbt_docs_page_shipped_by_dbt_has_no_other_remote_script():
    from pathlib import Path

    import dbt.task.docs

    shipped = (Path(dbt.task.docs.__file__).parent / "index.html").read_text()
    cleaned = docs_site.offline_dbt_page(shipped)
    assert "cloudfront" not in cleaned
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', cleaned)
