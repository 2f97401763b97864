"""The simulator's day-ahead order API: order sets are posted before gate closure and cleared at the realised price.

Endpoints (JSON; ``Authorization: Bearer <token>`` with a participant token configured at start, else 401 without
quoting it). The clock is the simulator's own (:mod:`griddesk.simulator.security`): the instant set with ``PUT
/admin/clock``, else the wall clock. The ``X-GridDesk-Sim-Now`` header is ignored here unless the simulator runs in
backtest mode, so no client moves the gate by claiming an earlier time. A participant sees only its own order sets.

- ``POST /orders``: submit an order set for one market and delivery day. Refused with 409 after gate closure
  (``Market.gate_closure_utc(D)``), with 422 and one reason per bad order otherwise (a side other than buy/sell,
  a volume that is not a positive whole number of 0.1 MW ticks or above ``max_order_volume_mw``, a limit off the
  0.01 price grid or outside the price bounds valid on D, an MTU outside D), and with 422 naming the MTU and the
  limit when the participant's net position in an MTU (this set and its other live sets of the market together,
  worst case: every buy, or every sell, accepted) would exceed its position limit. Resubmitting the same
  ``client_order_set_id`` returns the stored set (idempotent); a different payload under it is a 409.
- ``DELETE /orders/{order_set_id}``: cancel before gate closure (409 after).
- ``GET /orders/{order_set_id}``: the set and its status: ``accepted`` (in the book), ``cancelled``, or
  ``cleared`` once D's prices are published (``Market.price_publication_utc(D)``), with per-order results.
- ``GET /orders/{order_set_id}/results``: the per-order results; 409 "not cleared yet" before publication.
- Faults of ``POST /admin/faults`` queued for ``orders.submit``, ``orders.status``, ``orders.results`` or
  ``orders.cancel`` (or sent as ``X-GridDesk-Fault``): ``http_5xx``, ``timeout``, ``rate_limit``,
  ``expired_token``, and ``order_rejected`` (422 with the fault's ``reason``), see
  :mod:`griddesk.simulator.feeds.faults`.

Clearing (price-taker, :mod:`griddesk.bidding.clearing`): every MTU clears at the realised day-ahead price of the
dataset, as first published; GridDesk's orders do not move it. A buy is accepted in full when the price is at or
below its limit, a sell when at or above; accepted volume settles at the clearing price. A 15-minute order
clears at its hour's price (the simulator's PT15M prices repeat the hourly value).

**Exclusive groups of block orders.** An order set whose orders carry a ``block_index`` is one exclusive group:
each block is a profile (one step per MTU it trades, one limit price per block, read as the minimum average margin
per MWh traded). It is refused with 422 when the market takes no exclusive groups
(:data:`griddesk.bidding.rules.BLOCK_ORDER_RULES`, e.g. PJM), when it has more blocks than a group allows, when a
block has two steps in one MTU or two limits, or when some orders carry a block and others do not. At most one
block is accepted, whole: the one with the highest positive surplus at the realised prices, ties to the lowest
index (:func:`griddesk.bidding.clearing.accepted_block_steps`); a step is accepted iff its block is, and settles at
its MTU's price. The position limit counts a group at its worst case, the largest block in each MTU (only one is
accepted), added to the participant's other live sets.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from griddesk.bidding.clearing import accepted_block_steps, is_accepted
from griddesk.markets import get_market, price_bounds_on
from griddesk.simulator.feeds.faults import error_response
from griddesk.simulator.security import bearer, is_valid_token, participant_id
from griddesk.simulator.sim_request import SIM_NOW_HEADER, RequestError, parse_sim_header

#: Largest volume of one order step, MW (a plausibility limit of the simulated exchange).
MAX_ORDER_VOLUME_MW = 100.0
VOLUME_TICK_MW = 0.1
PRICE_TICK = 0.01
_SLACK = 1e-9
#: Fault kinds the order API takes (queued for ``orders.<operation>``); others are not injected here.
ORDER_FAULT_KINDS = ("http_5xx", "timeout", "rate_limit", "expired_token", "order_rejected")


class OrderIn(BaseModel):
    """One step of an order set."""

    delivery_start_utc: datetime = Field(description="Start of the MTU (UTC).")
    side: str = Field(description="buy or sell.")
    volume_mw: float = Field(description="Volume, MW: a positive whole number of 0.1 MW ticks.")
    limit_price_per_mwh: float = Field(description="Limit price on the 0.01 grid, within the day's price bounds.")
    mtu_minutes: int = Field(60, description="MTU length of the order, 60 or 15.")
    step_index: int = Field(0, ge=0, description="Client's step number within the MTU.")
    block_index: int | None = Field(
        None, ge=0, description="The block of an exclusive group the step belongs to; None: an ordinary step."
    )


class OrderSetIn(BaseModel):
    """An order set for one market and delivery day."""

    market: str = Field(description="Market code, e.g. DE.")
    delivery_date: date = Field(description="Local delivery day D.")
    client_order_set_id: str = Field(min_length=1, max_length=200, description="Client's idempotency key.")
    orders: list[OrderIn] = Field(description="The steps; may be empty (a day with no trades).")


@dataclass
class _OrderSet:
    order_set_id: str
    body: OrderSetIn
    digest: str
    received_utc: datetime
    participant: str = ""
    status: str = "accepted"
    cancelled_utc: datetime | None = None


@dataclass
class OrderBook:
    """All order sets the simulated exchange holds, by id and by client key (in memory)."""

    prices: dict[str, tuple[list[date], dict[date, int], list[np.ndarray], list[datetime]]]
    sets: dict[str, _OrderSet] = field(default_factory=dict)
    by_client_key: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _whole(value: float, tick: float) -> bool:
    count = value / tick
    return math.isfinite(count) and abs(count - round(count)) <= _SLACK * max(1.0, abs(count))


def validate_order_set(body: OrderSetIn) -> list[str]:
    """Reasons the exchange rejects ``body`` (empty: acceptable), one per problem, naming the order."""
    try:
        market = get_market(body.market)
    except KeyError as exc:
        return [str(exc.args[0])]
    try:
        bounds = price_bounds_on(market.code, body.delivery_date)
    except LookupError as exc:
        return [str(exc)]
    start, end = market.delivery_day_bounds_utc(body.delivery_date)
    reasons = []
    for i, order in enumerate(body.orders):
        where = f"order {i} ({order.side} {order.volume_mw} MW at {order.limit_price_per_mwh})"
        t = order.delivery_start_utc
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        if order.side not in ("buy", "sell"):
            reasons.append(f"{where}: side must be buy or sell")
        if order.mtu_minutes not in (15, 60):
            reasons.append(f"{where}: mtu_minutes must be 15 or 60")
        if not (order.volume_mw > 0 and _whole(order.volume_mw, VOLUME_TICK_MW)):
            reasons.append(f"{where}: volume must be a positive whole number of {VOLUME_TICK_MW} MW ticks")
        if order.volume_mw > MAX_ORDER_VOLUME_MW:
            reasons.append(f"{where}: volume above the {MAX_ORDER_VOLUME_MW} MW limit per order")
        if not _whole(order.limit_price_per_mwh, PRICE_TICK):
            reasons.append(f"{where}: limit price must be on the {PRICE_TICK} grid")
        if not bounds.min_price_per_mwh <= order.limit_price_per_mwh <= bounds.max_price_per_mwh:
            reasons.append(
                f"{where}: limit price outside the bounds [{bounds.min_price_per_mwh}, {bounds.max_price_per_mwh}] "
                f"valid on {body.delivery_date}"
            )
        if not start <= t < end:
            reasons.append(f"{where}: MTU {t.isoformat()} is not in delivery day {body.delivery_date}")
    return reasons + block_group_reasons(body)


def is_block_group(body: OrderSetIn) -> bool:
    """Whether the order set is an exclusive group of block orders (any order carries a block)."""
    return any(o.block_index is not None for o in body.orders)


def block_group_reasons(body: OrderSetIn) -> list[str]:
    """Why an exclusive group of block orders is refused (empty: acceptable or not a group), see module docstring."""
    from griddesk.bidding.rules import block_order_rules, exclusive_group_refusal

    if not is_block_group(body):
        return []
    refusal = exclusive_group_refusal(body.market)
    if refusal:
        return [refusal]
    rules = block_order_rules(body.market)
    reasons = []
    if any(o.block_index is None for o in body.orders):
        reasons.append("an exclusive group needs a block_index on every order; some orders carry none")
    blocks: dict[int, list[OrderIn]] = {}
    for order in body.orders:
        if order.block_index is not None:
            blocks.setdefault(order.block_index, []).append(order)
    if len(blocks) > rules.max_blocks_per_group:
        reasons.append(
            f"{len(blocks)} blocks in the exclusive group, above {rules.market_code}'s limit of "
            f"{rules.max_blocks_per_group} per group"
        )
    for block, orders in sorted(blocks.items()):
        mtus = [_mtu(o) for o in orders]
        repeated = sorted({m for m in mtus if mtus.count(m) > 1})
        if repeated:
            reasons.append(
                f"block {block}: {len(repeated)} MTU(s) with more than one step, e.g. {repeated[0][0].isoformat()}"
            )
        if len({o.limit_price_per_mwh for o in orders}) > 1:
            reasons.append(f"block {block}: more than one limit price (a block has one)")
        if len({o.mtu_minutes for o in orders}) > 1:
            reasons.append(f"block {block}: orders of different MTU lengths")
    if len({o.mtu_minutes for o in body.orders}) > 1:
        reasons.append("the blocks of an exclusive group must share one MTU length")
    return reasons


def _mtu(order: OrderIn) -> tuple[datetime, int]:
    t = order.delivery_start_utc
    return (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)), order.mtu_minutes


def position_breaches(body: OrderSetIn, live: list[OrderSetIn], limit_mw: float) -> list[str]:
    """One reason per MTU where ``body`` plus the participant's ``live`` order sets could leave a net position above
    ``limit_mw``: the worst case over the clearing price is every buy accepted (long) or every sell (short); an
    exclusive group counts as its largest block per MTU and side (only one block is ever accepted)."""
    totals: dict[tuple[datetime, int], list[float]] = {}
    for order_set in (body, *live):
        for mtu, (buy, sell) in _worst_case_by_mtu(order_set).items():
            side = totals.setdefault(mtu, [0.0, 0.0])
            side[0] += buy
            side[1] += sell
    reasons = []
    for (t, minutes), (buy, sell) in sorted(totals.items()):
        if max(buy, sell) > limit_mw + 1e-9 and any(_mtu(o) == (t, minutes) for o in body.orders):
            reasons.append(
                f"MTU {t.isoformat()} ({minutes} min): net position up to {max(buy, sell):g} MW (buy {buy:g}, sell "
                f"{sell:g}, with the participant's other live order sets) exceeds its position limit of "
                f"{limit_mw:g} MW"
            )
    return reasons


def _worst_case_by_mtu(order_set: OrderSetIn) -> dict[tuple[datetime, int], tuple[float, float]]:
    """(buy, sell) MW one order set can leave accepted per MTU: the sum of its steps, or for an exclusive group the
    largest block's."""
    per_block: dict[tuple[datetime, int], dict[int | None, list[float]]] = {}
    for order in order_set.orders:
        side = per_block.setdefault(_mtu(order), {}).setdefault(order.block_index, [0.0, 0.0])
        side[0 if order.side == "buy" else 1] += order.volume_mw
    return {
        mtu: (max(b[0] for b in blocks.values()), max(b[1] for b in blocks.values()))
        for mtu, blocks in per_block.items()
    }


