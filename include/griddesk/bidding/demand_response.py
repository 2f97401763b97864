"""Demand-response windows: periods of the delivery day where the battery may not charge or must consume.

Windows come from configuration (``GRIDDESK_BIDDING_DEMAND_RESPONSE_WINDOWS``, a JSON list of
:class:`DemandResponseWindow`) or are predicted from the recent history of the CKW TRA control-signal feed
(``raw.ckw_tra_signals`` as loaded by the cut-off, :func:`read_control_signals`) when that feed exists. TRA
signals are published only up to the previous day, and D is bid on D-1, so at the morning run the newest signals
are D-2's: D's windows are predicted from the ``lookback_days`` days up to D-2 (:func:`last_published_signal_date`),
as far as they were extracted by the cut-off. A 15-minute slot of the local day is in a window when the channel was
switched on in that slot on at least ``min_share`` of those days. Signal dates a critical data-quality failure
blocked (``griddesk.quality.blocking``) are left out: the share is taken over the remaining days, and with none left
nothing is predicted. A switched-on channel means the site's controlled loads use the grid connection, so by default
the battery may not add charging load
then (``kind="no_charging"``); a window may instead demand consumption (``"mandatory_consumption"``) or block
discharging (``"no_discharging"``).

Windows become :class:`griddesk.bidding.optimiser.MtuConstraint` on every MTU they overlap; the optimiser and the
curve builder honour them, and name them when they conflict with other constraints.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from griddesk.bidding.optimiser import MtuConstraint
from griddesk.feeds import store as feeds_store
from griddesk.markets import Market

WindowKind = Literal["no_charging", "mandatory_consumption", "no_discharging"]
#: Slot length of predicted windows, minutes.
SLOT_MINUTES = 15
#: Time zone of the CKW TRA signals.
TRA_TIMEZONE = "Europe/Zurich"
#: Days of TRA history behind a prediction (ending at D-2).
LOOKBACK_DAYS = 14


class DemandResponseWindow(BaseModel):
    """A daily window, in the market's local time, on the days it applies to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Shown in schedules and conflict messages, e.g. 'DR evening peak'.")
    start_local: time = Field(description="Start, local wall clock (inclusive).")
    end_local: time = Field(description="End, local wall clock (exclusive); 00:00 means midnight at the day's end.")
    kind: WindowKind = Field("no_charging", description="What the window demands.")
    min_consumption_mw: float = Field(0.0, ge=0, description="mandatory_consumption: MW the battery must charge.")
    weekdays: tuple[int, ...] | None = Field(None, description="ISO weekdays (1 = Monday); None: every day.")
    valid_from: date | None = Field(None, description="First day it applies (inclusive); None: always.")
    valid_to: date | None = Field(None, description="Last day it applies (inclusive); None: always.")
    source: str = Field("configuration", description="configuration, or the feed it was predicted from.")

    @model_validator(mode="after")
    def _check(self) -> DemandResponseWindow:
        if self.end_local != time(0) and self.end_local <= self.start_local:
            raise ValueError(f"window {self.name!r}: end_local {self.end_local} must be after start_local")
        if self.kind == "mandatory_consumption" and self.min_consumption_mw <= 0:
            raise ValueError(f"window {self.name!r}: mandatory_consumption needs min_consumption_mw > 0")
        return self

    def applies_on(self, day: date) -> bool:
        if self.weekdays is not None and day.isoweekday() not in self.weekdays:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day <= self.valid_to

    def bounds_utc(self, market: Market, day: date) -> tuple[datetime, datetime]:
        """[start, end) of the window on ``day`` in UTC (local wall clock of the market; DST-aware)."""
        start = datetime.combine(day, self.start_local, tzinfo=market.tz)
        end_day = day + timedelta(days=1) if self.end_local == time(0) else day
        end = datetime.combine(end_day, self.end_local, tzinfo=market.tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def describe(self) -> str:
        what = {
            "no_charging": "no charging",
            "no_discharging": "no discharging",
            "mandatory_consumption": f"mandatory consumption >= {self.min_consumption_mw:g} MW",
        }[self.kind]
        return f"demand-response window {self.name} {self.start_local:%H:%M}-{self.end_local:%H:%M} ({what})"


def parse_windows(text: str) -> list[DemandResponseWindow]:
    """Windows from JSON (a list of objects); empty text gives none. Raises ``ValueError`` naming the problem."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"demand-response windows are not valid JSON: {exc}") from None
    return TypeAdapter(list[DemandResponseWindow]).validate_python(data)


def to_mtu_constraints(
    windows: Sequence[DemandResponseWindow],
    market: Market,
    day: date,
    mtu_starts_utc: Sequence[datetime],
    mtu_minutes: int,
) -> list[MtuConstraint]:
    """One ``MtuConstraint`` per window that applies on ``day``, on every MTU it overlaps (none: dropped)."""
    starts = pd.DatetimeIndex(pd.to_datetime(list(mtu_starts_utc), utc=True))
    ends = starts + pd.Timedelta(minutes=mtu_minutes)
    out = []
    for window in windows:
        if not window.applies_on(day):
            continue
        lo, hi = (pd.Timestamp(t) for t in window.bounds_utc(market, day))
        idx = tuple(int(i) for i in np.flatnonzero((starts < hi) & (ends > lo)))
        if not idx:
            continue
        name = window.describe()
        if window.kind == "no_charging":
            out.append(MtuConstraint(name, idx, max_charge_mw=0.0))
        elif window.kind == "no_discharging":
            out.append(MtuConstraint(name, idx, max_discharge_mw=0.0))
        else:
            out.append(MtuConstraint(name, idx, min_charge_mw=window.min_consumption_mw))
    return out


def last_published_signal_date(delivery_date: date) -> date:
    """The newest TRA signal date known when D is bid: the feed publishes up to the previous day, and D is bid on
    D-1, so D-2."""
    return delivery_date - timedelta(days=2)


def signal_dates(day: date, lookback_days: int = LOOKBACK_DAYS) -> list[date]:
    """The TRA signal dates behind D's prediction: the ``lookback_days`` days up to D-2, oldest first."""
    last = last_published_signal_date(day)
    return [last - timedelta(days=k) for k in range(lookback_days - 1, -1, -1)]


def predict_windows(
    signals: pd.DataFrame,
    day: date,
    lookback_days: int = LOOKBACK_DAYS,
    min_share: float = 0.5,
    kind: WindowKind = "no_charging",
    min_consumption_mw: float = 0.0,
    exclude_days: Collection[date] = (),
) -> list[DemandResponseWindow]:
    """Windows for ``day`` predicted from the control signals of the ``lookback_days`` days up to D-2.

    Args:
        signals: ``signal_name``, ``switch_on_utc``, ``switch_off_utc`` (tz-aware), optionally
            ``signal_date_local``; switch-ons after :func:`last_published_signal_date` are ignored (not yet
            published when D is bid on D-1).
        day: The delivery day (local, Europe/Zurich for TRA signals).
        lookback_days: Days of history, ending at D-2.
        min_share: A 15-minute slot belongs to a window when the channel was on in it on at least this share of
            the lookback days that are not excluded.
        kind, min_consumption_mw: What the predicted windows demand.
        exclude_days: Signal dates not to learn from (a critically blocked feed-day): their signals are dropped
            and they do not count as days; with every day excluded nothing is predicted.

    Returns:
        One window per channel and contiguous run of slots, named ``TRA <channel> (predicted)``, valid on ``day``.
    """
    excluded = set(exclude_days)
    if excluded and "signal_date_local" in signals:
        signals = signals[~signals["signal_date_local"].isin(excluded)]
    if signals.empty:
        return []
    tz = TRA_TIMEZONE
    last = last_published_signal_date(day)
    first = last - timedelta(days=lookback_days - 1)
    kept = [i for i in range(lookback_days) if first + timedelta(days=i) not in excluded]
    if not kept:
        return []
    n_slots = 24 * 60 // SLOT_MINUTES
    out = []
    for channel, group in signals.groupby("signal_name", sort=True):
        on = pd.DatetimeIndex(pd.to_datetime(group["switch_on_utc"], utc=True)).tz_convert(tz)
        off = pd.DatetimeIndex(pd.to_datetime(group["switch_off_utc"], utc=True)).tz_convert(tz)
        presence = np.zeros((lookback_days, n_slots), dtype=bool)
        for a, b in zip(on, off, strict=True):
            t = a
            while t < b:
                d = t.date()
                if first <= d <= last:
                    slot = (t.hour * 60 + t.minute) // SLOT_MINUTES
                    presence[(d - first).days, slot] = True
                t += pd.Timedelta(minutes=SLOT_MINUTES)
        share = presence[kept].mean(axis=0)
        active = share >= min_share
        slot = 0
        while slot < n_slots:
            if not active[slot]:
                slot += 1
                continue
            begin = slot
            while slot < n_slots and active[slot]:
                slot += 1
            start = time(begin * SLOT_MINUTES // 60, begin * SLOT_MINUTES % 60)
            end_minutes = slot * SLOT_MINUTES
            end = time(0) if end_minutes == 24 * 60 else time(end_minutes // 60, end_minutes % 60)
            out.append(
                DemandResponseWindow(
                    name=f"TRA {channel} (predicted)",
                    start_local=start,
                    end_local=end,
                    kind=kind,
                    min_consumption_mw=min_consumption_mw,
                    valid_from=day,
                    valid_to=day,
                    source="ckw_tra_signals",
                )
            )
    return out


def read_control_signals(conn, day: date, cutoff_utc: datetime, lookback_days: int = LOOKBACK_DAYS) -> pd.DataFrame:
    """TRA signals of the ``lookback_days`` days up to D-2 (what is published when D is bid), as known at
    ``cutoff_utc`` (gate closure on D-1): from ``raw``, each feed window's newest batch version *extracted by the
    cut-off* (the simulated clock of its extraction). Not ``marts.fct_control_signals``, which always holds the
    newest version: a ``griddesk_feeds`` run after the cut-off (new days, a corrected window) would change a rerun's
    bid. Empty when nothing was loaded by then."""
    first = last_published_signal_date(day) - timedelta(days=lookback_days - 1)
    return feeds_store.control_signals_as_of(conn, first, last_published_signal_date(day), cutoff_utc)
