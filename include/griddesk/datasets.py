"""The epftoolbox benchmark datasets, on real local time with real DST days, and a synthetic stand-in.

The epftoolbox CSVs (Lago et al. 2021) are a naive local-time grid of exactly 24 hours per day: the authors
interpolated the missing spring-forward hour and averaged the two autumn hours. GridDesk works on the real clock,
so :func:`load_epftoolbox` converts the grid to real local time in the market's time zone:

- spring-forward day: 23 hours (the grid's non-existent local hour, which was interpolated, is dropped);
- autumn day: 25 hours (the grid's single, averaged value is used for both occurrences of the repeated hour,
  and both rows are flagged ``is_imputed=True``).

:func:`to_dataset_grid` maps a real-DST series back onto the 24-hour grid for scoring against the published
benchmark; :func:`from_dataset_grid` is the conversion both directions share. When no data folder exists,
:func:`load_market_data` falls back to :func:`synthetic_epftoolbox`, a deterministic generator in the same format.

Output frame of the loaders (one row per delivery hour, sorted by time):

=====================  ==========================================================
delivery_start_utc     tz-aware UTC timestamp, hour-beginning
delivery_date_local    ``datetime.date`` of the delivery day in the market's time zone
price_per_mwh          day-ahead price in the market's currency (USD for PJM, else EUR)
exog_1, exog_2         the dataset's two day-ahead exogenous forecasts (MW), see ``markets.ExogenousSeries``
is_imputed             True where the value is not the market's own value for that hour (autumn repeated hour)
=====================  ==========================================================

``df.attrs`` carries ``market_code`` and ``source`` (the CSV path, or ``"synthetic:..."``).
"""

from __future__ import annotations

import logging
import zlib
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from griddesk.markets import get_market
from griddesk.settings import Settings, get_settings

log = logging.getLogger(__name__)

VALUE_COLUMNS: tuple[str, ...] = ("price_per_mwh", "exog_1", "exog_2")
OUTPUT_COLUMNS: tuple[str, ...] = ("delivery_start_utc", "delivery_date_local", *VALUE_COLUMNS, "is_imputed")
#: Column of the naive local-time 24-hour grid used by :func:`to_dataset_grid` / :func:`from_dataset_grid`.
GRID_TIME_COLUMN = "timestamp_local"

#: Synthetic default range: 6 "years" of 364 days ending 2016-12-31, like the FR and BE datasets.
SYNTHETIC_DAYS = 6 * 364
SYNTHETIC_END = date(2016, 12, 31)
SYNTHETIC_START = SYNTHETIC_END - timedelta(days=SYNTHETIC_DAYS - 1)

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_HOUR = pd.Timedelta(hours=1)


