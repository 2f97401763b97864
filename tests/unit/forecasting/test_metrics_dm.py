"""Benchmark scoring: grid metrics and epftoolbox's Diebold-Mariano test against hand-computed values, DST grid."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from griddesk.forecasting.scoring import dm_test, score_grid, to_grid_matrix, weekly_naive_grid
from griddesk.markets import get_market

# A small table: 2 days x 3 "hours" (the scoring code does not care how many hours a row has).
ACTUAL = np.array([[10.0, 20.0, 30.0], [40.0, 0.0, -10.0]])
FORECAST = np.array([[12.0, 18.0, 30.0], [36.0, 0.0, -5.0]])
NAIVE = np.array([[20.0, 20.0, 20.0], [20.0, 20.0, 20.0]])


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_grid_scores_match_hand_computed_values_on_a_small_table():
    lower, upper = FORECAST - 3.0, FORECAST + 3.0
    score = score_grid(ACTUAL, FORECAST, NAIVE, lower, upper)
    # errors: 2, 2, 0, 4, 0, 5 -> MAE 13/6; squares 4+4+0+16+0+25 = 49 -> RMSE sqrt(49/6)
    assert score.n_hours == 6
    assert score.mae == pytest.approx(13 / 6)
    assert score.rmse == pytest.approx(math.sqrt(49 / 6))
    # naive errors: 10, 0, 10, 20, 20, 30 -> MAE 90/6
    assert score.rmae_weekly_naive == pytest.approx((13 / 6) / (90 / 6))
    # sMAPE terms 2|e|/(|a|+|f|): 4/22, 4/38, 0, 8/76, 0 (0/0), 10/15
    assert score.smape_pct == pytest.approx(100 * (4 / 22 + 4 / 38 + 8 / 76 + 10 / 15) / 6)
    # inside +-3: all but the 4 and the 5 -> 4 of 6
    assert score.interval_coverage_pct == pytest.approx(100 * 4 / 6)


def test_coverage_is_none_without_any_interval():
    nan = np.full_like(ACTUAL, np.nan)
    assert score_grid(ACTUAL, FORECAST, NAIVE, nan, nan).interval_coverage_pct is None


def test_dm_test_matches_hand_computed_statistic():
    # 4 days x 2 hours; reference errors |e1| per day = mean of (3, 1), (4, 2), (5, 3), (4, 2) = 2, 3, 4, 3
    actual = np.zeros((4, 2))
    reference = np.array([[3.0, 1.0], [4.0, 2.0], [5.0, 3.0], [4.0, 2.0]])
    candidate = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])  # daily loss 1
    # d = 1, 2, 3, 2: mean 2, population variance 0.5, statistic 2 / sqrt(0.5 / 4)
    statistic = 2.0 / math.sqrt(0.5 / 4)
    expected = 1.0 - _phi(statistic)
    assert dm_test(actual, reference, candidate) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_dm_test_is_one_sided_and_symmetric():
    rng = np.random.default_rng(3)
    actual = rng.normal(40, 10, (30, 24))
    good = actual + rng.normal(0, 2, actual.shape)
    bad = actual + rng.normal(0, 3, actual.shape)
    p_good_beats_bad = dm_test(actual, bad, good)
    assert p_good_beats_bad < 0.01
    assert dm_test(actual, good, bad) == pytest.approx(1.0 - p_good_beats_bad)


def test_dm_test_squared_norm_uses_squared_errors():
    actual = np.zeros((4, 1))
    reference = np.array([[2.0], [2.0], [3.0], [1.0]])  # squares 4, 4, 9, 1
    candidate = np.ones((4, 1))  # squares 1
    d = np.array([3.0, 3.0, 8.0, 0.0])
    expected = 1.0 - _phi(d.mean() / math.sqrt(d.var() / 4))
    assert dm_test(actual, reference, candidate, norm=2) == pytest.approx(expected)


def test_dm_test_rejects_mismatched_shapes_and_norms():
    with pytest.raises(ValueError, match="one shape"):
        dm_test(np.zeros((3, 24)), np.zeros((3, 24)), np.zeros((2, 24)))
    with pytest.raises(ValueError, match="norm"):
        dm_test(np.zeros((3, 24)), np.zeros((3, 24)), np.zeros((3, 24)), norm=3)


def test_weekly_naive_grid_is_seven_days_earlier():
    grid = np.arange(10 * 24, dtype=float).reshape(10, 24)
    np.testing.assert_array_equal(weekly_naive_grid(grid), grid[:3])


def _real_day(market_code: str, day: date, values_by_local_hour) -> pd.Series:
    market = get_market(market_code)
    start, end = market.delivery_day_bounds_utc(day)
    index = pd.date_range(start, end, freq="h", inclusive="left")
    local = index.tz_convert(market.tz)
    values = [values_by_local_hour(ts) for ts in local]
    return pd.Series(values, index=index, dtype=float)


def test_dst_days_map_onto_the_24_hour_grid_like_the_dataset():
    spring, autumn = date(2018, 3, 25), date(2018, 10, 28)
    spring_series = _real_day("NP", spring, lambda ts: 10.0 * ts.hour)  # 23 hours, no 02:00
    # The autumn day has two 02:00 hours: 100 (CEST) and 200 (CET); the grid averages them.
    autumn_series = _real_day(
        "NP",
        autumn,
        lambda ts: (100.0 if ts.utcoffset().seconds == 7200 else 200.0) if ts.hour == 2 else float(ts.hour),
    )
    assert len(spring_series) == 23 and len(autumn_series) == 25
    grid = to_grid_matrix(pd.concat([spring_series, autumn_series]), "NP", [spring, autumn])
    assert grid.shape == (2, 24)
    assert grid[0, 2] == pytest.approx((10.0 + 30.0) / 2)  # the missing spring hour: mean of its neighbours
    assert grid[0, 3] == 30.0
    assert grid[1, 2] == pytest.approx(150.0)  # the autumn pair: averaged
    assert grid[1, 3] == 3.0


def test_grid_matrix_names_a_missing_day():
    series = _real_day("NP", date(2018, 6, 1), lambda ts: 1.0)
    with pytest.raises(ValueError, match="missing"):
        to_grid_matrix(series, "NP", [date(2018, 6, 1), date(2018, 6, 2)])
