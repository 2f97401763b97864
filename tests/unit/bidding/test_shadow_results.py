"""Shadow clearing of a paper-mode set: the exchange's price-taker rule at the realised price of each step's MTU."""

from __future__ import annotations

import pandas as pd
import pytest

from griddesk.bidding.execution import RESULT_COLUMNS, shadow_results

HOURS = pd.date_range("2016-06-14 22:00", periods=24, freq="60min", tz="UTC")


def _prices(values) -> pd.DataFrame:
    return pd.DataFrame({"delivery_start_utc": HOURS[: len(values)], "resolution_minutes": 60, "price_per_mwh": values})


def _steps(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["delivery_start_utc", "step_index", "side", "volume_mw", "limit_price_per_mwh"])


def test_buy_at_or_above_and_sell_at_or_below_the_price_are_accepted_and_settle_at_it():
    prices = _prices([float(p) for p in range(30, 54)])
    steps = _steps(
        [
            (HOURS[0], 0, "buy", 1.0, 30.0),  # limit = price: accepted
            (HOURS[1], 0, "buy", 1.0, 30.99),  # below the price 31: rejected
            (HOURS[2], 0, "sell", 0.5, 32.0),  # limit = price: accepted
            (HOURS[3], 1, "sell", 0.5, 33.01),  # above the price 33: rejected
        ]
    )
    out = shadow_results(steps, prices)
    assert list(out.columns) == RESULT_COLUMNS
    assert list(out["accepted"]) == [True, False, True, False]
    assert list(out["clearing_price_per_mwh"]) == [30.0, 31.0, 32.0, 33.0]
    assert list(out["accepted_volume_mw"]) == [1.0, 0.0, 0.5, 0.0]


def test_a_quarter_hour_step_clears_at_its_hours_price():
    prices = _prices([40.0, 50.0])
    quarter = HOURS[1] + pd.Timedelta(minutes=45)
    out = shadow_results(_steps([(quarter, 0, "buy", 1.0, 55.0)]), prices)
    assert out["clearing_price_per_mwh"].tolist() == [50.0] and out["accepted"].tolist() == [True]


def test_a_step_without_a_realised_price_is_an_error_naming_it():
    prices = _prices([40.0, 50.0])
    late = HOURS[5]
    with pytest.raises(ValueError, match="no realised price for 1 MTU") as info:
        shadow_results(_steps([(HOURS[0], 0, "buy", 1.0, 55.0), (late, 0, "sell", 1.0, 1.0)]), prices)
    assert late.isoformat() in str(info.value)


def test_no_steps_no_results():
    assert shadow_results(_steps([]), _prices([40.0])).empty
