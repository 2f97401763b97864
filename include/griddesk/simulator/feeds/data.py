"""The real data behind the feed simulator, and documented synthetic stand-ins when ``../shared/data`` is absent.

- Meters: ``cambridge_estates_buildings_hourly_2016_2019``: 20 buildings, hourly kWh, UTC, zeros = missing.
- Weather, Bedford station: the raw MIDAS subset (temperature; wind in knots, served in the unit asked for) with
  its real gaps, and the authors' processed global irradiance (hour-ending, gap-filled by them).
- Weather, countries: ERA-NUTS ERA5 country averages (t2m, ssrd, ws10, ws100), 2015-2018.

Every table is an hourly frame on a complete UTC ``DatetimeIndex`` (missing hours are NaN), loaded lazily on
first use and cached. Synthetic stand-ins (used only when the folder is missing) are deterministic sinusoids with
noise, marked ``attrs["source"] = "synthetic:..."``; see docs/feeds.md.
"""

from __future__ import annotations

import logging
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from griddesk.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

BUILDINGS_DIR = "cambridge_estates_buildings_hourly_2016_2019"
ERA5_DIR = "era_nuts_era5_country_hourly_2015_2018"
KNOT_M_S = 0.514444
SYNTHETIC_METERS = (
    "b0",
    "b1",
    "b2",
    "b6",
    "b7",
    "b9",
    "b13",
    "b14",
    "b21",
    "b22",
    "b24",
    "b31",
    "b33",
    "b36",
    "b40",
    "b58",
    "b59",
    "b97",
    "b105",
    "b111",
)


def shared_data_root(settings: Settings) -> Path | None:
    """``Settings.feeds_data_dir``, else ``../shared/data`` when it exists, else None (synthetic)."""
    if settings.feeds_data_dir is not None:
        if not settings.feeds_data_dir.is_dir():
            raise FileNotFoundError(f"GRIDDESK_FEEDS_DATA_DIR={settings.feeds_data_dir} is not a directory")
        return settings.feeds_data_dir
    shared = PROJECT_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, keys)).encode()))


def _hourly_index(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="h", tz="UTC")


# ------------------------------------------------------------------------------------------------------------
# meters
# ------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_buildings(root: Path | None) -> pd.DataFrame:
    """Hourly kWh per meter (columns ``b0`` ... ``b111``), UTC index, values verbatim (zeros kept)."""
    path = root / BUILDINGS_DIR / "electricity_kwh_hourly_utc_2016_2019_wide.csv" if root else None
    if path is None or not path.is_file():
        return synthetic_buildings()
    df = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp_utc"), format="%Y-%m-%d %H:%M:%S")).tz_localize("UTC")
    df.index = index
    df.columns = [c.removeprefix("UCam_Building_") for c in df.columns]
    df = df.reindex(_hourly_index(str(index[0]), str(index[-1])))
    df.attrs["source"] = str(path)
    return df


def synthetic_buildings() -> pd.DataFrame:
    """Deterministic stand-in: 20 meters, 2016-2019 hourly, office-like daily and weekly shape, a few zero runs."""
    index = _hourly_index("2016-01-01", "2019-12-31 23:00")
    hours = index.hour.to_numpy() + 0.0
    weekday = (index.dayofweek.to_numpy() < 5).astype(float)
    cols = {}
    for i, meter in enumerate(SYNTHETIC_METERS):
        rng = _rng("meter", meter)
        base = 5.0 + 50.0 * (i + 1) ** 1.2
        day_shape = 0.55 + 0.45 * np.exp(-(((hours - 13.0) / 4.0) ** 2)) * (0.6 + 0.4 * weekday)
        values = base * day_shape * (1 + 0.05 * rng.standard_normal(len(index)))
        values = np.round(np.clip(values, 0.1, None), 1)
        for start in rng.integers(0, len(index) - 48, size=3):  # missing readings are zeros, as in the real data
            values[start : start + int(rng.integers(2, 30))] = 0.0
        cols[meter] = values
    df = pd.DataFrame(cols, index=index)
    df.attrs["source"] = "synthetic:meters"
    return df


# ------------------------------------------------------------------------------------------------------------
# weather
# ------------------------------------------------------------------------------------------------------------

WEATHER_COLUMNS = ("temperature_2m", "wind_speed_10m", "shortwave_radiation", "wind_speed_100m")


