"""Consumption metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from griddesk.consumption.metrics import accuracy, mape, r2


def test_metrics_match_hand_computed_values():
    actual = [10.0, 20.0, 0.0, 40.0]
    forecast = [12.0, 18.0, 1.0, 36.0]
    # errors 2, -2, 1, -4: MAE 9/4, RMSE sqrt(25/4), MAPE over non-zero actuals (2/10 + 2/20 + 4/40)/3
    # R2: mean 17.5, SS_tot 56.25 + 6.25 + 306.25 + 506.25 = 875, SS_res 4 + 4 + 1 + 16 = 25
    acc = accuracy(actual, forecast)
    assert acc["mae_kwh"] == pytest.approx(2.25)
    assert acc["rmse_kwh"] == pytest.approx(2.5)
    assert acc["mape_pct"] == pytest.approx((0.2 + 0.1 + 0.1) / 3 * 100)
    assert acc["mape_zero_actuals_skipped"] == 1
    assert acc["r2"] == pytest.approx(1 - 25 / 875)
    assert acc["n_hours"] == 4


def test_mape_says_when_every_actual_is_zero():
    value, skipped = mape([0.0, 0.0], [1.0, 2.0])
    assert math.isnan(value) and skipped == 2


def test_r2_of_constant_actuals_is_undefined():
    assert math.isnan(r2([5.0, 5.0, 5.0], [4.0, 5.0, 6.0]))
