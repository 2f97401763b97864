"""The quality-gate task: one Great Expectations run over the run's market-days, results stored, alerts sent."""

from __future__ import annotations

import logging

from griddesk.pipeline.clock import RunClock
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)


def validate_for_run(
    market_codes: list[str], clock: RunClock, run_id: str, settings: Settings | None = None
) -> dict[str, bool]:
    """Validate the newest price day of each market; store the results; email one alert per failing market-day.

    Returns market -> True when no critical expectation failed, i.e. forecasting and bidding may go on.
    """
    from griddesk.quality.alerts import quality_alert_key, render_quality_alert, send_alert_once
    from griddesk.quality.gx_runner import default_gate, store_results

    settings = settings or get_settings()
    url = db.warehouse_url(settings)
    day = clock.validated_price_day
    as_of = max(clock.sim_now(code) for code in market_codes)
    # One GX context per process (its import alone costs seconds), one run over all market-days.
    results = default_gate().validate_prices(url, [(code, day) for code in market_codes], as_of, run_id)
    with db.connect(url) as conn:
        store_results(conn, results, run_id)
    for result in results:
        if result.failed:
            subject, html = render_quality_alert(result)
            with db.connect(url) as conn:
                sent = send_alert_once(conn, quality_alert_key(result), subject, html, settings.alert_email_to)
            log.warning("%s (%s)", subject, "emailed" if sent else "already emailed")
    return {r.market_code: r.passed_critical for r in results}
