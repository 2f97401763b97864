"""Zeros and stuck values in exogenous forecasts: found, named in local hours, imputed or refused."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk import datasets
from griddesk.forecasting.exogenous_cleaning import impute_suspect_exogenous
from griddesk.markets import get_market
from griddesk.quality.exogenous_plausibility import describe_suspect_runs, suspect_mask
from griddesk.quality.feeds_gate import abs_robust_z, derive_columns, load_feed_specs
from griddesk.settings import Settings

NP = get_market("NP")


def test_zeros_and_six_hour_runs_are_suspect_but_real_short_repeats_are_not():
    values = np.array([5.0, 5.0, 5.0, 5.0, 7.0, 0.0, 8.0] + [9.0] * 6 + [1.0, np.nan, 1.0])
    mask = suspect_mask(values, 60)
    assert mask.tolist() == [False] * 5 + [True, False] + [True] * 6 + [False, False, False]
    # Quarter-hours: 6 h is 24 intervals; 23 equal quarter-hours are not a stuck run yet.
    assert not suspect_mask(np.full(23, 3.0), 15).any() and suspect_mask(np.full(24, 3.0), 15).all()


def test_suspect_runs_are_named_in_local_hours():
    starts = pd.Series(pd.date_range("2018-09-17T22:00Z", periods=24, freq="h"))  # 00:00 local in Oslo (CEST)
    values = np.array([0.0] * 13 + [653.0 + i for i in range(11)])
    labels = describe_suspect_runs("wind_solar_forecast", starts, values, suspect_mask(values, 60), NP.timezone, 60)
    assert labels[0] == "wind_solar_forecast 00:00-12:59 local (13 h at 0 MW)"
    assert labels[1:] == [None] * 23  # one label per run


def test_spike_score_is_finite_when_the_median_is_zero():
    # Mostly zeros (median 0, MAD 0): the score used to be NaN for every value, so no spike could ever fail.
    scores = abs_robust_z(pd.Series([0.0] * 20 + [1.0, 1.0, 2.0, 500.0]))
    assert scores.notna().all() and scores.iloc[-1] > 12 > scores.iloc[0]
    assert abs_robust_z(pd.Series([0.0, 0.0, 0.0])).tolist() == [0.0, 0.0, 0.0]
    assert abs_robust_z(pd.Series([0.0, np.nan, 0.0])).isna().tolist() == [False, True, False]


def _exogenous_frame(market, days: int = 21) -> pd.DataFrame:
    df = datasets.synthetic_epftoolbox(market.code, start=date(2016, 5, 1), days=days)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "series_code": s.series_code,
                    "delivery_start_utc": df["delivery_start_utc"],
                    "resolution_minutes": 60,
                    "quantity_mw": df[f"exog_{s.dataset_column}"].to_numpy(),
                }
            )
            for s in market.exogenous
        ],
        ignore_index=True,
    )


def test_gx_derived_column_names_the_lost_hours_of_the_day():
    spec = load_feed_specs()["entsoe_exogenous_forecasts"]
    frame = _exogenous_frame(NP, 1).assign(
        market_code="NP", delivery_date_local=date(2016, 5, 1), version=1, is_imputed=False
    )
    wind = frame["series_code"] == "wind_solar_forecast"
    frame.loc[wind & (frame.index % 24 < 13), "quantity_mw"] = 0.0
    out = derive_columns(spec, frame)
    named = out["dq_quantity_mw_stuck_run"].dropna().unique().tolist()
    assert named == ["wind_solar_forecast 00:00-12:59 local (13 h at 0 MW)"]


def test_calibration_window_is_imputed_and_a_lost_target_day_is_refused():
    exog = _exogenous_frame(NP)
    starts = pd.DatetimeIndex(exog["delivery_start_utc"]).tz_convert(NP.timezone)
    day = lambda d: np.asarray([t.date() == d for t in starts])  # noqa: E731
    bad_day, target = date(2016, 5, 12), date(2016, 5, 21)
    load = (exog["series_code"] == "load_forecast").to_numpy()
    exog.loc[load & day(bad_day), "quantity_mw"] = 16037.0  # stuck for the whole day
    cleaned = impute_suspect_exogenous(exog, NP, target)
    donor = exog.loc[load & day(bad_day - timedelta(days=7)), "quantity_mw"].to_numpy()
    assert np.array_equal(cleaned.loc[load & day(bad_day), "quantity_mw"].to_numpy(), donor)
    assert cleaned.loc[~(load & day(bad_day)), "quantity_mw"].equals(exog.loc[~(load & day(bad_day)), "quantity_mw"])
    assert impute_suspect_exogenous(exog.iloc[:0], NP, target).empty
    clean = _exogenous_frame(NP)
    assert impute_suspect_exogenous(clean, NP, target) is clean  # nothing suspect: untouched

    exog.loc[load & day(target), "quantity_mw"] = 0.0
    with pytest.raises(ValueError, match=r"NP 2016-05-21: .*load_forecast 00:00-23:59 local \(24 h at 0 MW\)"):
        impute_suspect_exogenous(exog, NP, target)
    backtest = impute_suspect_exogenous(exog, NP, target, refuse_target=False)
    assert (backtest.loc[load & day(target), "quantity_mw"] > 0).all()


def test_real_data_zero_and_stuck_days(shared_data_dir):
    """The scan of all five markets' exogenous columns that docs/forecasting.md reports."""
    settings = Settings(data_dir=shared_data_dir / "epftoolbox_datasets")
    found = {}
    for code in ("NP", "PJM", "BE", "FR", "DE"):
        df = datasets.load_market_data(code, settings)
        for series in get_market(code).exogenous:
            mask = suspect_mask(df[f"exog_{series.dataset_column}"].to_numpy(), 60)
            for d, n in df.loc[mask, "delivery_date_local"].value_counts().sort_index().items():
                found[(code, series.series_code, d)] = int(n)
    # DE's load forecast is stuck at 16,037 MW from 23:00 on 13 June 2015 (its last real value) to the end of 14 June.
    assert found == {
        ("NP", "wind_solar_forecast", date(2018, 9, 18)): 13,
        ("DE", "load_forecast", date(2015, 6, 13)): 1,
        ("DE", "load_forecast", date(2015, 6, 14)): 24,
    }