@lru_cache(maxsize=16)
def load_era5(root: Path | None, country: str) -> pd.DataFrame:
    """ERA5 country averages: temperature_2m (degC), wind_speed_10m / wind_speed_100m (m/s), shortwave_radiation
    (W/m2, mean of the preceding hour). Synthetic when the file is missing."""
    path = root / ERA5_DIR / f"era_nuts_{country}_nuts0_hourly_2015_2018.csv.gz" if root else None
    if path is None or not path.is_file():
        return synthetic_weather(f"era5:{country}", "2015-01-01", "2018-12-31 23:00")
    raw = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(raw["time_utc"], format="%Y-%m-%d %H:%M:%S")).tz_localize("UTC")
    df = pd.DataFrame(
        {
            "temperature_2m": raw["t2m"].to_numpy(float),
            "wind_speed_10m": raw["ws10"].to_numpy(float),
            "shortwave_radiation": raw["ssrd"].to_numpy(float),
            "wind_speed_100m": raw["ws100"].to_numpy(float),
        },
        index=index,
    ).reindex(_hourly_index(str(index[0]), str(index[-1])))
    df.attrs["source"] = str(path)
    return df


@lru_cache(maxsize=2)
def load_bedford(root: Path | None) -> pd.DataFrame:
    """Bedford: raw MIDAS temperature and wind (knots -> m/s here) with real gaps, processed irradiance."""
    folder = root / BUILDINGS_DIR if root else None
    raw_path = folder / "weather_bedford_midas_raw_subset_2016_2019.csv" if folder else None
    if raw_path is None or not raw_path.is_file():
        return synthetic_weather("midas:bedford", "2016-01-01", "2019-12-31 23:00")
    index = _hourly_index("2016-01-01", "2019-12-31 23:00")
    raw = pd.read_csv(raw_path, na_values=["NA"])
    raw.index = pd.DatetimeIndex(pd.to_datetime(raw["ob_time"], format="%Y-%m-%d %H:%M:%S")).tz_localize("UTC")
    raw = raw[~raw.index.duplicated()].reindex(index)
    processed = []
    for year in range(2016, 2020):
        p = pd.read_csv(folder / "weather_bedford_midas_processed" / f"{year}.csv")
        p.index = pd.DatetimeIndex(pd.to_datetime(p["datetime"], format="%Y-%m-%d %H:%M:%S")).tz_localize("UTC")
        processed.append(p["glbl_irad_amt [W/m2]"])
    irradiance = pd.concat(processed)
    df = pd.DataFrame(
        {
            "temperature_2m": raw["air_temperature"].to_numpy(float),
            "wind_speed_10m": raw["wind_speed"].to_numpy(float) * KNOT_M_S,
            "shortwave_radiation": irradiance[~irradiance.index.duplicated()].reindex(index).to_numpy(float),
            "wind_speed_100m": np.full(len(index), np.nan),
        },
        index=index,
    )
    df.attrs["source"] = str(raw_path)
    return df


def synthetic_weather(key: str, start: str, end: str) -> pd.DataFrame:
    """Deterministic stand-in: seasonal and diurnal temperature, clear-sky-like irradiance, AR(1) wind."""
    index = _hourly_index(start, end)
    rng = _rng("weather", key)
    doy = index.dayofyear.to_numpy()
    hour = index.hour.to_numpy()
    season = np.cos(2 * np.pi * (doy - 200) / 365.25)
    temperature = 10 + 8 * season + 4 * np.cos(2 * np.pi * (hour - 15) / 24) + rng.normal(0, 1.0, len(index))
    sun = np.clip(np.cos(2 * np.pi * (hour - 12) / 24), 0, None) ** 1.5
    radiation = (350 + 300 * season) * sun * rng.uniform(0.3, 1.0, len(index))
    wind = np.empty(len(index))
    wind[0] = 4.0
    shocks = rng.normal(0, 0.6, len(index))
    for i in range(1, len(index)):
        wind[i] = 4.0 + 0.95 * (wind[i - 1] - 4.0) + shocks[i]
    wind = np.clip(wind, 0.0, None)
    df = pd.DataFrame(
        {
            "temperature_2m": np.round(temperature, 2),
            "wind_speed_10m": np.round(wind, 2),
            "shortwave_radiation": np.round(radiation, 2),
            "wind_speed_100m": np.round(wind * 1.45, 2),
        },
        index=index,
    )
    df.attrs["source"] = f"synthetic:{key}"
    return df
