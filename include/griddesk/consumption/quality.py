"""Data-quality flags for hourly meter readings, found from the data alone (no list of known bad hours).

Flags (one per hour, the first that applies, in this order):

- ``absent``: no reading at all (NaN);
- ``dst_zero``: a 0 within one hour of a Europe/London clock change (the skipped local hour of a meter that
  logs local time);
- ``missing_zero``: any other 0 (the Cambridge data mark missing readings with 0);
- ``dst_double``: within one hour of a clock change, 1.6-2.5x the level of the hours around it while those hours
  agree with each other (the repeated local hour summed into one UTC hour);
- ``before_level_shift``: hours before the latest year-to-year level shift (the same calendar months' medians
  differ by more than ``LEVEL_SHIFT_RATIO`` between consecutive years): the meter's old regime.

Flagged hours never train a model. A meter whose history has fewer clean days than needed is skipped with the
reason; a meter is *clean* (and enters the portfolio benchmark) when it has at most a handful of missing hours
and no level shift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

LONDON = ZoneInfo("Europe/London")
ABSENT, DST_ZERO, MISSING_ZERO, DST_DOUBLE, BEFORE_LEVEL_SHIFT = (
    "absent",
    "dst_zero",
    "missing_zero",
    "dst_double",
    "before_level_shift",
)
FLAGS = (ABSENT, DST_ZERO, MISSING_ZERO, DST_DOUBLE, BEFORE_LEVEL_SHIFT)
#: A repeated local hour summed into one UTC hour reads about twice its neighbours.
DOUBLE_RATIO = (1.6, 2.5)
#: Neighbours must agree within this relative spread for a double to be recognised (not a normal ramp).
NEIGHBOUR_SPREAD = 0.25
#: Consecutive years whose same-month medians differ by more than this factor: a level shift.
LEVEL_SHIFT_RATIO = 1.25
MIN_COMMON_MONTHS = 3


def clock_change_hours_utc(index: pd.DatetimeIndex, tz: ZoneInfo = LONDON) -> pd.DatetimeIndex:
    """The UTC hours of ``index`` at which ``tz``'s UTC offset changes (the first hour of the new offset)."""
    if len(index) < 2:
        return pd.DatetimeIndex([], tz="UTC")
    offsets = (index.tz_convert(tz).tz_localize(None) - index.tz_localize(None)).to_numpy()
    changed = np.r_[False, offsets[1:] != offsets[:-1]]
    return index[changed]


def _near_clock_change(index: pd.DatetimeIndex) -> np.ndarray:
    """True for hours within one hour of a clock change (the change hour and the hour either side)."""
    # Extend by a day each side so a change at the very edge of the index is still seen.
    full = pd.date_range(index[0] - pd.Timedelta(days=1), index[-1] + pd.Timedelta(days=1), freq="h", tz="UTC")
    changes = clock_change_hours_utc(full)
    hours = np.unique(np.concatenate([(changes + pd.Timedelta(hours=k)).asi8 for k in (-1, 0, 1)]))
    return np.isin(index.asi8, hours)


