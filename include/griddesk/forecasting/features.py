"""Design matrix for the day-ahead price forecaster: only what is known at gate closure on D-1.

Time base (why ``ds`` is UTC-naive): Prophet needs naive, and in practice unique, timestamps. Local wall time
repeats one hour in autumn and skips one in spring, so ``ds`` is the UTC instant without its zone: unique,
gap-free and DST-proof. Daily and weekly patterns follow the *local* clock, so Prophet's own daily/weekly
seasonalities (which would run on UTC) are replaced by local-calendar regressors built here: Fourier terms of
the local time of day, local weekday dummies, a local public-holiday flag (``holidays`` package) and a
time-of-day profile for non-working days. Prophet's ``holidays`` argument is not used for the same reason: it
matches on the ``ds`` date, which is the UTC date.

Price features are lags in *time*, not in rows, so the code is the same for 60- and 15-minute MTUs. A feature
of an MTU in local day ``d`` may only use prices delivered before ``d`` starts (all of D-1 is known at the
cut-off, nothing of D). Lag 24 h breaks that once a year: on the 25-hour autumn day, the last hour minus 24 h is
D's own first hour. There the lag moves back by the extra hour, which is the same wall-clock hour of D-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import holidays
import numpy as np
import pandas as pd

from griddesk.datasets import to_dataset_grid
from griddesk.markets import HOLIDAY_COUNTRY, Market

#: Price-valued regressors start with this prefix; the forecaster puts them through the price transform.
PRICE_FEATURE_PREFIX = "price_"
PRICE_LAGS_HOURS: tuple[int, ...] = (24, 48, 168)
PREVIOUS_DAY_STATS: tuple[str, ...] = ("mean", "max", "min")
#: Fourier order of the local time-of-day profile (order 6 leaves ~4 h wiggles; enough for hourly prices).
DAILY_FOURIER_ORDER = 6

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Weekday dummies; Wednesday is the base level (an all-seven set is collinear with the offset).
_WEEKDAY_DUMMIES = tuple(i for i in range(7) if _WEEKDAY_NAMES[i] != "wed")
_MAX_LISTED_MTUS = 6
_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(hours=24)


def exogenous_column(series_code: str) -> str:
    """Design-matrix column of an exogenous day-ahead forecast, in MW."""
    return f"exog_{series_code}_mw"


def price_lag_column(hours: int) -> str:
    """Design-matrix column of the price ``hours`` earlier (see the module docstring for the DST rule)."""
    return f"{PRICE_FEATURE_PREFIX}lag_{hours}h"


def previous_day_column(stat: str) -> str:
    """Design-matrix column of a statistic of the previous local day's prices."""
    return f"{PRICE_FEATURE_PREFIX}prev_day_{stat}"


def calendar_columns(daily_fourier_order: int = DAILY_FOURIER_ORDER) -> list[str]:
    """Names of the local-calendar regressors, in design-matrix order."""
    tod = [f"tod_{fn}{k}" for k in range(1, daily_fourier_order + 1) for fn in ("sin", "cos")]
    return [
        *tod,
        *(f"dow_{_WEEKDAY_NAMES[i]}" for i in _WEEKDAY_DUMMIES),
        "is_holiday",
        *(f"offday_{c}" for c in tod),
    ]


def feature_columns(market: Market, daily_fourier_order: int = DAILY_FOURIER_ORDER) -> list[str]:
    """All regressor columns of the design matrix for ``market``, in order."""
    return [
        *(exogenous_column(s.series_code) for s in market.exogenous),
        *(price_lag_column(h) for h in PRICE_LAGS_HOURS),
        *(previous_day_column(s) for s in PREVIOUS_DAY_STATS),
        *calendar_columns(daily_fourier_order),
    ]


