"""What the bidding task bodies share: the actors, the settings of a task, alerts, the order API and the battery.

The task bodies themselves are in :mod:`griddesk.bidding.tasks` (with :mod:`griddesk.bidding.generation` and
:mod:`griddesk.bidding.submission`).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg2

from griddesk.bidding import controls, store
from griddesk.bidding.alerts import BiddingAlert, send_bidding_alert
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.execution import OrderApiClient
from griddesk.feeds.api_health import write_call_log
from griddesk.markets import Market, get_market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

ACTOR_BID = "airflow:griddesk_morning.bid"
ACTOR_COMPLIANCE = "airflow:griddesk_morning.compliance"
ACTOR_SUBMIT = "airflow:griddesk_morning.submit"
ACTOR_EXECUTIONS = "airflow:griddesk_afternoon.fetch_executions"
ACTOR_BATTERY = "airflow:griddesk_feeds.submit_orders"


@dataclass(frozen=True)
class TaskContext:
    """One bidding task's run for a market and delivery day: its settings, the warehouse, the clock and the actor.

    Attributes:
        url: The warehouse URL.
        settings: The platform settings.
        bidding: The bidding settings the task applies (the paired market's bid forces the ``fixed`` strategy).
        market: The market.
        day: The delivery day D.
        now: The run's simulated clock for the market (what the order API is told).
        actor: Who the audit trail names.
    """

    url: str
    settings: Settings
    bidding: controls.BiddingSettings
    market: Market
    day: date
    now: datetime
    actor: str

    @property
    def recipients(self) -> str:
        return recipients(self.settings, self.bidding)


def resolve(
    market_code: str, settings: Settings | None, bidding: controls.BiddingSettings | None
) -> tuple[Settings, controls.BiddingSettings, Market, str]:
    """The settings (from the environment unless given), the market and the warehouse URL of a task."""
    settings = settings or get_settings()
    return settings, bidding or controls.get_bidding_settings(), get_market(market_code), db.warehouse_url(settings)


def recipients(settings: Settings, bidding: controls.BiddingSettings) -> str:
    return bidding.alert_email_to or settings.alert_email_to


def alert(url: str, kind: str, market: str, day: date, reasons: list[str], to: str, order_set: str | None, **details):
    """Send a bidding alert on its own connection (the sender commits); a mail failure is logged, not raised,
    so it never turns a safe outcome (nothing submitted) into a failed task."""
    conn = psycopg2.connect(url)
    try:
        send_bidding_alert(conn, BiddingAlert(kind, market, day, reasons, order_set, details), to)
    except Exception:  # noqa: BLE001 - the alert is best effort; the state is already recorded
        log.exception("could not send the %s alert for %s %s", kind, market, day)
    finally:
        conn.close()


def battery_config(settings: Settings, conn, market_code: str, delivery_date: date, valued: bool) -> BatteryConfig:
    """The battery; with a valued end SoC it starts where D-1's schedule ended (else at the default 50 %)."""
    battery = BatteryConfig(power_mw=settings.battery_power_mw, energy_mwh=settings.battery_energy_mwh)
    if not valued:
        return battery
    soc = store.last_soc_pct(conn, market_code, delivery_date - timedelta(days=1))
    if soc is None:
        return battery
    soc = min(max(float(soc), battery.soc_min_pct), battery.soc_max_pct)
    return battery.model_copy(update={"initial_soc_pct": soc})


def order_api_client(settings: Settings, bidding: controls.BiddingSettings, sim_now) -> OrderApiClient:
    """The exchange's order API (over HTTP; in development the simulator serves it at ``simulator_url``)."""
    return OrderApiClient(
        base_url=bidding.order_api_url or settings.simulator_url,
        token=bidding.order_api_token,
        sim_now=sim_now,
        timeout_s=bidding.http_timeout_s,
        max_attempts=bidding.http_max_attempts,
    )


@contextmanager
def order_api(settings: Settings, bidding: controls.BiddingSettings, sim_now, url: str):
    """The order API client; every attempt it made is written to ``raw.api_call_log`` afterwards, whatever happened."""
    client = order_api_client(settings, bidding, sim_now)
    try:
        yield client
    finally:
        with db.connect(url) as conn:
            write_call_log(conn, client.call_log)


def move(conn, header: dict, target: str, reason: str = "") -> None:
    """Move the stored order set ``header`` to ``target`` (checked by :mod:`griddesk.bidding.lifecycle`)."""
    controls.set_status(conn, header["order_set_id"], header["status"], target, reason)
