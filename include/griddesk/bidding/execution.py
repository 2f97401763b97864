"""Execution: the client of the order API (the market simulator's, or a real exchange gateway of the same shape).

``OrderApiClient.submit`` posts an order set before gate closure, ``results`` fetches the per-order results after
the auction, ``cancel`` withdraws a set before gate closure. Network errors and 5xx answers are retried with
exponential backoff; 4xx answers are not (the exchange refused the orders, and retrying would not change that).
Failures raise :class:`OrderApiError` with ``kind`` ``"http"`` (transport or server failure) or ``"rejected"``
(the exchange refused), which the pipeline records and alerts.

:func:`shadow_results` clears an order set that was never sent (paper mode) by the exchange's own rule
(:mod:`griddesk.bidding.clearing`) at the realised prices: the *shadow executions* that give paper mode a bid
success rate without anything reaching the exchange.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import requests

from griddesk.bidding.clearing import accepted_block_steps, accepted_mask
from griddesk.feeds.http import ApiCall, CallLog
from griddesk.redaction import install_log_redaction, redact_text, register_secret

log = logging.getLogger(__name__)

SIM_NOW_HEADER = "X-GridDesk-Sim-Now"


class OrderApiError(RuntimeError):
    """The order API failed (``kind="http"``) or refused the request (``kind="rejected"``)."""

    def __init__(self, kind: str, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code
        self.detail = detail


class NotClearedYet(RuntimeError):
    """The auction results of the order set are not published yet."""


@dataclass(frozen=True)
class SubmissionReceipt:
    """What the order API answered to a submission."""

    exchange_order_set_id: str
    status: str
    received_at_utc: datetime
    gate_closure_utc: datetime
    results_published_at_utc: datetime


def order_payload(
    market_code: str, delivery_date: date, client_order_set_id: str, steps: pd.DataFrame, mtu_minutes: int
) -> dict:
    """The JSON body of ``POST /orders`` from steps with ``delivery_start_utc`` (see ``raw.bid_order_steps``); a step
    of an exclusive group of block orders carries its ``block_index`` (other steps carry none)."""
    blocks = steps["block_index"] if "block_index" in steps else pd.Series([None] * len(steps), dtype=object)
    orders = []
    for row, block in zip(steps.itertuples(index=False), blocks, strict=True):
        order = {
            "delivery_start_utc": pd.Timestamp(row.delivery_start_utc).tz_convert("UTC").isoformat(),
            "side": row.side,
            "volume_mw": float(row.volume_mw),
            "limit_price_per_mwh": float(row.limit_price_per_mwh),
            "mtu_minutes": int(mtu_minutes),
            "step_index": int(row.step_index),
        }
        if not pd.isna(block):
            order["block_index"] = int(block)
        orders.append(order)
    return {
        "market": market_code,
        "delivery_date": delivery_date.isoformat(),
        "client_order_set_id": client_order_set_id,
        "orders": orders,
    }


@dataclass
class OrderApiClient:
    """HTTP client of the order API.

    Attributes:
        base_url: e.g. ``http://127.0.0.1:8765``.
        token: Bearer token (never logged).
        sim_now: The simulated clock sent as ``X-GridDesk-Sim-Now`` (None: the server's wall clock).
        timeout_s: Per-request timeout.
        max_attempts: Attempts for network errors and 5xx answers.
        backoff_s: Base of the exponential backoff between attempts.
    """

    base_url: str
    token: str = field(repr=False)
    sim_now: datetime | None = None
    timeout_s: float = 10.0
    max_attempts: int = 3
    backoff_s: float = 0.2
    #: Every attempt is recorded here (endpoint labels ``orders.submit``, ``orders.status``, ``orders.results``,
    #: ``orders.cancel``), for ``raw.api_call_log`` like the feeds' calls; no header, body or token.
    call_log: CallLog = field(default_factory=CallLog, repr=False)

    def __post_init__(self) -> None:
        install_log_redaction()
        register_secret(self.token)

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.sim_now is not None:
            headers[SIM_NOW_HEADER] = self.sim_now.astimezone(UTC).isoformat()
        return headers

    def _request(
        self, method: str, path: str, json_body: dict | None = None, label: str = "orders"
    ) -> requests.Response:
        url = self.base_url.rstrip("/") + path
        last: str = ""
        for attempt in range(1, self.max_attempts + 1):
            started, t0 = datetime.now(UTC), time.perf_counter()
            response = None
            try:
                response = requests.request(
                    method, url, json=json_body, headers=self._headers(), timeout=self.timeout_s
                )
            except requests.RequestException as exc:
                last = redact_text(f"{type(exc).__name__}: {exc}", (self.token,))
            else:
                if response.status_code >= 500:
                    last = f"HTTP {response.status_code}: {redact_text(response.text[:300], (self.token,))}"
            self.call_log.record(
                ApiCall(
                    feed="orders",
                    endpoint=label,
                    method=method,
                    url_path=path,
                    status_code=None if response is None else response.status_code,
                    latency_ms=(time.perf_counter() - t0) * 1000.0,
                    response_bytes=0 if response is None else len(response.content),
                    error=None if response is not None and response.status_code < 500 else last,
                    attempt=attempt,
                    requested_at_utc=started,
                    sim_now_utc=self.sim_now,
                )
            )
            if response is not None and response.status_code < 500:
                return response
            if attempt < self.max_attempts:
                log.warning(
                    "order API %s %s failed (%s); attempt %d/%d", method, path, last, attempt, self.max_attempts
                )
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise OrderApiError("http", f"order API {method} {path} failed after {self.max_attempts} attempts: {last}")

    @staticmethod
    def _refused(response: requests.Response, what: str) -> OrderApiError:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:300]
        if isinstance(detail, str):
            detail = redact_text(detail)  # an exchange's error may echo the request, token included
        return OrderApiError(
            "rejected",
            redact_text(f"{what} refused: HTTP {response.status_code}: {detail}"),
            response.status_code,
            detail,
        )

    def submit(self, payload: dict) -> SubmissionReceipt:
        """Post an order set; idempotent on ``client_order_set_id``.

        Raises:
            OrderApiError: ``rejected`` (4xx: validation, gate closed, key reused) or ``http``.
        """
        response = self._request("POST", "/orders", payload, "orders.submit")
        if response.status_code not in (200, 201):
            raise self._refused(response, "order set")
        body = response.json()
        if body.get("status") == "cancelled":
            # the key names a set the exchange already cancelled: nothing of this submission is in the auction
            raise OrderApiError(
                "rejected",
                f"order set refused: the exchange holds {body['order_set_id']} under this client_order_set_id as "
                "cancelled",
                response.status_code,
                [f"{body['order_set_id']} is cancelled"],
            )
        return SubmissionReceipt(
            exchange_order_set_id=body["order_set_id"],
            status=body["status"],
            received_at_utc=datetime.fromisoformat(body["received_at_utc"]),
            gate_closure_utc=datetime.fromisoformat(body["gate_closure_utc"]),
            results_published_at_utc=datetime.fromisoformat(body["results_published_at_utc"]),
        )

    def status(self, exchange_order_set_id: str) -> dict:
        """The order set as the API holds it (``status``, and ``results`` once cleared)."""
        response = self._request("GET", f"/orders/{exchange_order_set_id}", label="orders.status")
        if response.status_code != 200:
            raise self._refused(response, "status request")
        return response.json()

    def results(self, exchange_order_set_id: str) -> pd.DataFrame:
        """Per-order results after the auction.

        Returns:
            ``RESULT_COLUMNS``: ``delivery_start_utc`` (UTC), ``step_index``, ``side``, ``volume_mw``,
            ``limit_price_per_mwh``, ``clearing_price_per_mwh``, ``accepted``, ``accepted_volume_mw``,
            ``block_index`` (null unless the step belongs to a block of an exclusive group).

        Raises:
            NotClearedYet: results not published yet. OrderApiError: anything else.
        """
        response = self._request("GET", f"/orders/{exchange_order_set_id}/results", label="orders.results")
        if response.status_code == 409 and "not cleared yet" in response.text:
            raise NotClearedYet(response.json().get("detail"))
        if response.status_code != 200:
            raise self._refused(response, "results request")
        frame = pd.DataFrame(response.json()["results"])
        if frame.empty:
            return pd.DataFrame(columns=RESULT_COLUMNS)
        frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
        if "block_index" not in frame:  # an exchange that knows no blocks
            frame["block_index"] = None
        frame["block_index"] = frame["block_index"].astype("Int64")
        return frame[RESULT_COLUMNS]

    def cancel(self, exchange_order_set_id: str) -> dict:
        """Cancel before gate closure. Raises ``OrderApiError`` (``rejected`` after gate closure)."""
        response = self._request("DELETE", f"/orders/{exchange_order_set_id}", label="orders.cancel")
        if response.status_code != 200:
            raise self._refused(response, "cancellation")
        return response.json()


def success_rate(executions: pd.DataFrame) -> float:
    """Share of submitted steps accepted by the auction, % (NaN without steps)."""
    if executions.empty:
        return float("nan")
    return 100.0 * float(executions["is_accepted"].mean())


#: What identifies a cleared step and the price it cleared at, as the exchange reports it and as
#: ``raw.bid_executions`` stores it.
CLEARED_STEP_COLUMNS = [
    "delivery_start_utc",
    "step_index",
    "side",
    "volume_mw",
    "limit_price_per_mwh",
    "clearing_price_per_mwh",
]
RESULT_COLUMNS = [*CLEARED_STEP_COLUMNS, "accepted", "accepted_volume_mw", "block_index"]


def shadow_results(steps: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """The exchange's per-order results for ``steps`` had they been sent: the frame :meth:`OrderApiClient.results`
    returns, cleared like the simulator clears (price-taker, :func:`griddesk.bidding.clearing.accepted_mask`; an
    exclusive group of block orders, steps with a ``block_index``, by
    :func:`griddesk.bidding.clearing.accepted_block_steps`: only the block with the highest positive surplus).

    Args:
        steps: order steps with ``delivery_start_utc``, ``step_index``, ``side``, ``volume_mw``,
            ``limit_price_per_mwh`` (``raw.bid_order_steps``).
        prices: the realised prices with ``delivery_start_utc``, ``resolution_minutes``, ``price_per_mwh``; a step
            clears at the price of the interval that contains its start (a 15-minute step in an hourly market at
            its hour's price, as the exchange does).

    Raises:
        ValueError: a step whose interval has no realised price (named), so no partial day is recorded.
    """
    if steps.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    starts = pd.DatetimeIndex(pd.to_datetime(steps["delivery_start_utc"], utc=True))
    grid = prices.assign(delivery_start_utc=pd.to_datetime(prices["delivery_start_utc"], utc=True))
    grid = grid.sort_values("delivery_start_utc").reset_index(drop=True)
    # Naive UTC datetime64 for the interval search (tz-aware arrays are object arrays in numpy).
    grid_starts = pd.DatetimeIndex(grid["delivery_start_utc"]).tz_convert(None).to_numpy()
    step_starts = starts.tz_convert(None).to_numpy()
    at = np.searchsorted(grid_starts, step_starts, side="right") - 1
    found = at >= 0
    safe = np.where(found, at, 0)
    ends = grid_starts[safe] + pd.to_timedelta(grid["resolution_minutes"].to_numpy()[safe], unit="min").to_numpy()
    found &= step_starts < ends
    if not found.all():
        missing = sorted({t.isoformat() for t in starts[~found]})
        raise ValueError(f"no realised price for {len(missing)} MTU(s) of the order set: {missing[:4]}")
    clearing = grid["price_per_mwh"].to_numpy(dtype=float)[at]
    volumes = steps["volume_mw"].to_numpy(dtype=float)
    sides, limits = steps["side"].to_numpy(dtype=object), steps["limit_price_per_mwh"].to_numpy(dtype=float)
    blocks = (
        steps["block_index"].astype("Int64")
        if "block_index" in steps
        else pd.Series(pd.NA, index=steps.index, dtype="Int64")
    )
    if blocks.notna().any():
        if blocks.isna().any():
            raise ValueError("an exclusive group has steps without a block_index")
        hours = steps["resolution_minutes"].to_numpy(dtype=float) / 60.0 if "resolution_minutes" in steps else None
        if hours is None or len(set(hours)) != 1:
            raise ValueError("the steps of an exclusive group need one resolution_minutes")
        accepted = accepted_block_steps(
            blocks.to_numpy(dtype=np.int64), step_starts, sides, volumes, limits, clearing, float(hours[0])
        )
    else:
        accepted = accepted_mask(sides, limits, clearing)
    return pd.DataFrame(
        {
            "delivery_start_utc": starts,
            "step_index": steps["step_index"].to_numpy(dtype=int),
            "side": steps["side"].to_numpy(dtype=object),
            "volume_mw": volumes,
            "limit_price_per_mwh": steps["limit_price_per_mwh"].to_numpy(dtype=float),
            "clearing_price_per_mwh": clearing,
            "accepted": accepted,
            "accepted_volume_mw": np.where(accepted, volumes, 0.0),
            "block_index": blocks.array,
        }
    )
