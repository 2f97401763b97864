"""One settings object for the whole platform, read from ``GRIDDESK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from griddesk.markets import MARKETS

#: Repository root: include/griddesk/settings.py -> parents[2].
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: No single battery GridDesk bids is larger (the largest built are ~1-3 GW / ~10 GWh): above, a typo or a unit error.
MAX_BATTERY_POWER_MW = 10_000.0
MAX_BATTERY_ENERGY_MWH = 100_000.0


def parse_market_codes(value: str, variable: str = "GRIDDESK_MARKETS", *, allow_empty: bool = False) -> list[str]:
    """Upper-cased market codes of a comma-separated list, in order.

    Raises:
        ValueError: the list is empty (unless ``allow_empty``), names a market twice, or names an unknown market;
            the message names ``variable`` and the known codes.
    """
    codes = [m.strip().upper() for m in value.split(",") if m.strip()]
    known = ", ".join(MARKETS)
    if not codes and not allow_empty:
        raise ValueError(f"{variable} is empty ({value!r}): name at least one market of {known}")
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"{variable}={value!r} names {', '.join(repeated)} more than once; list each market once")
    unknown = [c for c in codes if c not in MARKETS]
    if unknown:
        raise ValueError(f"{variable}={value!r}: unknown market(s) {', '.join(unknown)}; known: {known}")
    return codes


class Settings(BaseSettings):
    """Platform settings. Every field maps to ``GRIDDESK_<FIELD>`` (see README)."""

    model_config = SettingsConfigDict(env_prefix="GRIDDESK_", extra="ignore")

    warehouse_url: str | None = Field(
        None,
        description="SQLAlchemy/libpq URL of the PostgreSQL warehouse. Unset: the embedded pgserver in state_dir.",
    )
    warehouse_tcp_port: int = Field(
        5433,
        ge=0,
        le=65535,
        description="Embedded default only: TCP port on 127.0.0.1 where the embedded PostgreSQL also listens, "
        "password (SCRAM) authentication only; 0: unix socket only. Not 5432, where a system PostgreSQL often runs.",
    )
    warehouse_bi_password: SecretStr | None = Field(
        None,
        description="Password of the read-only griddesk_bi role (16+ printable ASCII characters). Unset: generated "
        "once and kept in <state_dir>/secrets (0600). docker-compose sets it so Grafana can log in.",
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
        "",
        description="Simulator only: comma-separated accepted participant tokens (ENTSO-E securityToken and order "
        "API bearer). Empty: the tokens GridDesk's clients are configured with (entsoe_token, the order API's).",
    )
    sim_admin_token: str = Field(
        "",
        description="Simulator only: bearer token of its /admin/* endpoints; never logged. Empty: generated once "
        "into <state_dir>/secrets/simulator-admin-token (0600).",
    )
    sim_backtest: bool = Field(
        False,
        description="Simulator only: backtest mode, where the X-GridDesk-Sim-Now request header is the clock. "
        "Off: the simulator's own clock (PUT /admin/clock, else the wall clock) rules trading.",
    )
    sim_position_limit_mw: float = Field(
        25.0,
        gt=0,
        allow_inf_nan=False,
        description="Simulator only: each participant's registered net position limit per MTU, MW (battery power "
        "plus contracted portfolio load).",
    )
    # ---- local services and the Airflow UI (griddesk.runtime; README "Ports, users and links")
    mail_port: int = Field(1025, ge=1, le=65535, description="SMTP port of the local mail catcher (127.0.0.1).")
    airflow_host: str = Field(
        "127.0.0.1", description="Address the Airflow API server (UI and REST API) listens on; loopback by default."
    )
    airflow_port: int = Field(8080, ge=1, le=65535, description="Port of the Airflow API server (UI and REST API).")
    docs_port: int = Field(8081, ge=1, le=65535, description="Port of the Data Docs / dbt docs site (127.0.0.1).")
    public_url: str = Field(
        "",
        description="Base URL under which readers of an alert reach the docs site (/gx/, /dbt/). "
        "Empty: http://127.0.0.1:<docs_port>.",
    )
    public_airflow_url: str = Field(
        "",
        description="Base URL of the Airflow UI as alert readers reach it. Empty: http://<airflow_host>:<airflow_port>.",
    )
    airflow_users: str = Field(
        "admin:admin,trader:viewer",
        description="Airflow simple-auth-manager users as name:role (viewer, user, op, admin), comma-separated; "
        "their passwords are generated into <state_dir>/airflow/passwords.json.",
    )
    airflow_all_admins: bool = Field(
        False, description="Explicit opt-in: no login, every visitor is an Airflow admin. Never on a shared host."
    )
    # ---- executor (griddesk.runtime; README "Deploying")
    executor: Literal["local", "celery"] = Field(
        "local",
        description="Airflow executor of `make run` / `make ui`: local (tasks in processes of the scheduler) or "
        "celery (tasks on Celery workers fed through Redis; `make cluster` starts the workers).",
    )
    redis_port: int = Field(
        6390,
        ge=1,
        le=65535,
        description="celery only: port on 127.0.0.1 of the state dir's own Redis (the Celery broker), password "
        "generated into <state_dir>/airflow. Not 6379, where a shared Redis often runs.",
    )
    celery_workers: str = Field(
        "worker-a=default,models;worker-b=default",
        description="celery only: the workers `make cluster` starts, as name=queue,queue;name=queue. Queues: "
        "default (extraction, checks, dbt) and models (Prophet, LEAR, per-meter fits).",
    )
    worker_concurrency: int = Field(2, ge=1, le=64, description="celery only: task processes per Celery worker.")
    warehouse_pool_slots: int = Field(
        8,
        ge=1,
        description="Slots of the griddesk_warehouse pool: tasks other than model fits that may hold a "
        "warehouse connection at once (the connection budget, with griddesk_models).",
    )
    models_pool_slots: int = Field(
        4, ge=1, description="Slots of the griddesk_models pool: model fits (Prophet, LEAR, per-meter) at once."
    )
    history_days: int = Field(365, description="Days of history before the run window that the backfill loads.")
    run_days: int = Field(7, description="Delivery days that `make run` runs the daily pipeline for.")
    forecast_history_days: int = Field(365, description="Days of price history the forecaster trains on.")
    alert_email_to: str = Field("trading-desk@example.com", description="Recipients of data-quality alerts.")
    battery_power_mw: float = Field(
        1.0, gt=0, le=MAX_BATTERY_POWER_MW, allow_inf_nan=False, description="Battery power rating in MW."
    )
    battery_energy_mwh: float = Field(
        2.0, gt=0, le=MAX_BATTERY_ENERGY_MWH, allow_inf_nan=False, description="Battery usable energy in MWh."
    )
    # ---- operational feeds (griddesk.feeds; see docs/feeds.md)
    feeds_data_dir: Path | None = Field(
        None,
        description="Folder holding the shared data sets the feed simulator serves (cambridge_estates_..., "
        "era_nuts_...). Unset: ../shared/data if it exists, else the documented synthetic generators.",
    )
    ckw_base_url: str = Field(
        "", description="Base URL of the CKW public-data API ('.../api'). Empty: <simulator_url>/ckw/api."
    )
    ckw_auth: bool = Field(
        True,
        description="Use OAuth2 client credentials against the CKW API (the simulator requires them; the real "
        "public endpoints are open, so set false there).",
    )
    ckw_token_url: str = Field("", description="OAuth2 token endpoint. Empty: <simulator_url>/oauth/token.")
    ckw_client_id: str = Field("griddesk", description="OAuth2 client id for the CKW API.")
    ckw_client_secret: str = Field(
        "griddesk-dev-secret", description="OAuth2 client secret for the CKW API; never logged."
    )
    ckw_tariff_names: str = Field(
        "home_dynamic,business_dynamic", description="Comma-separated CKW dynamic tariff names to extract."
    )
    ckw_plants: str = Field("lutersarni", description="Comma-separated CKW plant ids whose live telemetry is polled.")
    ckw_reference_market: str = Field(
        "DE",
        description="Simulator only: market whose day-ahead price drives the generated CKW electricity tariff "
        "(falls back to the first market the simulator serves).",
    )
    sim_token_ttl_s: int = Field(900, description="Simulator only: lifetime of the JWTs /oauth/token issues, s.")
    sim_token_secret: str = Field(
        "griddesk-sim-jwt-secret", description="Simulator only: HS256 key the simulator signs its JWTs with."
    )
    sim_rate_limit: int = Field(
        600, description="Simulator only: requests per client and rate-limit window on the CKW endpoints."
    )
    sim_rate_window_ms: int = Field(60_000, description="Simulator only: length of the rate-limit window, ms.")
    weather_locations: str = Field(
        "",
        description="Comma-separated weather locations to extract: ERA5 country codes (DE, FR, BE, NL, DK, NO, SE, "
        "FI) and 'bedford'. Empty: the configured markets that have ERA5 data, plus bedford.",
    )
    weather_observation_lag_minutes: int = Field(
        60,
        description="Simulator only: minutes after the end of an hour before its observation is published "
        "(archive endpoint and forecast inputs).",
    )
    feeds_retention_days: int = Field(
        90,
        description="Days 5-minute telemetry and the API call log are kept raw; older rows are folded into "
        "hourly aggregates and deleted.",
    )
    feeds_timeout_s: float = Field(30.0, description="Read timeout of one feed HTTP request, s.")
    feeds_max_attempts: int = Field(4, description="Attempts per feed request (first try included) before failing.")
    feeds_backoff_s: float = Field(0.5, description="Base of the exponential backoff between feed attempts, s.")
    feeds_load_workers: int = Field(
        2,
        ge=1,
        description="Database connections that load one task's feed batches in parallel (one transaction per batch).",
    )

    @field_validator("markets")
    @classmethod
    def _markets_are_a_list_of_known_markets(cls, value: str) -> str:
        parse_market_codes(value)
        return value

    @field_validator("pt15m_markets")
    @classmethod
    def _pt15m_markets_are_known(cls, value: str) -> str:
        parse_market_codes(value, "GRIDDESK_PT15M_MARKETS", allow_empty=True)
        return value

    @property
    def docs_public_url(self) -> str:
        """Base URL of the docs site in links (alerts, the Airflow UI), without a trailing slash."""
        return (self.public_url or f"http://127.0.0.1:{self.docs_port}").rstrip("/")

    @property
    def airflow_public_url(self) -> str:
        """Base URL of the Airflow UI in links, without a trailing slash."""
        return (self.public_airflow_url or f"http://{self.airflow_host}:{self.airflow_port}").rstrip("/")

    @property
    def market_codes(self) -> list[str]:
        return parse_market_codes(self.markets)

    @property
    def pt15m_market_codes(self) -> set[str]:
        return set(parse_market_codes(self.pt15m_markets, "GRIDDESK_PT15M_MARKETS", allow_empty=True))

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