def _digest(body: OrderSetIn) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _price_of(book: OrderBook, market_code: str, t: datetime) -> float | None:
    """The realised (first published) price of the hour containing ``t``."""
    days, index, values, starts = book.prices[market_code]
    market = get_market(market_code)
    local_day = t.astimezone(market.tz).date()
    i = index.get(local_day)
    if i is None:
        return None
    hour = int((t - starts[i]).total_seconds() // 3600)
    return float(values[i][hour]) if 0 <= hour < len(values[i]) else None


def _results(book: OrderBook, order_set: _OrderSet) -> list[dict]:
    market_code = get_market(order_set.body.market).code
    orders = order_set.body.orders
    prices = [_price_of(book, market_code, _mtu(o)[0]) for o in orders]
    if is_block_group(order_set.body):
        group_accepted = _clear_group(orders, prices)
    out = []
    for i, (order, price) in enumerate(zip(orders, prices, strict=True)):
        t = _mtu(order)[0]
        if is_block_group(order_set.body):
            accepted = bool(group_accepted[i])
        else:
            accepted = price is not None and is_accepted(order.side, order.limit_price_per_mwh, price)
        out.append(
            {
                "delivery_start_utc": t.isoformat(),
                "step_index": order.step_index,
                "side": order.side,
                "volume_mw": order.volume_mw,
                "limit_price_per_mwh": order.limit_price_per_mwh,
                "clearing_price_per_mwh": price,
                "accepted": bool(accepted),
                "accepted_volume_mw": order.volume_mw if accepted else 0.0,
                "block_index": order.block_index,
            }
        )
    return out


def _clear_group(orders: list[OrderIn], prices: list[float | None]) -> np.ndarray:
    """Per-order acceptance of an exclusive group (none accepted while an MTU has no price)."""
    if not orders or any(p is None for p in prices):
        return np.zeros(len(orders), dtype=bool)
    return accepted_block_steps(
        np.array([o.block_index for o in orders]),
        np.array([_mtu(o)[0].timestamp() for o in orders]),
        np.array([o.side for o in orders], dtype=object),
        np.array([o.volume_mw for o in orders]),
        np.array([o.limit_price_per_mwh for o in orders]),
        np.array(prices, dtype=float),
        orders[0].mtu_minutes / 60.0,
    )


def _view(book: OrderBook, order_set: _OrderSet, now: datetime, with_results: bool = True) -> dict:
    market = get_market(order_set.body.market)
    published = market.price_publication_utc(order_set.body.delivery_date)
    status = order_set.status
    if status == "accepted" and now >= published:
        status = "cleared"
    view = {
        "order_set_id": order_set.order_set_id,
        "client_order_set_id": order_set.body.client_order_set_id,
        "market": market.code,
        "delivery_date": order_set.body.delivery_date.isoformat(),
        "status": status,
        "received_at_utc": order_set.received_utc.isoformat(),
        "gate_closure_utc": market.gate_closure_utc(order_set.body.delivery_date).isoformat(),
        "results_published_at_utc": published.isoformat(),
        "n_orders": len(order_set.body.orders),
        "is_tradable": market.is_tradable,
    }
    if with_results and status == "cleared":
        view["results"] = _results(book, order_set)
    return view


def _error(status: int, detail: str | list[str]) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


@dataclass
class _OrderApi:
    """The order API's handlers over one book (``state``: the simulator's ``SimulatorState``; ``registry``: its
    fault registry, if the feeds are installed)."""

    book: OrderBook
    state: Any
    registry: Any = None

    def guard(self, request: Request, label: str) -> tuple[tuple[datetime, str] | None, JSONResponse | None]:
        """(now, participant) of an authenticated request, or the error answer."""
        token = bearer(request.headers.get("authorization"))
        if not is_valid_token(token, self.state.tokens):
            return None, _error(401, "Unauthorized. Missing or invalid bearer token.")
        failure = self._fault(request, label)
        if failure is not None:
            return None, failure
        try:
            now = self.state.clock.trading_now(parse_sim_header(request.headers.get(SIM_NOW_HEADER)))
        except RequestError as exc:
            return None, _error(400, exc.text)
        return (now, participant_id(token)), None

    def _fault(self, request: Request, label: str) -> JSONResponse | None:
        """The answer of an injected order fault armed for ``label``, if any."""
        spec = self.registry.take(label, request, wildcard=False) if self.registry is not None else None
        if spec is None or spec.kind not in ORDER_FAULT_KINDS:
            return None
        self.registry.note(label, spec)
        if spec.kind == "order_rejected":
            return _error(422, [spec.reason])
        return error_response(spec, {})

    def owned(self, order_set_id: str, participant: str) -> _OrderSet | None:
        order_set = self.book.sets.get(order_set_id)
        return order_set if order_set is not None and order_set.participant == participant else None

    def submit(self, body: OrderSetIn, now: datetime, participant: str) -> JSONResponse:
        """Accept a parsed order set (idempotent per client id) or say why not."""
        book = self.book
        reasons = validate_order_set(body)
        if reasons:
            return _error(422, reasons)
        market = get_market(body.market)
        if market.code not in book.prices:
            return _error(422, [f"market {market.code} is not served by this simulator"])
        gate = market.gate_closure_utc(body.delivery_date)
        digest = _digest(body)
        client_key = f"{participant}/{body.client_order_set_id}"
        with book.lock:
            existing_id = book.by_client_key.get(client_key)
            if existing_id is not None:
                existing = book.sets[existing_id]
                if existing.digest != digest:
                    return _error(409, f"client_order_set_id {body.client_order_set_id!r} was used for other orders")
                return JSONResponse(_view(book, existing, now, with_results=False), status_code=200)
            if now >= gate:
                return _error(409, f"gate closed at {gate.isoformat()} for {market.code} {body.delivery_date}")
            live = [
                o.body
                for o in book.sets.values()
                if o.participant == participant
                and o.status == "accepted"
                and get_market(o.body.market).code == market.code
                and o.body.delivery_date == body.delivery_date
            ]
            breaches = position_breaches(body, live, self.state.position_limit_mw)
            if breaches:
                return _error(422, breaches)
            order_set = _OrderSet(f"OS-{uuid.uuid4().hex[:12]}", body, digest, now, participant)
            book.sets[order_set.order_set_id] = order_set
            book.by_client_key[client_key] = order_set.order_set_id
        return JSONResponse(_view(book, order_set, now, with_results=False), status_code=201)

    def results(self, order_set_id: str, now: datetime, participant: str):
        order_set = self.owned(order_set_id, participant)
        if order_set is None:
            return _error(404, f"no order set {order_set_id}")
        view = _view(self.book, order_set, now)
        if view["status"] == "cancelled":
            return _error(409, f"order set {order_set_id} was cancelled")
        if view["status"] != "cleared":
            return _error(409, f"not cleared yet: results are published at {view['results_published_at_utc']}")
        return view

    def cancel(self, order_set_id: str, now: datetime, participant: str):
        with self.book.lock:
            order_set = self.owned(order_set_id, participant)
            if order_set is None:
                return _error(404, f"no order set {order_set_id}")
            market = get_market(order_set.body.market)
            gate = market.gate_closure_utc(order_set.body.delivery_date)
            if now >= gate:
                return _error(409, f"gate closed at {gate.isoformat()}: the order set can no longer be cancelled")
            order_set.status, order_set.cancelled_utc = "cancelled", now
        return _view(self.book, order_set, now, with_results=False)


def install_orders(app: FastAPI, state) -> OrderBook:
    """Add the order API to the simulator ``app`` (``state``: its ``SimulatorState``)."""
    registry = app.state.feeds.faults if hasattr(app.state, "feeds") else None

    prices = {}
    for (document_type, _domain), source in state.sources.items():
        if document_type == "A44":
            days = source.days
            prices[source.market.code] = (days.dates, days.index, days.values, days.starts_utc)
    book = OrderBook(prices=prices)
    api = _OrderApi(book, state, registry)
    router = APIRouter(tags=["orders"])

    @router.post(
        "/orders",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "content": {"application/json": {"schema": OrderSetIn.model_json_schema()}},
                "required": True,
            }
        },
    )
    async def submit(request: Request):
        """Submit an order set before gate closure (see module docstring). Authentication comes before parsing."""
        who, failure = api.guard(request, "orders.submit")
        if failure:
            return failure
        now, participant = who
        try:
            body = OrderSetIn.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else [str(exc)]
            return _error(422, [str(e) for e in errors])
        return api.submit(body, now, participant)

    @router.get("/orders/{order_set_id}")
    def get_order_set(order_set_id: str, request: Request):
        """The order set and its status; results once cleared."""
        who, failure = api.guard(request, "orders.status")
        if failure:
            return failure
        now, participant = who
        order_set = api.owned(order_set_id, participant)
        if order_set is None:
            return _error(404, f"no order set {order_set_id}")
        return _view(book, order_set, now)

    @router.get("/orders/{order_set_id}/results")
    def get_results(order_set_id: str, request: Request):
        """Per-order results after the auction (409 before the prices are published)."""
        who, failure = api.guard(request, "orders.results")
        return failure if failure else api.results(order_set_id, *who)

    @router.delete("/orders/{order_set_id}")
    def cancel(order_set_id: str, request: Request):
        """Cancel an order set before gate closure."""
        who, failure = api.guard(request, "orders.cancel")
        return failure if failure else api.cancel(order_set_id, *who)

    app.include_router(router)
    app.state.order_book = book
    return book
