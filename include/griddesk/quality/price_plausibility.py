"""Is a day's price level plausible given its exogenous drivers? Catches a publication shifted as a whole.

A wrong publication that still parses (every price of a day ``x * a + b``, the simulator's ``value_shift`` fault)
passes every bound, count and uniqueness check. What gives it away is its level: given the day's load and
generation (or wind + solar) forecasts, the weekday and public holidays, the prices of a shifted day sit far
from what the weeks before imply, in (almost) every hour alike.

The rule, for a market and delivery day D (all values hourly; quarter-hours are averaged per hour):

1. Fit, by least squares on the ``window_days`` days before D that are complete, price = one level per local
   hour of the day + a * exog_1 + b * exog_2 + c * Saturday + d * (Sunday or public holiday).
2. Residuals of D and of every training day. A day's lower quartile of residuals moves up by ``s`` when every
   hour moves up by ``s``; a spike in a few hours leaves it alone. So the *up* score is the robust z-score of
   D's lower quartile among the training days' lower quartiles (median and 1.4826 MAD), the *down* score the
   same on the upper quartile with the sign turned; ``score`` is the larger.
3. ``spread_ratio``: D's interquartile range of residuals over the training days' median one. A shift moves the
   level and keeps the shape (ratio near 1); a real extreme day (a cold snap) blows the shape up as well.
4. The day is implausible when ``score > max_score`` and ``spread_ratio <= max_spread_ratio``.
   ``shift_score`` (what the GX suite checks) is ``score`` when the shape test passes and 0 when it does not;
   NaN when fewer than ``min_training_days`` complete days precede D (no verdict).

Measured on the real epftoolbox data (NP, PJM, BE, FR, DE, every day with 56 days before it; see
docs/alerts.md): it fires on none of them, and catches most whole-day shifts of 40 per MWh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from griddesk.markets import HOLIDAY_COUNTRY, Market

#: 1.4826 * MAD estimates the standard deviation of normal data.
MAD_TO_SIGMA = 1.4826
_HOURS = 24
#: Exogenous forecasts enter in units of 10 GW, so their coefficients sit near the hourly levels' scale.
_EXOG_SCALE_MW = 1e4


@dataclass(frozen=True)
class PlausibilityConfig:
    """Parameters of the rule (see the module docstring); the defaults are the measured ones."""

    window_days: int = 56
    min_training_days: int = 28
    quantile: float = 0.25
    max_score: float = 7.0
    max_spread_ratio: float = 3.0


DEFAULT_CONFIG = PlausibilityConfig()
RESULT_COLUMNS = (
    "delivery_date_local",
    "score",
    "spread_ratio",
    "shift_score",
    "level_shift_per_mwh",
    "training_days",
    "is_implausible",
)


def _holiday_days(market: Market, years: Iterable[int]) -> frozenset[date]:
    return _country_holidays(HOLIDAY_COUNTRY[market.code], tuple(sorted(set(years))))


@lru_cache(maxsize=64)
def _country_holidays(country: str, years: tuple[int, ...]) -> frozenset[date]:
    # Building a holiday calendar costs ~1 s; a validation run asks for the same few years again and again.
    return frozenset(holidays.country_holidays(country, years=years))


def hourly_frame(prices: pd.DataFrame, exogenous: pd.DataFrame, market: Market) -> pd.DataFrame:
    """Prices and the market's two exogenous series on one hourly UTC index, with local day and hour.

    Args:
        prices: ``delivery_start_utc`` (tz-aware) and ``price_per_mwh``; any MTU (sub-hourly is averaged).
        exogenous: long ``series_code``, ``delivery_start_utc``, ``quantity_mw``; other series are ignored.

    Returns:
        Index ``delivery_start_utc`` (hour starts), columns ``price``, ``exog_1``, ``exog_2``, ``day`` (local
        date), ``hour`` (local hour 0-23); NaN where a value is missing.
    """

    def hourly(series: pd.Series, stamps: pd.Series) -> pd.Series:
        hours = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).floor("h")
        return pd.Series(series.to_numpy(dtype=float), index=hours).groupby(level=0).mean()

    columns = {"price": hourly(prices["price_per_mwh"], prices["delivery_start_utc"])}
    for series in market.exogenous:
        one = exogenous[exogenous["series_code"] == series.series_code]
        columns[f"exog_{series.dataset_column}"] = hourly(one["quantity_mw"], one["delivery_start_utc"])
    frame = pd.DataFrame(columns).sort_index()
    frame = frame.reindex(columns=["price", "exog_1", "exog_2"])
    local = frame.index.tz_convert(market.timezone)
    frame["day"] = [t.date() for t in local]
    frame["hour"] = local.hour
    return frame


def _day_blocks(frame: pd.DataFrame, market: Market) -> dict[date, tuple[np.ndarray, np.ndarray]]:
    """(design matrix, prices) of every local day whose hours are all present, prices and drivers alike."""
    years = {d.year for d in frame["day"]}
    offdays = _holiday_days(market, years) if years else set()
    blocks: dict[date, tuple[np.ndarray, np.ndarray]] = {}
    for day, rows in frame.groupby("day", sort=True):
        start, end = market.delivery_day_bounds_utc(day)
        if len(rows) != int((end - start) / timedelta(hours=1)) or rows[["price", "exog_1", "exog_2"]].isna().any(
            axis=None
        ):
            continue
        n = len(rows)
        design = np.zeros((n, _HOURS + 4))
        design[np.arange(n), rows["hour"].to_numpy()] = 1.0
        design[:, _HOURS] = rows["exog_1"].to_numpy() / _EXOG_SCALE_MW
        design[:, _HOURS + 1] = rows["exog_2"].to_numpy() / _EXOG_SCALE_MW
        design[:, _HOURS + 2] = float(day.weekday() == 5)
        design[:, _HOURS + 3] = float(day.weekday() == 6 or day in offdays)
        blocks[day] = (design, rows["price"].to_numpy(dtype=float))
    return blocks


def _quartiles(residuals: list[np.ndarray], q: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantile of each day's residuals (days of 23-25 hours, padded with NaN), in one call."""
    padded = np.full((len(residuals), max(len(r) for r in residuals)), np.nan)
    for i, r in enumerate(residuals):
        padded[i, : len(r)] = r
    low, high = np.nanquantile(padded, [q, 1 - q], axis=1)
    return low, high