class DatasetError(ValueError):
    """An epftoolbox CSV (or a grid frame) is malformed; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------------------------------
# grid <-> real DST
# --------------------------------------------------------------------------------------------------------------------


def from_dataset_grid(grid: pd.DataFrame, market_code: str) -> pd.DataFrame:
    """Convert a naive local-time 24-hour grid to real local time with 23/25-hour DST days.

    Args:
        grid: Columns ``timestamp_local`` (naive local, hour-beginning, exactly 24 per day) and the value
            columns ``price_per_mwh``, ``exog_1``, ``exog_2``.
        market_code: Market whose time zone the grid is in (``griddesk.markets``).

    Returns:
        The loader frame (see module docstring), sorted by ``delivery_start_utc``. The non-existent spring hour is
        dropped; the repeated autumn hour appears twice with the grid's value and ``is_imputed=True``.

    Raises:
        KeyError: Unknown market.
    """
    market = get_market(market_code)
    naive = grid[GRID_TIME_COLUMN]
    n = len(naive)
    # ambiguous=True means "the DST (first) occurrence"; both calls agree except on the repeated autumn hour.
    first = naive.dt.tz_localize(market.timezone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
    second = naive.dt.tz_localize(market.timezone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT")
    exists = first.notna().to_numpy()
    repeated = exists & (first != second).to_numpy()

    values = grid.loc[:, list(VALUE_COLUMNS)].to_numpy(dtype=float)
    starts = pd.concat([first[exists], second[repeated]], ignore_index=True)
    out = pd.DataFrame(
        {
            "delivery_start_utc": starts.dt.tz_convert("UTC"),
            "delivery_date_local": pd.concat([naive[exists], naive[repeated]], ignore_index=True).dt.date,
        }
    )
    stacked = np.concatenate([values[exists], values[repeated]])
    for i, column in enumerate(VALUE_COLUMNS):
        out[column] = stacked[:, i]
    out["is_imputed"] = np.concatenate([repeated[exists], np.ones(int(repeated.sum()), dtype=bool)])
    out = out.sort_values("delivery_start_utc", kind="stable", ignore_index=True)
    out.attrs.update(grid.attrs)
    out.attrs["market_code"] = market.code
    return out


def to_dataset_grid(df: pd.DataFrame, market_code: str, value_columns: list[str] | None = None) -> pd.DataFrame:
    """Map a real-DST series onto the epftoolbox 24-hour grid (the benchmark's scoring grid).

    The two occurrences of the autumn repeated hour are averaged; the missing spring-forward hour is
    interpolated as the mean of its two neighbours, exactly as the dataset authors did. Sub-hourly rows are
    averaged to the hour.

    Args:
        df: Frame with ``delivery_start_utc`` (tz-aware) and numeric value columns.
        market_code: Market whose local time defines the grid.
        value_columns: Columns to map; default every numeric column except booleans.

    Returns:
        Columns ``timestamp_local`` (naive local, hour-beginning), ``delivery_date_local`` and the value columns,
        24 rows per local day present in ``df``.

    Raises:
        DatasetError: An hour other than the spring-forward hour is missing from a day present in ``df``.
        KeyError: Unknown market.
    """
    market = get_market(market_code)
    if value_columns is None:
        value_columns = [
            c
            for c in df.columns
            if c != "delivery_start_utc"
            and pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c])
        ]
    local = df["delivery_start_utc"].dt.tz_convert(market.timezone).dt.tz_localize(None).dt.floor("h")
    hourly = df[value_columns].groupby(local.to_numpy()).mean()

    days = np.unique(local.dt.normalize().to_numpy())
    full = pd.DatetimeIndex((days[:, None] + np.arange(24) * np.timedelta64(1, "h")).ravel())
    grid = hourly.reindex(full)
    missing = full.difference(hourly.index)
    if len(missing):
        # Only the non-existent spring hour may be absent: it has no real-time counterpart.
        not_spring = missing[
            missing.tz_localize(market.timezone, nonexistent="NaT", ambiguous=np.ones(len(missing), dtype=bool)).notna()
        ]
        if len(not_spring):
            shown = ", ".join(str(t) for t in not_spring[:5])
            raise DatasetError(f"{market.code}: {len(not_spring)} local hours missing from the series, e.g. {shown}")
        neighbours = (grid.shift(1) + grid.shift(-1)) / 2
        grid.loc[missing] = neighbours.loc[missing]
    grid.index.name = GRID_TIME_COLUMN
    grid = grid.reset_index()
    grid.insert(1, "delivery_date_local", grid[GRID_TIME_COLUMN].dt.date)
    return grid


# --------------------------------------------------------------------------------------------------------------------
# CSV loader
# --------------------------------------------------------------------------------------------------------------------


def read_grid_csv(path: Path) -> pd.DataFrame:
    """Read and validate one epftoolbox CSV into a 24-hour grid frame (naive local time)."""
    try:
        raw = pd.read_csv(path, header=0, skipinitialspace=True, dtype={0: str})
    except pd.errors.ParserError as exc:
        raise DatasetError(
            f"{path}: wrong number of columns ({exc}); expected 4: timestamp, price, exog1, exog2"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: file is empty") from exc
    if raw.shape[1] != 4:
        raise DatasetError(
            f"{path}: header has {raw.shape[1]} columns {list(raw.columns)}; expected 4: timestamp, price, exog1, exog2"
        )
    if raw.empty:
        raise DatasetError(f"{path}: no data rows")

    stamps = pd.to_datetime(raw.iloc[:, 0], format=_TIMESTAMP_FORMAT, errors="coerce")
    bad = stamps.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{path}: line {i + 2}: timestamp {raw.iloc[i, 0]!r} is not 'YYYY-MM-DD HH:MM:SS'")

    grid = pd.DataFrame({GRID_TIME_COLUMN: stamps})
    for position, column in enumerate(VALUE_COLUMNS, start=1):
        cells = raw.iloc[:, position]
        # Fast path: pandas parsed the column as numbers; otherwise find the first offending cell.
        numbers = cells if pd.api.types.is_numeric_dtype(cells) else pd.to_numeric(cells, errors="coerce")
        values = numbers.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            shown = "an empty cell" if pd.isna(cells.iloc[i]) else f"value {cells.iloc[i]!r}"
            raise DatasetError(
                f"{path}: line {i + 2} (header is line 1): column {position + 1} ({raw.columns[position]!r}) "
                f"has {shown}, not a finite number"
            )
        grid[column] = values

    steps = stamps.diff().iloc[1:].to_numpy()
    off_grid = steps != np.timedelta64(1, "h")
    if off_grid.any():
        i = int(np.argmax(off_grid)) + 1
        raise DatasetError(
            f"{path}: line {i + 2}: gap or disorder in the hourly grid: {stamps.iloc[i - 1]} is followed by "
            f"{stamps.iloc[i]} (expected one row per hour, 24 per day)"
        )
    if stamps.iloc[0].hour != 0 or stamps.iloc[-1].hour != 23:
        raise DatasetError(
            f"{path}: the grid must cover whole days (00:00 to 23:00); it runs {stamps.iloc[0]} to {stamps.iloc[-1]}"
        )
    return grid


@lru_cache(maxsize=16)
def _load_epftoolbox_cached(path: str, mtime_ns: int, size: int, market_code: str) -> pd.DataFrame:
    """Parse once per (file, modification time, size): loading sits on the simulator's hot path."""
    del mtime_ns, size  # part of the cache key only
    grid = read_grid_csv(Path(path))
    grid.attrs["source"] = path
    return from_dataset_grid(grid, market_code)


def load_epftoolbox(market_code: str, data_dir: Path | None = None) -> pd.DataFrame:
    """Load ``<data_dir>/<CODE>.csv`` and convert it to real local time (23/25-hour DST days).

    Columns are read by position (timestamp, price, exog1, exog2): the header cells differ per file and carry
    leading spaces.

    Args:
        market_code: ``NP``, ``PJM``, ``BE``, ``FR`` or ``DE``.
        data_dir: Folder of epftoolbox CSVs; default ``Settings.resolved_data_dir``.

    Returns:
        The loader frame (module docstring). A fresh copy; the parsed file is cached per process.

    Raises:
        FileNotFoundError: No data folder, or no ``<CODE>.csv`` in it.
        DatasetError: Wrong column count, non-numeric or missing value, bad timestamp, gap in the hourly grid.
        KeyError: Unknown market.
    """
    market = get_market(market_code)
    if data_dir is None:
        data_dir = get_settings().resolved_data_dir
        if data_dir is None:
            raise FileNotFoundError(
                "no epftoolbox data folder: set GRIDDESK_DATA_DIR or provide ../shared/data/epftoolbox_datasets"
            )
    path = Path(data_dir) / f"{market.code}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"epftoolbox dataset for market {market.code} not found: {path}")
    stat = path.stat()
    return _load_epftoolbox_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, market.code).copy()


