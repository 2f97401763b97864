"""One settings object for the whole platform, read from ``GRIDDESK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Repository root: include/griddesk/settings.py -> parents[2].
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Platform settings. Every field maps to ``GRIDDESK_<FIELD>`` (see README)."""

    model_config = SettingsConfigDict(env_prefix="GRIDDESK_", extra="ignore")

    warehouse_url: str | None = Field(
        None,
        description="SQLAlchemy/libpq URL of the PostgreSQL warehouse. Unset: the embedded pgserver in state_dir.",
    )
    state_dir: Path = Field(
        PROJECT_ROOT / ".griddesk",
        description="Project-local, git-ignored folder for the embedded database, AIRFLOW_HOME and run state.",
    )
    data_dir: Path | None = Field(
        None,
        description="Folder of epftoolbox-format CSVs (<MARKET>.csv). Unset: ../shared/data/epftoolbox_datasets "
        "if it exists, else the deterministic synthetic generator.",
    )
    markets: str = Field("FR,BE", description="Comma-separated market codes to run (NP, PJM, BE, FR, DE).")
    pt15m_markets: str = Field(
        "", description="Markets the simulator serves at PT15M (hourly values repeated), to exercise the 15-min path."
    )
    simulator_url: str = Field("http://127.0.0.1:8765", description="Base URL of the market simulator (or ENTSO-E).")
    entsoe_token: str = Field("griddesk-dev-token", description="ENTSO-E securityToken sent by the client.")
    sim_tokens: str = Field(
        "", description="Simulator only: comma-separated accepted security tokens (empty: any non-empty token)."
    )
    history_days: int = Field(365, description="Days of history before the run window that the backfill loads.")
    run_days: int = Field(7, description="Delivery days that `make run` runs the daily pipeline for.")
    forecast_history_days: int = Field(365, description="Days of price history the forecaster trains on.")
    alert_email_to: str = Field("trading-desk@example.com", description="Recipients of data-quality alerts.")
    battery_power_mw: float = Field(1.0, description="Battery power rating in MW.")
    battery_energy_mwh: float = Field(2.0, description="Battery usable energy in MWh.")

    @property
    def market_codes(self) -> list[str]:
        return [m.strip().upper() for m in self.markets.split(",") if m.strip()]

    @property
    def pt15m_market_codes(self) -> set[str]:
        return {m.strip().upper() for m in self.pt15m_markets.split(",") if m.strip()}

    @property
    def resolved_data_dir(self) -> Path | None:
        """The epftoolbox CSV folder to read, or None when the synthetic generator must be used."""
        if self.data_dir is not None:
            if not self.data_dir.is_dir():
                raise FileNotFoundError(f"GRIDDESK_DATA_DIR={self.data_dir} is not a directory")
            return self.data_dir
        shared = PROJECT_ROOT.parent / "shared" / "data" / "epftoolbox_datasets"
        return shared if shared.is_dir() else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
