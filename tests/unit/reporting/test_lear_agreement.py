"""The LEAR agreement diagnostic: hand-computed comparison figures and our LEAR on a small grid."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk.forecasting import lear
from griddesk.reporting.lear_agreement import agreement, our_lear


def test_agreement_matches_hand_computed_figures():
    ours, published, actual = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.5, 3.0], [0.0, 2.0, 3.0, 5.0]
    result = agreement(np.array(ours), np.array(published), np.array(actual))
    # |ours - actual| = 1, 0, 0, 1; |published - actual| = 1, 0, 0.5, 2; |ours - published| = 0, 0, 0.5, 1.
    assert result.n_hours == 4
    assert result.ours_mae == pytest.approx(0.5) and result.published_mae == pytest.approx(0.875)
    assert result.mean_abs_difference == pytest.approx(0.375) and result.share_within_pct == pytest.approx(50.0)
    assert "-42.9 %" in result.line()
    with pytest.raises(ValueError, match="shapes differ"):
        agreement(np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        agreement(np.array([1.0, np.nan]), np.ones(2), np.ones(2))


def test_our_lear_forecasts_consecutive_days_and_restores_the_path_cut():
    rng = np.random.default_rng(0)
    days = 60
    stamps = pd.date_range("2016-01-01", periods=days * 24, freq="h")
    hour = stamps.hour.to_numpy()
    load = 50 + 10 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 1, len(stamps))
    grid = pd.DataFrame(
        {
            "timestamp_local": stamps,
            "price_per_mwh": 30 + 0.5 * load + rng.normal(0, 2, len(stamps)),
            "exog_1": load,
            "exog_2": load * 2 + rng.normal(0, 1, len(stamps)),
        }
    )
    targets = [date(2016, 1, 1) + timedelta(days=57), date(2016, 1, 1) + timedelta(days=58)]
    before = lear.IC_PATH_STEPS
    forecasts = our_lear(grid, 56, targets, warm=False, full_path=True)
    assert before == lear.IC_PATH_STEPS  # restored
    assert forecasts.shape == (2, 24) and np.isfinite(forecasts).all()
    # The forecasts follow the price level, not a constant.
    assert 40 < forecasts.mean() < 70 and forecasts.std() > 1
