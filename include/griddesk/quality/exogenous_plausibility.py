"""Zeros and stuck values that mean "missing" in exogenous forecasts that are never zero in practice.

A day-ahead load forecast, a generation forecast or a wind + solar forecast of a whole zone is never exactly 0 MW
and never repeats one value for hours on end: a real forecast moves with the hour. Publications that lost their
data say so with a run of zeros (NP's wind forecast of 2018-09-18, 00:00-12:00) or with the last value carried
forward (DE's load forecast of 2015-06-14, 24 hours at 16,037 MW). Both pass a non-negative check.

A value is *suspect* when it is 0, or when it belongs to a run of equal consecutive values lasting at least
:data:`STUCK_RUN_MIN_HOURS`. The real epftoolbox data's longest run of equal non-zero values besides the one above is
4 hours (FR load, rounded to 100 MW), so 6 hours leaves real forecasts alone. The autumn DST hour, repeated by the
loader with one value, is a run of 2.

Used by the GX gate (``griddesk.quality.feeds_gate``: a critical expectation per delivery day naming the hours)
and by the forecasters (``griddesk.forecasting.exogenous_cleaning``: suspect hours of the calibration window are
imputed, a suspect target day is refused).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A run of equal values at least this long (hours) is a stuck publication, not a forecast.
STUCK_RUN_MIN_HOURS = 6.0


def suspect_mask(values: np.ndarray | pd.Series, mtu_minutes: float, stuck_min_hours: float = STUCK_RUN_MIN_HOURS):
    """True where a value is 0 or part of a run of equal consecutive values of ``stuck_min_hours`` or more.

    ``values`` are consecutive MTUs of one series (NaN is never suspect and breaks a run).
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=bool)
    present = ~np.isnan(x)
    starts = np.ones(n, dtype=bool)
    starts[1:] = (x[1:] != x[:-1]) | ~present[1:] | ~present[:-1]
    run_id = np.cumsum(starts) - 1
    run_length = np.bincount(run_id)[run_id]
    min_intervals = int(np.ceil(stuck_min_hours * 60.0 / mtu_minutes - 1e-9))
    return present & ((x == 0) | (run_length >= min_intervals))


def describe_suspect_runs(
    series_code: str,
    starts_utc: pd.Series,
    values: np.ndarray | pd.Series,
    mask: np.ndarray,
    timezone: str,
    mtu_minutes: float,
) -> list[str | None]:
    """A label per value: on the first value of each suspect run, the run in local time, e.g.
    ``wind_solar_forecast 00:00-12:59 local (13 h at 0 MW)``; None elsewhere (so a run is reported once)."""
    local = pd.DatetimeIndex(pd.to_datetime(starts_utc, utc=True)).tz_convert(timezone)
    x = np.asarray(values, dtype=float)
    labels: list[str | None] = [None] * len(x)
    i = 0
    while i < len(x):
        if not mask[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(x) and mask[j + 1] and (x[j + 1] == x[i] or (x[i] == 0 and x[j + 1] == 0)):
            j += 1
        end = local[j] + pd.Timedelta(minutes=mtu_minutes) - pd.Timedelta(minutes=1)
        hours = (j - i + 1) * mtu_minutes / 60.0
        label = f"{series_code} {local[i]:%H:%M}-{end:%H:%M} local ({hours:g} h at {x[i]:g} MW)"
        labels[i] = label
        i = j + 1
    return labels


__all__ = ["STUCK_RUN_MIN_HOURS", "describe_suspect_runs", "suspect_mask"]