def _dst_doubles(values: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Hours near a clock change whose value is about twice the agreeing hours around them."""
    out = np.zeros(len(values), dtype=bool)
    for i in np.flatnonzero(near):
        around = np.r_[values[max(0, i - 3) : max(0, i - 1)], values[i + 2 : i + 4]]
        around = around[np.isfinite(around) & (around > 0)]
        if len(around) < 2 or not np.isfinite(values[i]) or values[i] <= 0:
            continue
        level = float(np.median(around))
        spread = (around.max() - around.min()) / level
        if spread <= NEIGHBOUR_SPREAD and DOUBLE_RATIO[0] <= values[i] / level <= DOUBLE_RATIO[1]:
            out[i] = True
    return out


def level_shifts(series: pd.Series, ratio: float = LEVEL_SHIFT_RATIO) -> list[dict]:
    """Year-to-year level shifts: consecutive years whose same-calendar-month medians differ by > ``ratio``.

    Uses only valid readings (non-zero, non-NaN). Returns ``[{"year": later year, "ratio": later/earlier}]``.
    """
    valid = series[(series > 0) & series.notna()]
    if valid.empty:
        return []
    monthly = valid.groupby([valid.index.year, valid.index.month]).median()
    years = sorted(set(monthly.index.get_level_values(0)))
    shifts = []
    for prev, year in zip(years, years[1:], strict=False):
        a, b = monthly.loc[prev], monthly.loc[year]
        common = a.index.intersection(b.index)
        if len(common) < MIN_COMMON_MONTHS:
            continue
        r = float(np.exp(np.median(np.log(b[common].to_numpy() / a[common].to_numpy()))))
        if r > ratio or r < 1.0 / ratio:
            shifts.append({"year": int(year), "ratio": round(r, 3)})
    return shifts


def flag_hours(series: pd.Series) -> pd.DataFrame:
    """Flag every hour of ``series`` (kWh, complete hourly UTC index; NaN = no reading).

    Returns a frame on the same index with ``energy_kwh``, ``flag`` (None when clean) and ``is_clean``.

    Raises:
        ValueError: The index is not an hourly, UTC, strictly increasing index.
    """
    index = series.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC":
        raise ValueError("meter readings need a UTC DatetimeIndex")
    if len(index) > 1 and not ((index[1:] - index[:-1]) == pd.Timedelta(hours=1)).all():
        raise ValueError("meter readings must be on a complete hourly grid (reindex first; absent hours as NaN)")
    values = series.to_numpy(float)
    flag = np.full(len(values), None, dtype=object)
    if len(values) == 0:
        return pd.DataFrame({"energy_kwh": values, "flag": flag, "is_clean": np.zeros(0, bool)}, index=index)
    near = _near_clock_change(index)
    doubles = _dst_doubles(values, near)
    is_zero = values == 0.0
    for name, mask in (
        (ABSENT, np.isnan(values)),
        (DST_ZERO, is_zero & near),
        (MISSING_ZERO, is_zero),
        (DST_DOUBLE, doubles),
    ):
        flag[(flag == None) & mask] = name  # noqa: E711 - elementwise on an object array
    shifts = level_shifts(series)
    if shifts:
        cut = pd.Timestamp(year=shifts[-1]["year"], month=1, day=1, tz="UTC")
        flag[(flag == None) & (index < cut)] = BEFORE_LEVEL_SHIFT  # noqa: E711
    return pd.DataFrame({"energy_kwh": values, "flag": flag, "is_clean": flag == None}, index=index)  # noqa: E711


@dataclass
class MeterQuality:
    """Summary of a meter's history: counts per flag, whether it can be modelled, and whether it is clean."""

    meter_id: str
    n_hours: int
    n_clean_hours: int
    n_clean_days: float
    flag_counts: dict[str, int]
    level_shifts: list[dict] = field(default_factory=list)
    is_usable: bool = True
    skip_reason: str | None = None
    is_clean: bool = False
    clean_reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def assess_meter(
    meter_id: str, series: pd.Series, min_clean_days: int, max_missing_hours_clean: int
) -> tuple[pd.DataFrame, MeterQuality]:
    """Flags of every hour and the meter's verdict: usable (else the skip reason) and clean (with why)."""
    flags = flag_hours(series)
    counts = {f: int((flags["flag"] == f).sum()) for f in FLAGS}
    n_clean = int(flags["is_clean"].sum())
    shifts = level_shifts(series)
    q = MeterQuality(meter_id, len(flags), n_clean, round(n_clean / 24.0, 2), counts, shifts)
    values = flags["energy_kwh"].to_numpy(float)
    if len(values) == 0 or not np.any(np.nan_to_num(values) != 0):
        q.is_usable, q.skip_reason = False, f"meter {meter_id} has no non-zero reading in {len(values)} hour(s)"
    elif n_clean / 24.0 < min_clean_days:
        q.is_usable = False
        q.skip_reason = f"meter {meter_id} has {n_clean / 24.0:.1f} clean day(s) of history, {min_clean_days} needed"
    n_missing = counts[ABSENT] + counts[MISSING_ZERO]
    reasons = []
    if n_missing > max_missing_hours_clean:
        reasons.append(f"{n_missing} missing hours (> {max_missing_hours_clean})")
    if shifts:
        reasons.append("level shift " + ", ".join(f"into {s['year']} (x{s['ratio']})" for s in shifts))
    if not q.is_usable:
        reasons.append(q.skip_reason or "skipped")
    q.is_clean = not reasons
    dst = counts[DST_ZERO] + counts[DST_DOUBLE]
    q.clean_reason = (
        f"clean: {n_missing} missing hour(s), no level shift"
        + (f", {dst} DST artefact hour(s) excluded" if dst else "")
        if q.is_clean
        else "not clean: " + "; ".join(reasons)
    )
    return flags, q
