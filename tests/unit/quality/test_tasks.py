"""The pure parts of the quality task bodies (griddesk.quality.tasks) and of the results store's rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from griddesk.feeds import battery, ckw, meters, weather
from griddesk.quality import tasks
from griddesk.quality.gx_runner import ExpectationOutcome, MarketDayResult
from griddesk.quality.store import result_rows
from griddesk.settings import Settings

DAY = date(2016, 11, 14)
AT = datetime(2016, 11, 15, 17, 0, tzinfo=UTC)


def _result(success: bool, severity: str = "critical") -> MarketDayResult:
    outcome = ExpectationOutcome(
        "row_count", "expect_table_row_count_to_be_between", None, severity, success, "0", "between 24 and 24"
    )
    return MarketDayResult("raw_meter_readings", "portfolio", DAY, AT, (outcome,))


def test_a_feed_consequence_says_blocked_or_used():
    spec = SimpleNamespace(feed="meter_readings")
    blocked = tasks.feed_consequence(_result(False), spec)
    assert blocked.startswith("meter_readings portfolio 2016-11-14 is blocked: griddesk_consumption makes no")
    used = tasks.feed_consequence(_result(False, "warning"), spec)
    assert used == "meter_readings portfolio 2016-11-14 is used as it is; the warnings below need a look."


def test_an_output_consequence_names_the_market_day():
    spec = SimpleNamespace(feed="price_forecasts")
    text = tasks.output_consequence(_result(False), spec)
    assert text.startswith("price_forecasts for portfolio 2016-11-14 failed a critical check")


class _Conn:
    def cursor(self):
        return self

    def execute(self, sql, params=None):
        assert sql == "select plant_id from raw.plants order by 1"

    def fetchall(self):
        return [("lutersarni",)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_feed_sources_list_every_key_of_the_daily_run():
    settings = Settings(markets="FR,BE", ckw_tariff_names="home_dynamic", weather_locations="FR,bedford")
    assert tasks.feed_sources(_Conn(), settings) == {
        ckw.FEED_TARIFFS: ["home_dynamic"],
        ckw.FEED_TRA: ["tra"],
        weather.FEED_OBSERVATIONS: ["FR", "bedford"],
        weather.FEED_FORECASTS: ["FR", "bedford"],
        battery.FEED_BATTERY: ["griddesk-bess-fr", "griddesk-bess-be"],
        meters.FEED_METERS: [meters.PORTFOLIO],
        ckw.FEED_PLANT: ["lutersarni"],
    }


def test_nothing_is_sent_without_a_failure():
    assert tasks.alert_failed_results("postgresql://unused", [_result(True)], str, "ops@example.com") == []


def test_result_rows_are_one_per_expectation_in_the_insert_order():
    assert result_rows([_result(True)], "run-1") == [
        (
            "run-1",
            "raw_meter_readings",
            "expect_table_row_count_to_be_between",
            "row_count",
            "critical",
            "portfolio",
            DAY,
            True,
            "0",
            "between 24 and 24",
            AT,
        )
    ]


def test_the_watches_are_known():
    assert tasks.WATCHES == ("data_gaps", "api_health", "forecast_drift", "bid_executions", "deadline", "outputs")