# --------------------------------------------------------------------------------------------------------------------
# synthetic fallback
# --------------------------------------------------------------------------------------------------------------------

# (price mean per MWh, exog_1 mean MW, exog_1 is renewable, exog_2 mean MW, exog_2 is renewable)
_SYNTHETIC_PROFILES: dict[str, tuple[float, float, bool, float, bool]] = {
    "FR": (40.0, 60_000.0, False, 55_000.0, False),
    "BE": (43.0, 60_000.0, False, 55_000.0, False),
    "DE": (32.0, 14_000.0, False, 12_000.0, True),
    "NP": (30.0, 45_000.0, False, 2_500.0, True),
    "PJM": (30.0, 90_000.0, False, 11_000.0, False),
}


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by stable hashes of ``keys`` (Python's ``hash`` is salted per process)."""
    return np.random.default_rng([zlib.crc32(repr(k).encode()) for k in keys])


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """A stationary AR(1) path with unit-free standard deviation ``sigma``."""
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), n)
    shocks[0] = rng.normal(0.0, sigma)
    out = shocks.tolist()  # a plain loop over floats: scipy.signal.lfilter would cost seconds of import
    for i in range(1, n):
        out[i] += phi * out[i - 1]
    return np.asarray(out)


def _synthetic_grid(market_code: str, start: date, days: int, seed: int) -> pd.DataFrame:
    """The synthetic series on the naive 24-hour grid, with the spring hour interpolated like the dataset."""
    market = get_market(market_code)
    price_mean, mean_1, renewable_1, mean_2, renewable_2 = _SYNTHETIC_PROFILES[market.code]
    n = days * 24
    stamps = pd.date_range(pd.Timestamp(start), periods=n, freq="h")
    hour = stamps.hour.to_numpy()
    weekday = stamps.dayofweek.to_numpy()
    day_of_year = stamps.dayofyear.to_numpy()

    # Load: daily double peak, weekend dip, winter high (summer too for PJM), weather-like persistence.
    daily = 0.10 * np.sin((hour - 6) / 24 * 2 * np.pi) + 0.06 * np.exp(-(((hour - 19) / 2.0) ** 2)) - 0.04
    weekly = np.where(weekday >= 5, -0.08, 0.0)
    winter = np.cos((day_of_year - 15) / 365.25 * 2 * np.pi)
    seasonal = 0.08 * winter + (0.10 * np.cos((day_of_year - 200) / 365.25 * 4 * np.pi) if market.code == "PJM" else 0)
    # Exogenous series are seeded by their publication key so markets sharing them (FR, BE) get identical columns.
    exog_key = tuple((s.document_type, s.domain_eic) for s in market.exogenous)
    exog_rng = _rng("exog", exog_key, start, days, seed)
    load_shape = 1 + daily + weekly + seasonal + _ar1(exog_rng, n, 0.995, 0.04) + exog_rng.normal(0, 0.01, n)
    weather = np.exp(_ar1(exog_rng, n, 0.98, 0.6) - 0.18)  # lognormal, mean about 1
    solar = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * (1 - 0.5 * winter)

    def exog(mean: float, renewable: bool) -> np.ndarray:
        if renewable:
            return np.round(mean * (0.7 * weather + 0.6 * solar), 1)
        return np.round(mean * (load_shape + exog_rng.normal(0, 0.005, n)), 0)

    exog_1, exog_2 = exog(mean_1, renewable_1), exog(mean_2, renewable_2)
    load_z = load_shape - 1
    renewable_z = (weather - 1) if (renewable_1 or renewable_2) else 0.0

    price_rng = _rng("price", market.code, start, days, seed)
    price = price_mean * (1 + 1.8 * load_z - 0.25 * renewable_z + _ar1(price_rng, n, 0.9, 0.10))
    spikes = price_rng.random(n) < 0.002
    price[spikes] += price_mean * price_rng.uniform(1.5, 6.0, int(spikes.sum()))
    dips = (price_rng.random(n) < 0.001) & (hour < 6)
    price[dips] = -price_rng.uniform(0, 60, int(dips.sum()))
    price = np.round(np.clip(price, -500, 3000), 2)

    grid = pd.DataFrame({GRID_TIME_COLUMN: stamps, "price_per_mwh": price, "exog_1": exog_1, "exog_2": exog_2})
    # The dataset's spring hour is the mean of its neighbours; make the synthetic grid obey the same rule.
    localized = stamps.tz_localize(market.timezone, nonexistent="NaT", ambiguous=np.ones(n, dtype=bool))
    spring = np.flatnonzero(localized.isna())
    spring = spring[(spring > 0) & (spring < n - 1)]
    for column in VALUE_COLUMNS:
        values = grid[column].to_numpy(copy=True)
        values[spring] = (values[spring - 1] + values[spring + 1]) / 2
        grid[column] = values
    return grid


