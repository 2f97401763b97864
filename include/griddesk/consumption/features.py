"""Calendar and lag features of meter hours, and what is known at a cut-off (pure functions, no I/O).

The meters are in the UK: buildings run on local (Europe/London) time, so hours of day, weekdays, holidays and
"the same hour a week earlier" are local, on a UTC base. Holidays are England's bank holidays (``holidays``
package, GB/ENG) plus the university's Christmas closure (24 Dec - 1 Jan), which behaves like a long holiday.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from griddesk.consumption.quality import LONDON

HOLIDAY_COUNTRY, HOLIDAY_SUBDIV = "GB", "ENG"
#: The level of a target day: the mean of the local days this many days back (the newest known at the cut-off is
#: two days old), when at least WEEK_LEVEL_MIN_DAYS of them have a clean reading.
WEEK_LEVEL_DAYS, WEEK_LEVEL_MIN_DAYS = tuple(range(2, 9)), 4


@lru_cache(maxsize=8)
def uk_holidays(first_year: int, last_year: int) -> dict[date, str]:
    """England's bank holidays and the Christmas closure (24 Dec - 1 Jan), date -> name."""
    years = range(first_year, last_year + 1)
    out = dict(holidays.country_holidays(HOLIDAY_COUNTRY, subdiv=HOLIDAY_SUBDIV, years=years).items())
    for y in years:
        for d in pd.date_range(f"{y}-12-24", f"{y}-12-31").date:
            out.setdefault(d, "Christmas closure")
        out.setdefault(date(y, 1, 1), "Christmas closure")
    return out


def local_calendar(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Local hour, weekday, local date, holiday and off-day (weekend or holiday) of UTC hours."""
    local = index.tz_convert(LONDON)
    days = local.tz_localize(None).normalize()
    hol = uk_holidays(int(local.year.min()) - 1, int(local.year.max()) + 1) if len(index) else {}
    is_holiday = days.isin(pd.DatetimeIndex(list(hol))) if hol else np.zeros(len(index), dtype=bool)
    dow = local.dayofweek.to_numpy()
    return pd.DataFrame(
        {
            "hour_local": local.hour.to_numpy(),
            "dow": dow,
            "date_local": days,
            "is_holiday": np.asarray(is_holiday, dtype=bool),
            "is_offday": np.asarray(is_holiday, dtype=bool) | (dow >= 5),
            "ds_local": local.tz_localize(None),
        },
        index=index,
    )


def same_local_hour_days_back(index: pd.DatetimeIndex, days: int) -> pd.DatetimeIndex:
    """For each UTC hour, the UTC hour with the same local wall-clock time ``days`` days earlier.

    Across a clock change the wall-clock hour may not exist (spring) or be ambiguous (autumn): the shift then
    falls back to exactly ``24 * days`` hours.
    """
    local = index.tz_convert(LONDON).tz_localize(None) - pd.Timedelta(days=days)
    back = pd.Series(local.tz_localize(LONDON, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC"))
    fallback = pd.Series(index - pd.Timedelta(hours=24 * days))
    return pd.DatetimeIndex(back.fillna(fallback))


def weekly_naive(history: pd.Series, target: pd.DatetimeIndex) -> np.ndarray:
    """Same local hour one week earlier (NaN where that hour is not in ``history`` or not a valid reading)."""
    return history.reindex(same_local_hour_days_back(target, 7)).to_numpy(float)


def fill_short_gaps(series: pd.Series, max_hours: int = 6) -> pd.Series:
    """Linear interpolation over gaps of at most ``max_hours`` (longer gaps stay NaN)."""
    return series.interpolate(limit=max_hours, limit_area="inside")


def temperature_known_at(obs: pd.Series, cutoff: datetime, lag: pd.Timedelta) -> pd.Series:
    """Observed temperatures published by ``cutoff`` (the observation of hour t is published at t + lag)."""
    return obs[obs.index + lag <= pd.Timestamp(cutoff)]


def lag_features(clean: pd.Series, target: pd.DatetimeIndex, known_until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Lag features of ``target`` hours from ``clean`` readings (NaN = flagged or not known).

    ``known_until`` (exclusive): readings at or after it are not known at the cut-off and are never used (for
    training rows the history itself ends there). Lags: the same local hour 2, 7 and 14 days back, and the
    means of the local days 2 and 7 days back, ``week_mean`` (the level: the mean of the last seven known local
    days, 2..8 back, when at least four of them are known; one odd day, e.g. a bank holiday a week ago, moves it
    by a seventh) and whether the days 2 and 7 back were off-days.
    """
    if known_until is not None:
        clean = clean[clean.index < known_until]
    if len(target):  # nothing older than the longest lag is read: keeps the daily means cheap on long histories
        clean = clean[clean.index >= target.min() - pd.Timedelta(days=16)]
    out = {}
    for days in (2, 7, 14):
        out[f"lag_{days}d"] = clean.reindex(same_local_hour_days_back(target, days)).to_numpy(float)
    daily = clean.groupby(clean.index.tz_convert(LONDON).tz_localize(None).normalize()).mean()
    target_days = target.tz_convert(LONDON).tz_localize(None).normalize()
    for days in (2, 7):
        out[f"day_mean_{days}d"] = daily.reindex(target_days - pd.Timedelta(days=days)).to_numpy(float)
    week = pd.DataFrame({k: daily.reindex(target_days - pd.Timedelta(days=k)).to_numpy(float) for k in WEEK_LEVEL_DAYS})
    out["week_mean"] = week.mean(axis=1).where(week.notna().sum(axis=1) >= WEEK_LEVEL_MIN_DAYS).to_numpy(float)
    for days in (2, 7):
        out[f"offday_{days}d"] = offday(target_days - pd.Timedelta(days=days)).astype(float)
    return pd.DataFrame(out, index=target)


def offday(local_days: pd.DatetimeIndex) -> np.ndarray:
    """Weekend or holiday (England's bank holidays and the Christmas closure), per naive local date."""
    if not len(local_days):
        return np.zeros(0, dtype=bool)
    hol = pd.DatetimeIndex(list(uk_holidays(int(local_days.year.min()) - 1, int(local_days.year.max()) + 1)))
    return np.asarray(local_days.isin(hol) | (local_days.dayofweek >= 5), dtype=bool)
