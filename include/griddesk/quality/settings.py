"""Data-quality settings (prefix ``GRIDDESK_QUALITY_``), documented in docs/alerts.md."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class QualitySettings(BaseSettings):
    """Where alert links point and the thresholds of the watches (feeds' SLAs live in expectations/feeds.yml)."""

    model_config = SettingsConfigDict(env_prefix="GRIDDESK_QUALITY_", extra="ignore")

    docs_url: str = Field(
        "",
        description="Deprecated alias of GRIDDESK_PUBLIC_URL: base URL of the docs site (/gx/, /dbt/) in links. "
        "Empty: GRIDDESK_PUBLIC_URL, else http://127.0.0.1:<GRIDDESK_DOCS_PORT>.",
    )
    api_min_success_rate: float = Field(0.9, ge=0, le=1, description="API health alert below this hourly success rate.")
    api_min_calls: int = Field(3, ge=1, description="An endpoint-hour needs this many calls before it can alert.")
    # The forecast-drift rule is not here: dbt owns it (vars forecast_drift_*, overridden by
    # GRIDDESK_QUALITY_DRIFT_WINDOW_DAYS / _MAE_PER_MWH), so fct_forecast_drift, the email and Grafana agree.
    gap_min_intervals: int = Field(
        1, ge=1, description="Data-gap alert when a feed-day has this many missing intervals."
    )
    deadline_margin_minutes: int = Field(
        30, ge=0, description="Deadline alert when a market-day's orders are missing this long before gate closure."
    )

    @property
    def docs_base_url(self) -> str:
        """Where alert links point: ``GRIDDESK_PUBLIC_URL`` (the docs site as its readers reach it)."""
        from griddesk.settings import Settings

        return (self.docs_url or Settings().docs_public_url).rstrip("/")

    @property
    def gx_docs_url(self) -> str:
        return self.docs_base_url + "/gx/index.html"

    @property
    def dbt_docs_url(self) -> str:
        return self.docs_base_url + "/dbt/index.html"


@lru_cache(maxsize=1)
def get_quality_settings() -> QualitySettings:
    return QualitySettings()