@lru_cache(maxsize=16)
def _synthetic_cached(market_code: str, start: date, days: int, seed: int) -> pd.DataFrame:
    grid = _synthetic_grid(market_code, start, days, seed)
    grid.attrs["source"] = f"synthetic:{market_code}:{start.isoformat()}+{days}d:seed={seed}"
    grid.attrs["synthetic"] = True
    return from_dataset_grid(grid, market_code)


def synthetic_epftoolbox(
    market_code: str, start: date | None = None, days: int = SYNTHETIC_DAYS, seed: int = 0
) -> pd.DataFrame:
    """A deterministic synthetic dataset in the loader format, for running without the real CSVs.

    It has a daily and weekly shape, a load-correlated price, persistent noise and occasional spikes and
    negative night prices. Markets that share exogenous series (FR and BE) get identical exogenous columns.
    ``df.attrs["synthetic"]`` is True and ``df.attrs["source"]`` starts with ``"synthetic:"``.

    Args:
        market_code: Market code (its time zone gives the DST days).
        start: First local delivery day; default so that ``days`` end on 2016-12-31.
        days: Number of local delivery days (default 6 x 364, like the FR and BE datasets).
        seed: Seed; the same arguments always give the same frame.

    Raises:
        KeyError: Unknown market.
        ValueError: ``days`` < 1.
    """
    market = get_market(market_code)
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if start is None:
        start = SYNTHETIC_END - timedelta(days=days - 1)
    return _synthetic_cached(market.code, start, days, seed).copy()


def load_market_data(market_code: str, settings: Settings | None = None) -> pd.DataFrame:
    """The market's dataset: GRIDDESK_DATA_DIR, else ../shared/data/epftoolbox_datasets, else synthetic.

    Logs a WARNING starting ``SYNTHETIC DATA:`` when it falls back to the synthetic generator.

    Raises:
        FileNotFoundError: GRIDDESK_DATA_DIR is not a folder, or the chosen folder lacks ``<CODE>.csv``.
        DatasetError: The CSV is malformed.
    """
    settings = settings or get_settings()
    data_dir = settings.resolved_data_dir
    if data_dir is None:
        log.warning(
            "SYNTHETIC DATA: no epftoolbox folder (GRIDDESK_DATA_DIR unset, ../shared absent); market %s is served "
            "from the deterministic synthetic generator. Figures are NOT comparable with the benchmark.",
            market_code,
        )
        return synthetic_epftoolbox(market_code)
    return load_epftoolbox(market_code, data_dir)


def is_synthetic(df: pd.DataFrame) -> bool:
    """True when ``df`` came from :func:`synthetic_epftoolbox`."""
    return bool(df.attrs.get("synthetic", False))
