"""Data-quality flags of meter hours: found from the data alone, and kept out of training."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from griddesk.consumption.backtest import BacktestConfig, backtest_meter, training_frame
from griddesk.consumption.quality import (
    BEFORE_LEVEL_SHIFT,
    DST_DOUBLE,
    DST_ZERO,
    MISSING_ZERO,
    assess_meter,
    clock_change_hours_utc,
    flag_hours,
    level_shifts,
)


def _office(start: str, end: str, level: float = 100.0, seed: int = 1) -> pd.Series:
    idx = pd.date_range(start, end, freq="h", tz="UTC")
    local = idx.tz_convert("Europe/London")
    shape = 0.6 + 0.4 * np.exp(-(((local.hour.to_numpy() - 13) / 4.0) ** 2)) * (local.dayofweek.to_numpy() < 5)
    rng = np.random.default_rng(seed)
    return pd.Series(np.round(level * shape * (1 + 0.03 * rng.standard_normal(len(idx))), 1), index=idx)


def test_clock_changes_are_found_from_the_time_zone():
    idx = pd.date_range("2016-01-01", "2017-12-31 23:00", freq="h", tz="UTC")
    assert [str(t) for t in clock_change_hours_utc(idx)] == [
        "2016-03-27 01:00:00+00:00",
        "2016-10-30 01:00:00+00:00",
        "2017-03-26 01:00:00+00:00",
        "2017-10-29 01:00:00+00:00",
    ]


def test_dst_double_and_zero_readings_are_flagged_and_excluded_from_training():
    s = _office("2016-09-01", "2017-06-30 23:00")
    double_t, zero_t = pd.Timestamp("2016-10-30 01:00", tz="UTC"), pd.Timestamp("2017-03-26 01:00", tz="UTC")
    s[double_t] = 2.0 * s[double_t - pd.Timedelta(hours=1)]  # the repeated local hour summed into one UTC hour
    s[zero_t] = 0.0  # the skipped local hour
    ordinary_zero = pd.Timestamp("2017-01-10 12:00", tz="UTC")
    s[ordinary_zero] = 0.0
    flags = flag_hours(s)
    assert flags.loc[double_t, "flag"] == DST_DOUBLE
    assert flags.loc[zero_t, "flag"] == DST_ZERO
    assert flags.loc[ordinary_zero, "flag"] == MISSING_ZERO
    assert int((~flags["is_clean"]).sum()) == 3  # nothing else is flagged
    clean = s.where(flags["is_clean"])
    train = training_frame(clean, pd.Series(10.0, index=s.index), 364, s.index[-1] + pd.Timedelta(hours=1))
    assert double_t not in train.index and zero_t not in train.index and ordinary_zero not in train.index
    _, q = assess_meter("m", s, min_clean_days=28, max_missing_hours_clean=24)
    assert q.flag_counts[DST_DOUBLE] == 1 and q.flag_counts[DST_ZERO] == 1
    assert q.is_clean and "2 DST artefact hour(s) excluded" in q.clean_reason


def test_a_normal_night_ramp_at_a_clock_change_is_not_a_double():
    s = _office("2016-10-01", "2016-11-30 23:00")
    t = pd.Timestamp("2016-10-30 01:00", tz="UTC")
    # a storage heater switching on at the change hour: low before, twice as high from it on (b7 in 2019)
    s[t - pd.Timedelta(hours=3) : t - pd.Timedelta(hours=1)] = 10.0
    s[t : t + pd.Timedelta(hours=3)] = 20.0
    assert flag_hours(s).loc[t, "flag"] is None


def test_level_shift_between_years_is_found_and_the_old_regime_left_out():
    s = pd.concat([_office("2016-01-01", "2016-12-31 23:00", 100.0), _office("2017-01-01", "2017-12-31 23:00", 60.0)])
    assert level_shifts(s) == [{"year": 2017, "ratio": pytest.approx(0.6, abs=0.02)}]
    flags = flag_hours(s)
    assert (flags.loc[:"2016-12-31 23:00", "flag"] == BEFORE_LEVEL_SHIFT).all()
    assert flags.loc["2017-01-01":, "is_clean"].all()
    _, q = assess_meter("m", s, 28, 24)
    assert not q.is_clean and "level shift into 2017" in q.clean_reason
    steady = pd.concat(
        [_office("2016-01-01", "2016-12-31 23:00", 100.0), _office("2017-01-01", "2017-12-31 23:00", 95.0)]
    )
    assert level_shifts(steady) == []


def test_an_only_zeros_meter_is_skipped_with_a_reason():
    idx = pd.date_range("2017-01-01", "2018-12-31 23:00", freq="h", tz="UTC")
    zeros = pd.Series(0.0, index=idx)
    _, q = assess_meter("b_zero", zeros, 56, 24)
    assert not q.is_usable and "no non-zero reading" in q.skip_reason
    temperature = pd.Series(8.0, index=idx)
    result = backtest_meter("b_zero", zeros, temperature, BacktestConfig(days=[date(2018, 12, 20)], warmup_days=0))
    assert result.skip_reason is not None and "b_zero has no non-zero reading" in result.skip_reason
    assert result.forecasts.empty


def test_too_little_clean_history_is_skipped_with_a_reason():
    s = _office("2018-11-20", "2018-12-31 23:00")
    _, q = assess_meter("short", s, min_clean_days=56, max_missing_hours_clean=24)
    assert not q.is_usable and "56 needed" in q.skip_reason


def test_flags_refuse_an_incomplete_grid():
    s = _office("2018-01-01", "2018-01-10")
    with pytest.raises(ValueError, match="complete hourly grid"):
        flag_hours(s.drop(s.index[5]))