def _robust_z(value: float, sample: np.ndarray) -> float:
    median = float(np.median(sample))
    scale = MAD_TO_SIGMA * float(np.median(np.abs(sample - median)))
    if scale <= 0:
        return 0.0 if value == median else float(np.sign(value - median)) * np.inf
    return (value - median) / scale


def price_shift_scores(
    prices: pd.DataFrame,
    exogenous: pd.DataFrame,
    market: Market,
    days: Sequence[date],
    config: PlausibilityConfig = DEFAULT_CONFIG,
) -> pd.DataFrame:
    """The rule's verdict for each of ``days`` (see the module docstring), from the history in the frames.

    Args:
        prices, exogenous: as :func:`hourly_frame`; they must cover the ``window_days`` before each day and the day
            (one version per MTU: the caller picks which, e.g. the latest as of the validation clock).
        days: local delivery days to score.

    Returns:
        One row per day with :data:`RESULT_COLUMNS`; NaN scores (and ``is_implausible`` False) for a day that is
        incomplete itself or has fewer than ``min_training_days`` complete days before it.
    """
    blocks = _day_blocks(hourly_frame(prices, exogenous, market), market)
    grams = {d: a.T @ a for d, (a, _) in blocks.items()}
    moments = {d: a.T @ y for d, (a, y) in blocks.items()}
    q = config.quantile
    rows = []
    for day in days:
        window = (day - timedelta(days=k) for k in range(config.window_days, 0, -1))
        training_days = [d for d in window if d in blocks]
        training = [blocks[d] for d in training_days]
        result = dict.fromkeys(RESULT_COLUMNS[1:], np.nan) | {"delivery_date_local": day, "is_implausible": False}
        result["training_days"] = len(training)
        if day not in blocks or len(training) < config.min_training_days:
            rows.append(result)
            continue
        # Normal equations on 28 columns: a small solve, not a least-squares on thousands of rows.
        gram = sum(grams[d] for d in training_days)
        moment = sum(moments[d] for d in training_days)
        beta = np.linalg.lstsq(gram, moment, rcond=None)[0]
        lows_arr, highs_arr = _quartiles([y - a @ beta for a, y in training], q)
        a, y = blocks[day]
        residual = y - a @ beta
        low, high = np.quantile(residual, q), np.quantile(residual, 1 - q)
        score = max(_robust_z(low, lows_arr), -_robust_z(high, highs_arr))
        typical_spread = float(np.median(highs_arr - lows_arr))
        spread_ratio = (high - low) / typical_spread if typical_spread > 0 else np.inf
        shape_kept = spread_ratio <= config.max_spread_ratio
        result.update(
            score=float(score),
            spread_ratio=float(spread_ratio),
            shift_score=float(score) if shape_kept else 0.0,
            level_shift_per_mwh=float(np.median(residual)),
            is_implausible=bool(shape_kept and score > config.max_score),
        )
        rows.append(result)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def false_positive_rate(
    dataset: pd.DataFrame, market: Market, config: PlausibilityConfig = DEFAULT_CONFIG
) -> tuple[int, int, list[date]]:
    """How often the rule fires on a market's own data: (days fired, days scored, the days it fired on).

    ``dataset`` is a loader frame (:func:`griddesk.datasets.load_market_data`): every day that has
    ``window_days`` of history before it is scored.
    """
    prices = dataset[["delivery_start_utc", "price_per_mwh"]]
    exogenous = pd.concat(
        [
            pd.DataFrame(
                {
                    "series_code": s.series_code,
                    "delivery_start_utc": dataset["delivery_start_utc"],
                    "quantity_mw": dataset[f"exog_{s.dataset_column}"],
                }
            )
            for s in market.exogenous
        ],
        ignore_index=True,
    )
    days = sorted(dataset["delivery_date_local"].unique())[config.window_days :]
    scores = price_shift_scores(prices, exogenous, market, days, config)
    scored = scores.dropna(subset=["score"])
    fired = scored[scored["is_implausible"]]["delivery_date_local"].tolist()
    return len(fired), len(scored), fired


__all__ = [
    "DEFAULT_CONFIG",
    "RESULT_COLUMNS",
    "PlausibilityConfig",
    "false_positive_rate",
    "hourly_frame",
    "price_shift_scores",
]