def build_design_matrix(
    prices: pd.DataFrame,
    exogenous: pd.DataFrame,
    market: Market,
    target_day_start_utc: datetime | pd.Timestamp,
    target_day_end_utc: datetime | pd.Timestamp,
    *,
    daily_fourier_order: int = DAILY_FOURIER_ORDER,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and prediction frames in Prophet's shape for one delivery day D.

    Args:
        prices: History up to the cut-off: ``delivery_start_utc`` (tz-aware), ``price_per_mwh`` (market
            currency per MWh), ``resolution_minutes`` (one value for the whole frame). Every row must be
            before ``target_day_start_utc``.
        exogenous: Long format: ``series_code``, ``delivery_start_utc`` (tz-aware), ``quantity_mw``; history and
            all of D at the prices' resolution. Series other than the market's two are ignored.
        market: Gives the local time zone, the exogenous series codes and the holiday country.
        target_day_start_utc: Start of the local delivery day D, UTC (tz-aware).
        target_day_end_utc: End (exclusive) of D, UTC (tz-aware); 23, 24 or 25 h after the start.
        daily_fourier_order: Fourier order of the local time-of-day regressors.

    Returns:
        ``(train_df, future_df)``. ``train_df`` has ``ds`` (UTC-naive MTU start), ``y`` (price per MWh) and
        the regressors of :func:`feature_columns`, one row per history MTU that has all of them (rows missing
        any are dropped). ``future_df`` has ``ds`` and the same regressors, one row per MTU of D.

    Raises:
        ValueError: On missing columns, naive timestamps, duplicate MTUs, mixed resolutions, prices at or
            after D's start (look-ahead), exogenous forecasts missing or incomplete for D (naming the series
            and MTUs), price history too short for D's lags, or no complete training row.
    """
    start = _utc_timestamp(target_day_start_utc, "target_day_start_utc").as_unit("ns")
    end = _utc_timestamp(target_day_end_utc, "target_day_end_utc").as_unit("ns")
    price_series, mtu = _price_series(prices)
    if end <= start or (end - start) % mtu != pd.Timedelta(0):
        raise ValueError(f"target day [{start}, {end}) is not a whole number of {mtu} MTUs")
    if len(price_series) and price_series.index.max() >= start:
        late = price_series.index[price_series.index >= start]
        raise ValueError(
            f"prices contain {len(late)} MTU(s) at or after the target day start {start.isoformat()} "
            f"(first {late[0].isoformat()}): they are not known at the cut-off and would leak into training"
        )

    target_index = pd.date_range(start, end, freq=mtu, inclusive="left", name="delivery_start_utc").as_unit("ns")
    exog_wide = _exogenous_wide(exogenous, market)
    _require_exogenous_for_target(exog_wide, market, target_index)

    rows = price_series.index.union(target_index)
    features = _features(rows, price_series, exog_wide, market, mtu, daily_fourier_order)
    columns = feature_columns(market, daily_fourier_order)
    features = features[columns]
    ds = rows.tz_localize(None)

    is_train = rows < start
    train_df = features[is_train].copy()
    train_df.insert(0, "y", price_series.reindex(rows[is_train]).to_numpy())
    train_df.insert(0, "ds", ds[is_train])
    train_df = train_df.dropna().reset_index(drop=True)
    if train_df.empty:
        raise ValueError(
            f"no training row has all features before {start.isoformat()}: the price history ({len(price_series)} "
            "MTUs) and exogenous history must overlap for at least 8 days"
        )
    # Second guard: nothing of D (or later) may ever be a training target.
    if (train_df["ds"] >= start.tz_localize(None)).any():
        raise ValueError(f"look-ahead: a training target is at or after the target day start {start.isoformat()}")

    future_df = features[~is_train].copy()
    future_df.insert(0, "ds", ds[~is_train])
    future_df = future_df.reset_index(drop=True)
    incomplete = [c for c in columns if future_df[c].isna().any()]
    if incomplete:
        bad = target_index[future_df[incomplete].isna().any(axis=1).to_numpy()]
        raise ValueError(
            f"the price history does not cover the lags of the target day: {', '.join(incomplete)} missing for "
            f"{_describe_mtus(bad)} (needs complete prices of the 7 days before D and D-1 in full)"
        )
    return train_df, future_df


def _utc_timestamp(value: datetime | pd.Timestamp, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"{name} must be tz-aware (UTC), got naive {value!r}")
    return ts.tz_convert("UTC")


def _utc_index(values: pd.Series, frame: str) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        raise ValueError(f"{frame}.delivery_start_utc must be tz-aware (UTC), got naive timestamps")
    return index.tz_convert("UTC").as_unit("ns")


def _require_columns(df: pd.DataFrame, frame: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{frame} frame lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}"
        )


def _price_series(prices: pd.DataFrame) -> tuple[pd.Series, pd.Timedelta]:
    """Prices as a float Series on a sorted UTC index, and the MTU length."""
    _require_columns(prices, "prices", ("delivery_start_utc", "price_per_mwh", "resolution_minutes"))
    if prices.empty:
        raise ValueError("prices frame is empty: the forecaster needs at least 8 days of history")
    resolutions = sorted(pd.unique(prices["resolution_minutes"].astype(int)))
    if len(resolutions) != 1:
        raise ValueError(f"prices mix resolutions {resolutions} minutes; resample to one MTU before forecasting")
    index = _utc_index(prices["delivery_start_utc"], "prices")
    if index.has_duplicates:
        raise ValueError(f"prices have duplicate MTUs: {_describe_mtus(index[index.duplicated()])}")
    values = pd.to_numeric(prices["price_per_mwh"], errors="raise").astype(float).to_numpy()
    if np.isnan(values).any():
        raise ValueError(f"prices have null price_per_mwh at {_describe_mtus(index[np.isnan(values)])}")
    series = pd.Series(values, index=index, name="price_per_mwh").sort_index()
    return series, pd.Timedelta(minutes=resolutions[0])


def _exogenous_wide(exogenous: pd.DataFrame, market: Market) -> pd.DataFrame:
    """One column per market exogenous series (``exog_<code>_mw``) on a UTC index."""
    _require_columns(exogenous, "exogenous", ("series_code", "delivery_start_utc", "quantity_mw"))
    codes = [s.series_code for s in market.exogenous]
    df = exogenous[exogenous["series_code"].isin(codes)]
    index = _utc_index(df["delivery_start_utc"], "exogenous")
    long = pd.DataFrame(
        {"series_code": df["series_code"].to_numpy(), "ts": index, "quantity_mw": df["quantity_mw"].astype(float)}
    )
    dup = long.duplicated(["series_code", "ts"])
    if dup.any():
        raise ValueError(
            f"exogenous frame has duplicate (series_code, MTU) rows, e.g. {long.loc[dup, 'series_code'].iloc[0]} "
            f"at {long.loc[dup, 'ts'].iloc[0].isoformat()}"
        )
    wide = long.pivot(index="ts", columns="series_code", values="quantity_mw")
    wide = wide.reindex(columns=codes)
    wide.columns = [exogenous_column(c) for c in codes]
    return wide


def _require_exogenous_for_target(exog_wide: pd.DataFrame, market: Market, target_index: pd.DatetimeIndex) -> None:
    """Raise if either exogenous forecast lacks a value for any MTU of D; never fill them."""
    on_target = exog_wide.reindex(target_index)
    problems = []
    for series in market.exogenous:
        missing = target_index[on_target[exogenous_column(series.series_code)].isna().to_numpy()]
        if len(missing):
            problems.append(
                f"{series.series_code}: {len(missing)} of {len(target_index)} MTUs ({_describe_mtus(missing)})"
            )
    if problems:
        raise ValueError(
            f"exogenous forecasts for the target day {target_index[0].isoformat()} of market {market.code} are "
            f"missing or incomplete; {'; '.join(problems)}"
        )


def _features(
    rows: pd.DatetimeIndex,
    price_series: pd.Series,
    exog_wide: pd.DataFrame,
    market: Market,
    mtu: pd.Timedelta,
    daily_fourier_order: int,
) -> pd.DataFrame:
    """All regressors for every row (history and D), NaN where a value is unknown."""
    local = rows.tz_convert(market.tz).tz_localize(None)
    local_date = local.normalize()
    day_start, day_length = _local_day_bounds(local_date, market)

    out = pd.DataFrame(index=rows)
    out[exog_wide.columns] = exog_wide.reindex(rows).to_numpy()

    for hours in PRICE_LAGS_HOURS:
        source = rows - pd.Timedelta(hours=hours)
        # On a 25-hour day the lag can land inside the row's own day: move it back by the extra hour.
        inside = source >= day_start
        source = source.where(~inside, source - (day_length - _DAY))
        if (source >= day_start).any():
            raise ValueError(f"lag {hours} h reaches into its own delivery day; days longer than 25 h are unsupported")
        out[price_lag_column(hours)] = price_series.reindex(source).to_numpy()

    for stat, values in _previous_day_stats(price_series, market, mtu, local_date).items():
        out[previous_day_column(stat)] = values

    for name, values in _calendar(local, local_date, market, daily_fourier_order).items():
        out[name] = values
    return out


def _local_day_bounds(local_date: pd.DatetimeIndex, market: Market) -> tuple[pd.DatetimeIndex, pd.TimedeltaIndex]:
    """UTC start and length of the local delivery day of every row."""
    unique_dates = local_date.unique()
    bounds = {d: market.delivery_day_bounds_utc(d.date()) for d in unique_dates}
    starts = pd.DatetimeIndex([b[0] for b in bounds.values()]).tz_convert("UTC").as_unit("ns")
    ends = pd.DatetimeIndex([b[1] for b in bounds.values()]).tz_convert("UTC").as_unit("ns")
    position = pd.Index(list(bounds)).get_indexer(local_date)
    day_start = starts[position]
    day_length = (ends - starts)[position]
    return day_start, day_length


def _previous_day_stats(
    price_series: pd.Series, market: Market, mtu: pd.Timedelta, local_date: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """Mean/max/min of the previous local day's prices for every row; NaN where that day is incomplete."""
    price_local_date = price_series.index.tz_convert(market.tz).tz_localize(None).normalize()
    daily = price_series.groupby(price_local_date).agg(["mean", "max", "min", "count"])
    expected = np.array([market.mtus_in_day(d.date(), int(mtu.total_seconds() // 60)) for d in daily.index])
    daily.loc[daily["count"].to_numpy() != expected, list(PREVIOUS_DAY_STATS)] = np.nan
    previous = daily.reindex(local_date - pd.Timedelta(days=1))
    return {stat: previous[stat].to_numpy() for stat in PREVIOUS_DAY_STATS}


def _calendar(
    local: pd.DatetimeIndex, local_date: pd.DatetimeIndex, market: Market, daily_fourier_order: int
) -> dict[str, np.ndarray]:
    """Local-clock regressors: time-of-day Fourier terms, weekday dummies, holidays, non-working-day profile."""
    hour = (local - local_date) / _HOUR  # fractional local hour; the repeated autumn hour maps twice, on purpose
    tod: dict[str, np.ndarray] = {}
    for k in range(1, daily_fourier_order + 1):
        angle = 2.0 * np.pi * k * np.asarray(hour, dtype=float) / 24.0
        tod[f"tod_sin{k}"] = np.sin(angle)
        tod[f"tod_cos{k}"] = np.cos(angle)

    weekday = np.asarray(local.weekday)
    dow = {f"dow_{_WEEKDAY_NAMES[i]}": (weekday == i).astype(float) for i in _WEEKDAY_DUMMIES}
    is_holiday = holiday_flags(local_date, market)
    off_day = np.maximum(is_holiday, (weekday >= 5).astype(float))
    offday_tod = {f"offday_{name}": values * off_day for name, values in tod.items()}
    return {**tod, **dow, "is_holiday": is_holiday, **offday_tod}


def holiday_flags(local_date: pd.DatetimeIndex, market: Market) -> np.ndarray:
    try:
        country = HOLIDAY_COUNTRY[market.code]
    except KeyError:
        raise ValueError(f"no holiday country configured for market {market.code}; add it to HOLIDAY_COUNTRY") from None
    years = range(int(local_date.year.min()), int(local_date.year.max()) + 1)
    days = pd.DatetimeIndex(sorted(holidays.country_holidays(country, years=years))).as_unit("ns")
    return np.asarray(local_date.isin(days), dtype=float)


def _describe_mtus(index: pd.DatetimeIndex) -> str:
    """A short list of MTU starts for error messages: the first few, then a count."""
    shown = ", ".join(ts.isoformat() for ts in index[:_MAX_LISTED_MTUS])
    more = len(index) - _MAX_LISTED_MTUS
    return shown + (f" and {more} more" if more > 0 else "")


def align_exogenous_to_resolution(exogenous: pd.DataFrame, resolution_minutes: int) -> pd.DataFrame:
    """Repeat coarser exogenous forecasts on a finer MTU grid (e.g. hourly load forecast onto quarter-hours).

    An hourly forecast of mean power applies to each quarter-hour of that hour, so values are repeated,
    never interpolated. Series already at ``resolution_minutes`` pass unchanged; finer series raise
    ``ValueError`` (aggregating them is a modelling choice the caller must make).
    """
    if exogenous.empty:
        return exogenous
    parts = []
    for (series, res), frame in exogenous.groupby(["series_code", "resolution_minutes"], sort=False):
        res = int(res)
        if res == resolution_minutes:
            parts.append(frame)
            continue
        if res < resolution_minutes or res % resolution_minutes:
            raise ValueError(
                f"exogenous series {series!r} is at {res} min, which cannot be repeated onto {resolution_minutes} min"
            )
        steps = res // resolution_minutes
        offsets = pd.to_timedelta(np.arange(steps) * resolution_minutes, unit="min")
        repeated = frame.loc[frame.index.repeat(steps)].copy()
        starts = pd.DatetimeIndex(pd.to_datetime(repeated["delivery_start_utc"], utc=True))
        repeated["delivery_start_utc"] = starts + pd.TimedeltaIndex(np.tile(offsets, len(frame)))
        repeated["resolution_minutes"] = resolution_minutes
        parts.append(repeated)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------------------------------
# the dataset's 24-hour grid (per-hour models: LEAR and the per-hour Prophet)
# --------------------------------------------------------------------------------------------------------------------

GRID_HOURS = 24


def daily_grid(prices: pd.DataFrame, exogenous: pd.DataFrame, market: Market) -> pd.DataFrame:
    """Prices and the two exogenous forecasts on the dataset's 24-hour grid, one row per local hour.

    Args:
        prices: ``delivery_start_utc`` (tz-aware) and ``price_per_mwh``; any MTU length (sub-hourly is averaged).
        exogenous: Long format ``series_code``, ``delivery_start_utc``, ``quantity_mw``; other series ignored.
        market: Gives the time zone and the two exogenous series codes.

    Returns:
        Index ``timestamp_local`` (naive local, 24 per day), columns ``price_per_mwh``, ``exog_1``, ``exog_2``
        (NaN where a day lacks a series, e.g. prices of D).

    Raises:
        griddesk.datasets.DatasetError: A day has a hole other than the spring-forward hour.
    """
    price_grid = to_dataset_grid(prices[["delivery_start_utc", "price_per_mwh"]], market.code, ["price_per_mwh"])
    frames = [price_grid.set_index("timestamp_local")[["price_per_mwh"]]]
    for series in market.exogenous:
        one = exogenous.loc[exogenous["series_code"] == series.series_code, ["delivery_start_utc", "quantity_mw"]]
        column = f"exog_{series.dataset_column}"
        grid = to_dataset_grid(one.rename(columns={"quantity_mw": column}), market.code, [column])
        frames.append(grid.set_index("timestamp_local")[[column]])
    out = pd.concat(frames, axis=1).sort_index()
    return out[["price_per_mwh", "exog_1", "exog_2"]]


@dataclass(frozen=True)
class DayMatrices:
    """The grid as ``days x 24`` arrays per column, starting at ``first_day`` (naive local midnight)."""

    first_day: pd.Timestamp
    values: dict[str, np.ndarray]

    @classmethod
    def of(cls, grid: pd.DataFrame) -> DayMatrices:
        index = pd.DatetimeIndex(grid.index)
        day_of_row = index.normalize()
        first = day_of_row[0]
        # The grid is complete 24-hour days: position = 24 * (day offset) + hour.
        pos = ((day_of_row - first) // pd.Timedelta(days=1)).to_numpy() * GRID_HOURS + index.hour.to_numpy()
        n_days = int(pos.max() // GRID_HOURS) + 1
        values = {}
        for column in grid.columns:
            full = np.full(n_days * GRID_HOURS, np.nan)
            full[pos] = grid[column].to_numpy(dtype=float)
            values[column] = full.reshape(n_days, GRID_HOURS)
        return cls(first, values)

    def rows(self, column: str, days: pd.DatetimeIndex, lag_days: int = 0) -> np.ndarray:
        """``len(days) x 24`` values of ``column`` on ``days - lag_days``; NaN outside the grid."""
        matrix = self.values[column]
        offsets = ((days - self.first_day) // pd.Timedelta(days=1)).to_numpy() - lag_days
        out = np.full((len(days), GRID_HOURS), np.nan)
        ok = (offsets >= 0) & (offsets < matrix.shape[0])
        out[ok] = matrix[offsets[ok]]
        return out


def grid_to_mtus(values_24h: np.ndarray, market: Market, delivery_date: date, mtu_minutes: int = 60) -> pd.DataFrame:
    """Spread a 24-hour grid day onto the real MTUs of ``delivery_date``.

    Each MTU takes the value of its local wall-clock hour: the spring day skips the non-existent hour, the two
    occurrences of the autumn hour both take the grid's value (the inverse of the dataset's DST smoothing).

    Returns:
        ``delivery_start_utc`` (tz-aware UTC) and ``forecast_price_per_mwh``, one row per MTU (23/24/25 hourly).
    """
    start, end = market.delivery_day_bounds_utc(delivery_date)
    starts = pd.date_range(start, end, freq=f"{mtu_minutes}min", inclusive="left").as_unit("ns")
    hours = starts.tz_convert(market.tz).hour.to_numpy()
    return pd.DataFrame({"delivery_start_utc": starts, "forecast_price_per_mwh": np.asarray(values_24h)[hours]})
