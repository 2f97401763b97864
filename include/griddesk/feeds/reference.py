"""Reference data of the operational feeds: plants, weather locations, the CKW clock. Written to ``raw`` by the
extraction tasks (``raw.plants``, ``raw.weather_locations``) and read by the simulator that serves the feeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

#: CKW's area (Lucerne) and the local day of its tariffs and TRA signals.
CKW_TZ = ZoneInfo("Europe/Zurich")
#: The Cambridge buildings' local clock (the data are UTC).
METER_TZ = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Plant:
    """A power plant whose live telemetry CKW publishes."""

    plant_id: str
    plant_name: str
    technology: str
    rated_power_mw: float
    timezone: str
    operator: str
    notes: str = ""


PLANTS: dict[str, Plant] = {
    "lutersarni": Plant(
        "lutersarni",
        "Windpark Lutersarni (Entlebuch, LU)",
        "wind",
        2.3,
        "Europe/Zurich",
        "CKW",
        notes="Live endpoint as in CKW's public-data spec; rated power is a GridDesk assumption for the simulator.",
    ),
}


@dataclass(frozen=True)
class WeatherLocation:
    """A point the weather feed serves: an ERA5 country average or a weather station.

    ``latitude``/``longitude`` identify the location in Open-Meteo-style requests; for ERA5 country averages they
    are a rough country centre, not the averaging area.
    """

    location_code: str
    location_name: str
    data_source: str  # era5 | midas
    latitude: float
    longitude: float

    @property
    def is_reanalysis(self) -> bool:
        """ERA5 is a reanalysis: known only after the fact, an observation and never a forecast."""
        return self.data_source == "era5"


WEATHER_LOCATIONS: dict[str, WeatherLocation] = {
    loc.location_code: loc
    for loc in [
        WeatherLocation("DE", "Germany (ERA5 country average)", "era5", 51.1, 10.4),
        WeatherLocation("FR", "France (ERA5 country average)", "era5", 46.6, 2.4),
        WeatherLocation("BE", "Belgium (ERA5 country average)", "era5", 50.6, 4.6),
        WeatherLocation("NL", "Netherlands (ERA5 country average)", "era5", 52.2, 5.5),
        WeatherLocation("DK", "Denmark (ERA5 country average)", "era5", 56.0, 9.3),
        WeatherLocation("NO", "Norway (ERA5 country average)", "era5", 64.5, 12.0),
        WeatherLocation("SE", "Sweden (ERA5 country average)", "era5", 62.0, 15.0),
        WeatherLocation("FI", "Finland (ERA5 country average)", "era5", 64.0, 26.0),
        WeatherLocation("bedford", "Bedford (Met Office MIDAS station 461)", "midas", 52.227, -0.465),
    ]
}


def weather_location(code: str) -> WeatherLocation:
    """The location for ``code`` (ERA5 country codes are upper case, stations lower case).

    Raises:
        KeyError: unknown location, listing the known ones.
    """
    loc = WEATHER_LOCATIONS.get(code) or WEATHER_LOCATIONS.get(code.upper()) or WEATHER_LOCATIONS.get(code.lower())
    if loc is None:
        raise KeyError(f"unknown weather location {code!r}; known: {', '.join(WEATHER_LOCATIONS)}")
    return loc


def default_weather_locations(market_codes: Iterable[str]) -> list[str]:
    """ERA5 locations of the markets that have one, then the Bedford station (the meters' weather)."""
    codes = [c for c in market_codes if c in WEATHER_LOCATIONS]
    return [*codes, "bedford"]


def battery_id_for(market_code: str) -> str:
    """The battery GridDesk trades on ``market_code`` (one per market)."""
    return f"griddesk-bess-{market_code.lower()}"
