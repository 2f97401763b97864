"""Exogenous forecasts that mean "missing" (zeros, stuck values) out of the forecasters' inputs.

Suspect values (:func:`griddesk.quality.exogenous_plausibility.suspect_mask`: a 0, or a run of one value for 6 h
or more, in a forecast that is never 0 in practice) are treated in one place, before any model sees them:

- in the calibration window (days before D) they are **imputed**: each suspect hour takes the value of the same
  local wall-clock hour on the nearest day that is not suspect, a week away first (same weekday), then a day,
  then two weeks and two days, earlier before later; all of those days are known at D's cut-off. Every model
  needs complete days (LEAR's exogenous lags of D-1 and D-7, the per-hour Prophet's 24-hour grid, the single
  Prophet's design rows), so dropping a day would cost each model the day and every row that lags onto it;
  the imputed value is what a trader would pencil in for a lost load forecast;
- the target day D is **refused** (``ValueError`` naming the series and hours): a forecast and orders on a lost
  forecast are not made, as for a missing one. The backtest imputes D as well (``refuse_target=False``): it must
  score every test day, as the published benchmark forecasts it is compared with did.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from griddesk.markets import Market
from griddesk.quality.exogenous_plausibility import describe_suspect_runs, suspect_mask

log = logging.getLogger(__name__)

#: Days to borrow a suspect hour from, in order of preference (negative: earlier).
IMPUTATION_OFFSETS_DAYS = (-7, 7, -1, 1, -14, 14, -2, 2, -21, 21, -28, 28)


def impute_suspect_exogenous(
    exogenous: pd.DataFrame, market: Market, target_day: date, *, refuse_target: bool = True
) -> pd.DataFrame:
    """``exogenous`` (long: ``series_code``, ``delivery_start_utc``, ``quantity_mw``, ...) with the suspect values
    of days before ``target_day`` imputed (see the module docstring); the frame itself when nothing is suspect.

    Args:
        refuse_target: True (production): a suspect target day raises. False (the benchmark, which must score
            every test day like the published forecasts it is compared with): the target day is imputed too.

    Raises:
        ValueError: the target day itself has suspect values (naming the series and the local hours).
    """
    if exogenous.empty:
        return exogenous
    frame = exogenous.reset_index(drop=True)
    starts = pd.DatetimeIndex(pd.to_datetime(frame["delivery_start_utc"], utc=True))
    order = np.lexsort((starts.asi8, frame["series_code"].astype(str).to_numpy()))
    suspects: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for series in frame["series_code"].unique():
        idx = order[frame["series_code"].to_numpy()[order] == series]
        mtu = float(frame["resolution_minutes"].iloc[idx].mode().iloc[0]) if "resolution_minutes" in frame else 60.0
        mask = suspect_mask(frame["quantity_mw"].to_numpy(dtype=float)[idx], mtu)
        if mask.any():
            suspects[series] = (idx, mask, mtu)
    if not suspects:
        return exogenous
    wall = starts.tz_convert(market.timezone).tz_localize(None)
    day_start, day_end = (pd.Timestamp(t) for t in market.delivery_day_bounds_utc(target_day))
    on_target = np.asarray((starts >= day_start) & (starts < day_end)) & refuse_target
    values = frame["quantity_mw"].to_numpy(dtype=float).copy()
    problems: list[str] = []
    imputed = missing = 0
    for series, (idx, mask, mtu) in suspects.items():
        target_mask = mask & on_target[idx]
        if target_mask.any():
            labels = describe_suspect_runs(
                str(series), starts[idx].to_series(), values[idx], target_mask, market.timezone, mtu
            )
            problems += list(dict.fromkeys(label for label in labels if label))
        good = dict(zip(wall[idx[~mask]], values[idx[~mask]], strict=True))
        for pos in idx[mask & ~on_target[idx]]:
            donor = next(
                (good[k] for k in (wall[pos] + pd.Timedelta(days=o) for o in IMPUTATION_OFFSETS_DAYS) if k in good),
                None,
            )
            if donor is None:
                missing += 1
            else:
                values[pos] = donor
                imputed += 1
    if problems:
        raise ValueError(
            f"{market.code} {target_day}: the exogenous forecasts for the target day are lost, not forecasts: "
            f"{'; '.join(problems)}; no price forecast is made on them"
        )
    log.warning(
        "%s %s: imputed %d zero or stuck exogenous value(s) in the calibration window%s",
        market.code,
        target_day,
        imputed,
        f" ({missing} left: no plausible value within 4 weeks)" if missing else "",
    )
    return frame.assign(quantity_mw=values)


__all__ = ["IMPUTATION_OFFSETS_DAYS", "impute_suspect_exogenous"]
