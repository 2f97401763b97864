"""Fault injection for the feed endpoints, configurable per endpoint and per request.

Per endpoint: ``POST /admin/faults`` queues faults (``times`` each, optionally ``after`` N requests that pass)
for an endpoint label (e.g. ``ckw.dynamic_prices``, or ``*`` for any); each request to the endpoint consumes the
oldest one.
Per request: the header ``X-GridDesk-Fault: <kind>[;key=value...]`` (e.g. ``http_5xx;status=502``) applies
to that request only and wins over the queue. ``GET /admin/faults`` lists the queue and every fault injected
so far; ``DELETE /admin/faults`` clears both.

Kinds:

==========================  =====================================================================================
``http_5xx``                answer ``status`` (default 503) with a JSON error
``timeout``                 wait ``delay_s`` (default 2 s) before answering normally: the client times out
``rate_limit``              429 with ``Retry-After: retry_after_s`` and ``x-ratelimit-*`` (remaining 0)
``truncated``               the body cut in half (JSON; on ENTSO-E ``/api`` the XML), Content-Length matching
``malformed``               a JSON body with a syntax error; on ENTSO-E ``/api`` an XML document whose first
                            closing tag is misspelt: a complete HTTP answer that the parser must refuse
``schema_drift_rename``     rename ``field`` (default per endpoint) to ``renamed_to`` (default ``<field>_v2``)
``schema_drift_extra``      add the field ``renamed_to`` (default ``extra_field``) next to ``field``
``duplicate_intervals``     repeat ``n_intervals`` (default 1) intervals in the middle of the answer
``missing_intervals``       drop ``n_intervals`` (default 1) intervals in the middle of the answer
``expired_token``           401 ``invalid_token``/"token expired", as for a token past its ``exp``
``value_shift``             ENTSO-E ``/api`` only: every served value becomes ``value * factor + offset`` (defaults
                            1 and 0), e.g. A44 prices 40 EUR/MWh too high for the request's window: bad data that
                            parses and loads, so realised prices drift away from the stored forecasts
``order_rejected``          order API only: 422 with ``reason`` (default "injected rejection") as the detail, as
                            the exchange answers an order set it refuses
==========================  =====================================================================================

Payload faults act on what the endpoint's :class:`Shape` exposes; an endpoint without intervals (plant live)
does not accept ``duplicate_intervals`` or ``missing_intervals``.

Besides the feeds, two other parts of the simulator take faults queued for their own labels (a ``*`` fault never
reaches them, so queuing one for the feeds leaves prices and orders alone): the ENTSO-E endpoint as
``entsoe.<documentType>`` (``entsoe.A44`` for day-ahead prices; ``http_5xx``, ``timeout``, ``rate_limit``,
``truncated``, ``malformed``, ``expired_token``, ``value_shift``), and the order API as ``orders.submit``,
``orders.status``, ``orders.results``, ``orders.cancel`` (``http_5xx``, ``timeout``, ``rate_limit``,
``expired_token``, ``order_rejected``). Other kinds are not injected there.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

FAULT_HEADER = "X-GridDesk-Fault"
FaultKind = Literal[
    "http_5xx",
    "timeout",
    "rate_limit",
    "truncated",
    "malformed",
    "schema_drift_rename",
    "schema_drift_extra",
    "duplicate_intervals",
    "missing_intervals",
    "expired_token",
    "value_shift",
    "order_rejected",
]
INTERVAL_KINDS = ("duplicate_intervals", "missing_intervals")


class FaultSpec(BaseModel):
    """One fault to inject; unused parameters are ignored by the kinds that do not need them."""

    endpoint: str = Field("*", description="Endpoint label (e.g. ckw.dynamic_prices) or * for every endpoint.")
    kind: FaultKind
    times: int = Field(1, ge=1, le=10_000, description="How many requests the fault applies to.")
    status: int = Field(503, ge=500, le=599, description="http_5xx: the status code.")
    delay_s: float = Field(2.0, ge=0, le=60, description="timeout: seconds to wait before answering.")
    retry_after_s: int = Field(1, ge=0, le=3600, description="rate_limit: the Retry-After value, seconds.")
    field: str | None = Field(None, description="schema drift: the field to rename (default per endpoint).")
    renamed_to: str | None = Field(None, description="schema drift: the new or extra field name.")
    n_intervals: int = Field(1, ge=1, description="duplicate/missing_intervals: how many intervals.")
    after: int = Field(0, ge=0, description="Let this many requests to the endpoint pass before the fault applies.")
    factor: float = Field(1.0, description="value_shift: multiply every served value by this.")
    offset: float = Field(0.0, description="value_shift: then add this (the series' unit, e.g. EUR/MWh).")
    reason: str = Field("injected rejection", description="order_rejected: the exchange's reason.")


@dataclass(frozen=True)
class Shape:
    """What payload faults may touch in an endpoint's answer.

    ``records``: lists of per-interval records (list of dicts) in the payload; ``columns``: columnar blocks
    (dicts of equal-length lists, ``time_key`` naming the time axis); ``drift``: the object whose ``field`` a
    drift fault renames or extends.
    """

    drift_field: str
    drift: Callable[[Any], Any]
    records: Callable[[Any], list[list]] | None = None
    columns: Callable[[Any], list[dict]] | None = None
    time_key: str = "time"

    @property
    def has_intervals(self) -> bool:
        return self.records is not None or self.columns is not None


@dataclass
class FaultRegistry:
    """Queued faults per endpoint and the log of injected ones (thread-safe)."""

    queued: dict[str, deque[list]] = field(default_factory=dict)  # endpoint -> [[spec, remaining, skip], ...]
    injected: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spec: FaultSpec) -> None:
        with self.lock:
            self.queued.setdefault(spec.endpoint, deque()).append([spec, spec.times, spec.after])

    def clear(self) -> dict:
        with self.lock:
            n_queued = sum(len(q) for q in self.queued.values())
            n_injected = len(self.injected)
            self.queued.clear()
            self.injected.clear()
        return {"cleared_queued": n_queued, "cleared_injected": n_injected}

    def take(self, endpoint: str, request: Request, wildcard: bool = True) -> FaultSpec | None:
        """The fault for this request: the header's, else the oldest queued for the endpoint, else for ``*``
        (unless ``wildcard`` is False: prices and orders take only faults queued for their own label)."""
        header = request.headers.get(FAULT_HEADER)
        if header:
            return parse_fault_header(header, endpoint)
        with self.lock:
            for key in (endpoint, "*") if wildcard else (endpoint,):
                queue = self.queued.get(key)
                if queue:
                    entry = queue[0]
                    if entry[2] > 0:  # requests to let through first
                        entry[2] -= 1
                        return None
                    entry[1] -= 1
                    if entry[1] <= 0:
                        queue.popleft()
                    return entry[0]
        return None

    def note(self, endpoint: str, spec: FaultSpec) -> None:
        with self.lock:
            self.injected.append({"endpoint": endpoint, "kind": spec.kind, "at_utc": datetime.now(UTC).isoformat()})

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "queued": [
                    {**entry[0].model_dump(), "remaining": entry[1]} for q in self.queued.values() for entry in q
                ],
                "injected": list(self.injected),
            }


def parse_fault_header(header: str, endpoint: str) -> FaultSpec:
    """``kind[;key=value...]`` as a :class:`FaultSpec` for ``endpoint``.

    Raises:
        HTTPException(400): unknown kind or parameter.
    """
    parts = [p.strip() for p in header.split(";") if p.strip()]
    values: dict[str, Any] = {"endpoint": endpoint, "kind": parts[0]}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        values[key.strip()] = value.strip()
    try:
        return FaultSpec(**values)
    except ValueError as exc:
        raise HTTPException(400, f"bad {FAULT_HEADER} header {header!r}: {exc}") from None


# ------------------------------------------------------------------------------------------------------------
# applying a fault
# ------------------------------------------------------------------------------------------------------------


def duplicate_or_drop(payload: Any, shape: Shape, spec: FaultSpec) -> bool:
    """Mutate ``payload``: repeat or remove ``n_intervals`` intervals in the middle. False when nothing to touch."""
    touched = False
    for records in shape.records(payload) if shape.records else []:
        if not records:
            continue
        mid = len(records) // 2
        if spec.kind == "duplicate_intervals":
            chunk = [copy.deepcopy(r) for r in records[mid : mid + spec.n_intervals]]
            records[mid + len(chunk) : mid + len(chunk)] = chunk
        else:
            del records[mid : mid + spec.n_intervals]
        touched = True
    for block in shape.columns(payload) if shape.columns else []:
        n = len(block.get(shape.time_key, []))
        if not n:
            continue
        mid = n // 2
        for values in block.values():
            if isinstance(values, list) and len(values) == n:
                if spec.kind == "duplicate_intervals":
                    values[mid + spec.n_intervals : mid + spec.n_intervals] = values[mid : mid + spec.n_intervals]
                else:
                    del values[mid : mid + spec.n_intervals]
        touched = True
    return touched


def _drift(payload: Any, shape: Shape, spec: FaultSpec) -> bool:
    target_field = spec.field or shape.drift_field
    targets = shape.drift(payload)
    targets = targets if isinstance(targets, list) else [targets]
    touched = False
    for obj in targets:
        if not isinstance(obj, dict) or target_field not in obj:
            continue
        if spec.kind == "schema_drift_rename":
            new = spec.renamed_to or f"{target_field}_v2"
            # keep the key order, so the renamed field sits where the old one was
            items = [(new if k == target_field else k, v) for k, v in obj.items()]
            obj.clear()
            obj.update(items)
        else:
            obj[spec.renamed_to or "extra_field"] = "griddesk-sim"
        touched = True
    return touched


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(spec: FaultSpec, headers: dict[str, str]) -> Response | None:
    """The answer of a transport fault (401, 5xx, 429) or None; ``timeout`` sleeps here and answers normally."""
    if spec.kind == "expired_token":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token", error_description="token expired"'
        return json_response({"error": "invalid_token", "error_description": "token expired"}, 401, headers)
    if spec.kind == "http_5xx":
        return json_response(
            {"error": "server_error", "message": f"injected fault {spec.status}"}, spec.status, headers
        )
    if spec.kind == "rate_limit":
        headers.update(
            {
                "Retry-After": str(spec.retry_after_s),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(spec.retry_after_s * 1000),
            }
        )
        headers.setdefault("x-ratelimit-limit", "0")
        return json_response({"error": "too_many_requests", "message": "rate limit exceeded"}, 429, headers)
    if spec.kind == "timeout":
        time.sleep(spec.delay_s)
    return None


def respond(
    registry: FaultRegistry,
    request: Request,
    endpoint: str,
    build: Callable[[], Any],
    shape: Shape | None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer ``request``: the payload ``build()`` returns, unless a fault applies (see module docstring).

    ``headers`` (e.g. ``x-ratelimit-*``) go on every answer, faulty or not.
    """
    headers = dict(headers or {})
    spec = registry.take(endpoint, request)
    if spec is None:
        return json_response(build(), headers=headers)
    if spec.kind in INTERVAL_KINDS and (shape is None or not shape.has_intervals):
        return json_response(build(), headers=headers)  # nothing to touch: not injected
    if spec.kind in ("value_shift", "order_rejected"):
        return json_response(build(), headers=headers)  # not a feed fault: not injected
    registry.note(endpoint, spec)
    failure = error_response(spec, headers)
    if failure is not None:
        return failure
    if spec.kind == "timeout":
        return json_response(build(), headers=headers)
    payload = build()
    if spec.kind in INTERVAL_KINDS:
        duplicate_or_drop(payload, shape, spec)
    elif spec.kind in ("schema_drift_rename", "schema_drift_extra") and shape is not None:
        _drift(payload, shape, spec)
    response = json_response(payload, headers=headers)
    if spec.kind == "truncated":
        response.body = response.body[: len(response.body) // 2]
        response.headers["content-length"] = str(len(response.body))
    elif spec.kind == "malformed":
        response.body = response.body.replace(b":", b"=", 1)
    return response


def admin_router(registry: FaultRegistry) -> APIRouter:
    """``/admin/faults``: queue, list and clear faults."""
    router = APIRouter(prefix="/admin/faults", tags=["faults"])

    @router.post("", status_code=201)
    def add_fault(spec: FaultSpec) -> dict:
        """Queue a fault for the next ``times`` requests to ``endpoint``."""
        registry.add(spec)
        return registry.snapshot()

    @router.get("")
    def list_faults() -> dict:
        """Queued faults and every fault injected so far."""
        return registry.snapshot()

    @router.delete("")
    def clear_faults() -> dict:
        """Forget queued and injected faults."""
        return registry.clear()

    return router
