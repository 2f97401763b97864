"""Which feed-days a critical data-quality failure blocks, read from the stored GX verdicts.

A feed-day (feed, source key, SLA day) is blocked when the newest GX run of its suite on that day (the verdict
``marts.fct_data_quality_results`` shows) has a failed *critical* expectation. A warning never blocks. A rerun of
``griddesk_feeds`` that passes lifts the block, because only the newest run counts. Consumers that read a
feed-day call :func:`blocked_feed_days` before producing anything for a delivery day, and record the reason
:func:`blocking_reason` gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from griddesk.quality.store import failed_critical_in_newest_run

#: What a blocked feed-day stops, per feed whose consumers check :func:`blocked_feed_days`.
BLOCKED_CONSUMERS = {
    "meter_readings": "griddesk_consumption makes no meter forecast and no portfolio bid for the delivery days "
    "whose last 7 days include it (the training runs record why)",
    "weather_forecasts": "griddesk_consumption makes no meter forecast and no portfolio bid for the delivery day "
    "whose cut-off reads this forecast (the training runs record why)",
    "ckw_tra_signals": "the battery bids of griddesk_morning do not learn their predicted demand-response windows "
    "from this signal date (the other days of the 14-day lookback and the configured windows still apply; the "
    "order set's audit trail records why)",
}

#: Declared feeds that no GridDesk task reads, so a blocked day of them stops nothing but the summary's trust.
NOT_READ = {
    "battery_status": "no GridDesk task reads the battery status: bidding starts each day at the state of charge "
    "where D-1's schedule ended, not at the measured one",
}


def blocked_consequence(feed: str) -> str:
    """The alert's sentence on what a blocked feed-day of ``feed`` stops, true to what checks the verdict."""
    summary = "marts.fct_data_quality_daily_summary marks it untrusted"
    lifted = "A rerun of griddesk_feeds that passes lifts the block."
    if feed in BLOCKED_CONSUMERS:
        return f"{BLOCKED_CONSUMERS[feed]}, and {summary}. {lifted}"
    if feed in NOT_READ:
        return f"{summary}; {NOT_READ[feed]}, so nothing else stops. {lifted}"
    return (
        f"{summary}; the tasks that read {feed} do not check the verdict themselves, so treat the day as untrusted "
        f"until a rerun of griddesk_feeds passes."
    )


def blocked_feed_days(conn, feed: str, source_key: str, days: Iterable[date], specs=None) -> dict[date, list[str]]:
    """The ``days`` of ``feed`` for ``source_key`` that are blocked: day -> failed critical expectation ids.

    ``feed`` is a feed of expectations/feeds.yml (e.g. ``meter_readings``, ``weather_forecasts``); its suite's
    newest run per day decides. A day never validated is not blocked (its own SLA alert covers a missing run).

    Raises:
        KeyError: ``feed`` is not declared in expectations/feeds.yml.
    """
    from griddesk.quality.feeds_gate import load_feed_specs

    specs = specs or load_feed_specs()
    if feed not in specs:
        raise KeyError(f"unknown feed {feed!r}; declared: {', '.join(sorted(specs))}")
    blocked: dict[date, list[str]] = {}
    for day, expectation_id in failed_critical_in_newest_run(conn, specs[feed].suite, source_key, days):
        blocked.setdefault(day, []).append(expectation_id)
    return blocked


def blocking_reason(blocked: Mapping[tuple[str, str], Mapping[date, list[str]]]) -> str | None:
    """One sentence naming every blocked feed-day and its failed checks, or None when nothing is blocked.

    ``blocked``: (feed, source key) -> the answer of :func:`blocked_feed_days`.
    """
    parts = [
        f"{feed} {source} {day.isoformat()} ({', '.join(ids)})"
        for (feed, source), days in sorted(blocked.items())
        for day, ids in sorted(days.items())
    ]
    if not parts:
        return None
    return "blocked by a critical data-quality failure of " + "; ".join(parts)


__all__ = ["BLOCKED_CONSUMERS", "NOT_READ", "blocked_consequence", "blocked_feed_days", "blocking_reason"]
