"""The market simulator: the epftoolbox datasets served as the ENTSO-E Transparency Platform REST API.

``GET /api`` answers like ``web-api.tp.entsoe.eu/api``:

- ``documentType=A44&in_Domain=&out_Domain=`` -> day-ahead prices (``Publication_MarketDocument``);
- ``documentType=A65&processType=A01&outBiddingZone_Domain=`` -> day-ahead load forecast (``GL_MarketDocument``);
- ``documentType=A69|A71&processType=A01&in_Domain=`` -> wind/solar or generation forecast (``GL_MarketDocument``);
- ``periodStart``/``periodEnd`` are UTC ``yyyyMMddHHmm``, at most one year apart.

Which series lives at which (documentType, domain) comes from ``griddesk.markets.MARKETS[..].exogenous``. A series
shared by several markets (BE's exogenous series are the French ones) is served once, from the first configured
market that carries it.

Rules the simulator enforces, as the real API does or as GridDesk's point-in-time discipline needs:

- A missing securityToken, or one not among the participant tokens configured at start (``GRIDDESK_SIM_TOKENS``;
  unset: GridDesk's own configured tokens; see :mod:`griddesk.simulator.security`) -> 401, never quoting it.
- Bad or missing parameters, or a window over one year -> 400 with an ``Acknowledgement_MarketDocument``.
- Nothing to serve (unknown domain, not yet published) -> 200 with an acknowledgement, Reason 999
  "No matching data found for Data item ...".
- Point in time: "now" is the simulator's clock (:class:`griddesk.simulator.security.SimClock`): the instant set with
  ``PUT /admin/clock``, else the wall clock; the ``X-GridDesk-Sim-Now`` request header (ISO-8601, UTC) can only move
  a read back in time, except in backtest mode (``--backtest``), where it is the clock. Only whole delivery days
  (local days of the market) whose publication time is <= now are served: prices at
  ``Market.price_publication_utc(D)``, exogenous forecasts at ``Market.exogenous_publication_utc(D)``.
  ``createdDateTime`` is the latest publication time among the days in the document.
- ``/admin/*`` (revisions, faults, clock) needs ``Authorization: Bearer <admin token>``, else 401.
- Revisions (``POST /admin/revisions``) replace a day's values for requests whose now >= their ``published_at``;
  revision k of a day is served with ``revisionNumber`` k + 1 (the document carries the highest among its days).
- DST days are real: 23 or 25 hourly points. The autumn repeated hour carries the dataset's single averaged value
  twice; ENTSO-E has no field for that, so the XML does not mark it: ``GET /meta/imputed`` lists those hours.
- Faults (``POST /admin/faults``, see :mod:`griddesk.simulator.feeds.faults`) queued for ``entsoe.<documentType>``
  apply to this endpoint: transport failures, and ``value_shift`` (served values scaled and shifted: a wrong
  publication that still parses).
- Markets in ``Settings.pt15m_market_codes`` get their A44 prices at PT15M (each hourly value repeated four times),
  with curveType A03 and repeated positions omitted, as the real API compresses. Exogenous series stay PT60M/A01.
"""

from __future__ import annotations

import bisect
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np
import pandas as pd
from fastapi import Body, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from griddesk import datasets
from griddesk.markets import ExogenousSeries, Market, get_market
from griddesk.settings import Settings, get_settings
from griddesk.simulator import entsoe_xml as xml
from griddesk.simulator.feeds import install_feeds
from griddesk.simulator.feeds.faults import error_response
from griddesk.simulator.orders import install_orders
from griddesk.simulator.security import SimClock, admin_token, bearer, is_valid_token, participant_tokens
from griddesk.simulator.sim_request import (
    SIM_NOW_HEADER,
    RequestError,
    parse_sim_header,
)

log = logging.getLogger(__name__)

XML_MEDIA_TYPE = "text/xml"
SUPPORTED_DOCUMENT_TYPES = ("A44", "A65", "A69", "A71")
#: Data item names as the real API quotes them in "No matching data found" acknowledgements.
DATA_ITEMS = {
    "A44": "ENERGY_PRICES [12.1.D]",
    "A65": "DAY_AHEAD_TOTAL_LOAD_FORECAST_R3 [6.1.B]",
    "A69": "WIND_AND_SOLAR_FORECAST_R3 [14.1.D]",
    "A71": "DAY_AHEAD_AGGREGATED_GENERATION_R3 [14.1.C]",
}
#: The request parameter that names the area, per documentType.
DOMAIN_PARAMS = {"A44": ("in_Domain", "out_Domain"), "A65": ("outBiddingZone_Domain",), "A69": ("in_Domain",)}
DOMAIN_PARAMS["A71"] = DOMAIN_PARAMS["A69"]

#: Fault kinds the ENTSO-E endpoint takes (queued for ``entsoe.<documentType>``); others are not injected here.
ENTSOE_FAULT_KINDS = ("http_5xx", "timeout", "rate_limit", "truncated", "malformed", "expired_token", "value_shift")

SourceKey = tuple[str, str]  # (documentType, domain EIC)


# --------------------------------------------------------------------------------------------------------------------
# in-memory data
# --------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _day_bounds(market: Market, day: date) -> tuple[datetime, datetime]:
    return market.delivery_day_bounds_utc(day)


@dataclass(frozen=True)
class DaySeries:
    """One series split into local delivery days, sorted; ``values[i]`` are hourly (23/24/25)."""

    dates: list[date]
    starts_utc: list[datetime]
    ends_utc: list[datetime]
    values: list[np.ndarray]
    published_utc: list[datetime]
    index: dict[date, int]

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, column: str, market: Market, published: Callable[[date], datetime]
    ) -> DaySeries:
        """Split the loader frame's ``column`` by ``delivery_date_local``; checks each day is complete.

        Raises:
            ValueError: A day does not have the 23, 24 or 25 hours of its local calendar day.
        """
        local_dates = df["delivery_date_local"].to_numpy()
        values = df[column].to_numpy(dtype=float)
        cut = np.flatnonzero(local_dates[1:] != local_dates[:-1]) + 1
        bounds = np.concatenate([[0], cut, [len(df)]])
        dates = [local_dates[lo] for lo in bounds[:-1]]
        starts, ends = zip(*(_day_bounds(market, d) for d in dates), strict=True) if dates else ((), ())
        for lo, hi, day, start, end in zip(bounds[:-1], bounds[1:], dates, starts, ends, strict=True):
            if (hi - lo) * 3600 != (end - start).total_seconds():
                raise ValueError(f"{market.code} {column}: {day} has {hi - lo} hours, expected a whole local day")
        return cls(
            dates=dates,
            starts_utc=list(starts),
            ends_utc=list(ends),
            values=[values[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)],
            published_utc=[published(d) for d in dates],
            index={d: i for i, d in enumerate(dates)},
        )

    def overlapping(self, start: datetime, end: datetime) -> range:
        """Indices of the days whose UTC interval intersects the window [start, end)."""
        return range(bisect.bisect_right(self.ends_utc, start), bisect.bisect_left(self.starts_utc, end))


@dataclass(frozen=True)
class Source:
    """What is served at one (documentType, domain): which market's dataset column, and how."""

    document_type: str
    domain_eic: str
    market: Market
    column: str
    series: ExogenousSeries | None
    days: DaySeries
    resolution_minutes: int = 60

    @property
    def key(self) -> SourceKey:
        return (self.document_type, self.domain_eic)


@dataclass(frozen=True)
class Revision:
    """A corrected publication of one day: hourly values visible from ``published_utc`` on."""

    published_utc: datetime
    values: np.ndarray


@dataclass
class SimulatorState:
    """Everything the app serves: sources by (documentType, domain), datasets, and revisions (in memory)."""

    sources: dict[SourceKey, Source]
    frames: dict[str, pd.DataFrame]
    data_kind: str  # "real" or "synthetic"
    tokens: frozenset[str]
    clock: SimClock = field(default_factory=SimClock)
    position_limit_mw: float = 25.0
    revisions: dict[tuple[SourceKey, date], list[Revision]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def effective(self, source: Source, i: int, now: datetime) -> tuple[np.ndarray, int, datetime]:
        """Values, revisionNumber and publication time of day ``i`` as known at ``now``."""
        with self.lock:
            revisions = list(self.revisions.get((source.key, source.days.dates[i]), ()))
        for number in range(len(revisions), 0, -1):
            revision = revisions[number - 1]
            if revision.published_utc <= now:
                return revision.values, number + 1, revision.published_utc
        return source.days.values[i], 1, source.days.published_utc[i]


def _build_sources(
    markets: list[Market], frames: Mapping[str, pd.DataFrame], pt15m: set[str]
) -> dict[SourceKey, Source]:
    sources: dict[SourceKey, Source] = {}
    for market in markets:
        df = frames[market.code]
        key = ("A44", market.bidding_zone_eic)
        sources[key] = Source(
            "A44",
            market.bidding_zone_eic,
            market,
            "price_per_mwh",
            None,
            DaySeries.from_frame(df, "price_per_mwh", market, market.price_publication_utc),
            resolution_minutes=15 if market.code in pt15m else 60,
        )
        for series in market.exogenous:
            key = (series.document_type, series.domain_eic)
            if key in sources:
                continue  # shared series (BE's are FR's): serve it once, from the first market carrying it
            column = f"exog_{series.dataset_column}"
            days = DaySeries.from_frame(df, column, market, market.exogenous_publication_utc)
            sources[key] = Source(series.document_type, series.domain_eic, market, column, series, days)
    return sources


# --------------------------------------------------------------------------------------------------------------------
# request parsing
# --------------------------------------------------------------------------------------------------------------------


def parse_period(name: str, value: str | None) -> datetime:
    """Parse ``yyyyMMddHHmm`` (UTC). Raises ``RequestError`` naming the parameter."""
    if not value:
        raise RequestError(f"Mandatory parameter {name} is missing.")
    try:
        if len(value) != 12 or not value.isdigit():
            raise ValueError
        return datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        raise RequestError(f"Parameter {name}={value!r} is not a valid yyyyMMddHHmm UTC time.") from None


def add_one_year(t: datetime) -> datetime:
    """Same instant one calendar year later (29 February maps to 1 March)."""
    try:
        return t.replace(year=t.year + 1)
    except ValueError:
        return t.replace(year=t.year + 1, month=3, day=1)


def break_xml(body: bytes) -> bytes:
    """The document with its first closing tag misspelt (``</Point>`` -> ``</Point_broken>``): no longer
    well-formed XML, though every byte of it arrives."""
    start = body.find(b"</")
    end = body.find(b">", start)
    if start < 0 or end < 0:
        return body + b"<"
    return body[:end] + b"_broken" + body[end:]


def _xml_response(body: str, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=XML_MEDIA_TYPE)


def _ack(now: datetime, text: str, status: int = 200) -> Response:
    return _xml_response(xml.acknowledgement_document(created=now, reason_text=text), status)


# --------------------------------------------------------------------------------------------------------------------
# the document endpoint
# --------------------------------------------------------------------------------------------------------------------


def _serve(
    state: SimulatorState,
    params: Mapping[str, str],
    now: datetime,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Response:
    document_type = params.get("documenttype", "")
    if not document_type:
        raise RequestError("Mandatory parameter documentType is missing.")
    if document_type not in SUPPORTED_DOCUMENT_TYPES:
        raise RequestError(
            f"documentType={document_type!r} is not served by the GridDesk simulator "
            f"(supported: {', '.join(SUPPORTED_DOCUMENT_TYPES)})."
        )
    start = parse_period("periodStart", params.get("periodstart"))
    end = parse_period("periodEnd", params.get("periodend"))
    if end <= start:
        raise RequestError(f"periodEnd {xml.interval_time(end)} must be after periodStart {xml.interval_time(start)}.")
    if end > add_one_year(start):
        raise RequestError(
            "The amount of requested data exceeds allowed limit: the time interval "
            f"{xml.ack_interval(start, end)} is longer than one year."
        )
    domains = []
    for name in DOMAIN_PARAMS[document_type]:
        value = params.get(name.lower(), "")
        if not value:
            raise RequestError(f"Mandatory parameter {name} is missing for documentType {document_type}.")
        domains.append(value)
    process_type = params.get("processtype", "")
    if document_type != "A44" and not process_type:
        raise RequestError(f"Mandatory parameter processType is missing for documentType {document_type}.")

    no_data = (
        f"No matching data found for Data item {DATA_ITEMS[document_type]} {xml.join_domains(domains)} "
        f"and interval {xml.ack_interval(start, end)}."
    )
    source = state.sources.get((document_type, domains[0]))
    if source is None or len(set(domains)) != 1 or (process_type and process_type != "A01"):
        return _ack(now, no_data)
    psr_filter = params.get("psrtype")
    if psr_filter and (source.series is None or source.series.psr_type != psr_filter):
        return _ack(now, no_data)

    curves: list[xml.DayCurve] = []
    revision_number, created = 1, None
    curve_type = "A03" if source.resolution_minutes != 60 else "A01"
    for i in source.days.overlapping(start, end):
        if source.days.published_utc[i] > now:
            continue  # never reveal a day before its publication time
        values, number, published = state.effective(source, i, now)
        if transform is not None:
            values = transform(values)
        revision_number = max(revision_number, number)
        created = published if created is None else max(created, published)
        curves.append(
            xml.DayCurve(
                source.days.starts_utc[i], source.days.ends_utc[i], values, source.resolution_minutes, curve_type
            )
        )
    if not curves:
        return _ack(now, no_data)
    mrid = xml.document_mrid(
        document_type, domains[0], curves[0].start_utc, curves[-1].end_utc, revision_number, created
    )
    if document_type == "A44":
        body = xml.publication_document(
            mrid=mrid,
            revision_number=revision_number,
            created=created,
            domain_eic=source.domain_eic,
            currency=source.market.currency,
            curves=curves,
        )
    else:
        body = xml.gl_document(
            mrid=mrid,
            revision_number=revision_number,
            created=created,
            document_type=document_type,
            process_type="A01",
            domain_eic=source.domain_eic,
            psr_type=source.series.psr_type if source.series else None,
            curves=curves,
        )
    return _xml_response(body)


# --------------------------------------------------------------------------------------------------------------------
# admin: revisions
# --------------------------------------------------------------------------------------------------------------------


class RevisionIn(BaseModel):
    """A corrected publication of one delivery day of one series."""

    market: str = Field(description="Market code, e.g. FR.")
    documentType: str = Field(description="A44, A65, A69 or A71.")  # noqa: N815 - ENTSO-E's spelling
    delivery_date: date = Field(description="Local delivery day.")
    series: str | None = Field(None, description="ExogenousSeries.series_code when documentType is ambiguous.")
    values: list[float] | None = Field(None, description="Hourly values for the whole day (23, 24 or 25).")
    multiplier: float | None = Field(None, description="Alternatively: scale the original values by this factor.")
    published_at: datetime = Field(description="When the revision becomes visible (ISO-8601, UTC if naive).")

    @model_validator(mode="after")
    def _values_xor_multiplier(self) -> RevisionIn:
        if (self.values is None) == (self.multiplier is None):
            raise ValueError("give exactly one of 'values' or 'multiplier'")
        return self


def _revision_source(state: SimulatorState, body: RevisionIn) -> Source:
    try:
        market = get_market(body.market)
    except KeyError as exc:
        raise HTTPException(422, str(exc.args[0])) from None
    if body.documentType == "A44":
        key = ("A44", market.bidding_zone_eic)
    else:
        candidates = [
            s
            for s in market.exogenous
            if s.document_type == body.documentType and (body.series is None or s.series_code == body.series)
        ]
        if len(candidates) != 1:
            known = ", ".join(f"{s.document_type}/{s.series_code}" for s in market.exogenous)
            raise HTTPException(
                422, f"{market.code} has {len(candidates)} series matching {body.documentType}/{body.series}; {known}"
            )
        key = (candidates[0].document_type, candidates[0].domain_eic)
    source = state.sources.get(key)
    if source is None:
        raise HTTPException(422, f"{key} is not served: market {market.code} is not loaded in this simulator")
    return source


def _add_revision(state: SimulatorState, body: RevisionIn) -> dict:
    source = _revision_source(state, body)
    i = source.days.index.get(body.delivery_date)
    if i is None:
        raise HTTPException(422, f"{source.key} has no delivery day {body.delivery_date} in the dataset")
    original = source.days.values[i]
    if body.values is not None:
        if len(body.values) != len(original):
            raise HTTPException(
                422, f"{body.delivery_date} has {len(original)} hours (real DST), got {len(body.values)} values"
            )
        values = np.asarray(body.values, dtype=float)
    else:
        values = original * float(body.multiplier)
    published = body.published_at
    published = published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)
    if published < source.days.published_utc[i]:
        raise HTTPException(
            422,
            f"published_at {published.isoformat()} is before the original publication "
            f"{source.days.published_utc[i].isoformat()}",
        )
    with state.lock:
        revisions = state.revisions.setdefault((source.key, body.delivery_date), [])
        revisions.append(Revision(published, values))
        revisions.sort(key=lambda r: r.published_utc)
        number = 1 + next(k for k, r in enumerate(revisions, start=1) if r.values is values)
    return {
        "market": source.market.code,
        "documentType": source.document_type,
        "domain": source.domain_eic,
        "delivery_date": body.delivery_date.isoformat(),
        "published_at": published.isoformat(),
        "revision_number": number,
    }


# --------------------------------------------------------------------------------------------------------------------
# app factory
# --------------------------------------------------------------------------------------------------------------------


class ClockIn(BaseModel):
    """The simulator's clock, set by its operator (the orchestrator of ``make run``)."""

    now: datetime = Field(description="The simulated time (ISO-8601, UTC if naive); it stays there until changed.")


def _admin_secret(settings: Settings) -> str:
    """The admin token; when the state dir is not writable (a read-only container) and none is configured, a random
    one nobody knows: ``/admin/*`` is then closed, never open."""
    try:
        return admin_token(settings)
    except OSError as exc:
        log.warning(
            "/admin/* is closed: set GRIDDESK_SIM_ADMIN_TOKEN (could not keep a generated admin token: %s)",
            exc.strerror or type(exc).__name__,
        )
        return secrets.token_urlsafe(32)


def create_app(
    settings: Settings | None = None,
    markets: Iterable[str] | None = None,
    *,
    frames: Mapping[str, pd.DataFrame] | None = None,
    tokens: Iterable[str] | None = None,
    admin: str | None = None,
    backtest: bool | None = None,
    position_limit_mw: float | None = None,
) -> FastAPI:
    """Build the simulator app; data are loaded (and validated) here, not on the first request.

    Args:
        settings: Platform settings; default ``get_settings()``. Uses ``data_dir`` (via
            ``datasets.load_market_data``) and ``pt15m_market_codes``.
        markets: Market codes to serve; default the codes of ``frames`` if given, else ``settings.market_codes``.
        frames: Preloaded datasets by market code (loader format), e.g. ``datasets.synthetic_epftoolbox``; markets
            not in it are loaded with ``datasets.load_market_data``.
        tokens: Accepted participant tokens; default ``GRIDDESK_SIM_TOKENS``, else GridDesk's configured tokens.
        admin: The admin token of ``/admin/*``; default :func:`griddesk.simulator.security.admin_token`.
        backtest: Honour the ``X-GridDesk-Sim-Now`` header as the clock; default ``GRIDDESK_SIM_BACKTEST``.
        position_limit_mw: Each participant's net position limit per MTU; default ``GRIDDESK_SIM_POSITION_LIMIT_MW``.

    Raises:
        KeyError: Unknown market code.
        FileNotFoundError, datasets.DatasetError: The data folder or a CSV is missing or malformed.
    """
    settings = settings or get_settings()
    state, loaded = _load_state(settings, markets, frames, tokens, backtest, position_limit_mw)
    admin_secret = admin or _admin_secret(settings)

    app = FastAPI(
        title="GridDesk market simulator",
        description=__doc__,
        version="1",
        docs_url="/docs",
    )
    app.state.simulator = state
    _install_admin_guard(app, admin_secret)
    # operational feeds, see docs/feeds.md
    feeds = install_feeds(app, settings, loaded)
    feeds.clock = state.clock
    # day-ahead order API, see docs/bidding.md
    install_orders(app, state)
    _install_entsoe_api(app, state, feeds)
    _install_admin_routes(app, state)
    return app


def _load_state(
    settings: Settings,
    markets: Iterable[str] | None,
    frames: Mapping[str, pd.DataFrame] | None,
    tokens: Iterable[str] | None,
    backtest: bool | None,
    position_limit_mw: float | None,
) -> tuple[SimulatorState, dict[str, pd.DataFrame]]:
    """The simulator's state (sources, tokens, clock) and the datasets served, by market code (see
    :func:`create_app`)."""
    frames = dict(frames or {})
    codes = list(markets) if markets is not None else (list(frames) if frames else settings.market_codes)
    market_list = [get_market(c) for c in codes]
    loaded = {m.code: frames.get(m.code) for m in market_list}
    for code, df in loaded.items():
        if df is None:
            loaded[code] = datasets.load_market_data(code, settings)
    synthetic = [code for code, df in loaded.items() if datasets.is_synthetic(df)]
    state = SimulatorState(
        sources=_build_sources(market_list, loaded, settings.pt15m_market_codes),
        frames=loaded,
        data_kind="synthetic" if synthetic else "real",
        tokens=participant_tokens(tokens, settings),
        clock=SimClock(backtest=settings.sim_backtest if backtest is None else backtest),
        position_limit_mw=settings.sim_position_limit_mw if position_limit_mw is None else position_limit_mw,
    )
    if synthetic:
        log.warning("SYNTHETIC DATA: the simulator serves synthetic series for %s", ", ".join(synthetic))
    return state, loaded


def _install_admin_guard(app: FastAPI, admin_secret: str) -> None:
    @app.middleware("http")
    async def admin_only(request: Request, call_next):
        """``/admin/*`` needs the admin token; the answer never quotes what was sent."""
        is_admin = request.scope["path"].split("/")[1:2] == ["admin"]
        if is_admin and not is_valid_token(bearer(request.headers.get("authorization")), frozenset({admin_secret})):
            return JSONResponse(
                {"detail": "Unauthorized: /admin/* needs the simulator's admin token (Authorization: Bearer)."},
                status_code=401,
            )
        return await call_next(request)


def _install_entsoe_api(app: FastAPI, state: SimulatorState, feeds) -> None:
    @app.get("/health")
    def health() -> dict:
        """Liveness, the markets served, and whether the data are real or synthetic."""
        return {"status": "ok", "markets": list(state.frames), "data": state.data_kind}

    @app.get("/api", response_class=Response, responses={200: {"content": {XML_MEDIA_TYPE: {}}}})
    def api(request: Request) -> Response:
        """The ENTSO-E Transparency Platform REST endpoint (see module docstring)."""
        return _answer_api(state, feeds, request)

    @app.get("/meta/imputed")
    def imputed(market: str, periodStart: str | None = None, periodEnd: str | None = None) -> dict:  # noqa: N803
        """Delivery hours (UTC) whose values are imputed (the autumn repeated hour); the XML cannot say so."""
        return _imputed(state, market, periodStart, periodEnd)


def _answer_api(state: SimulatorState, feeds, request: Request) -> Response:
    """One ``/api`` request: the token, an injected ENTSO-E fault if one is armed, then the document."""
    params = {k.lower(): v for k, v in request.query_params.items()}
    wall = datetime.now(UTC)
    if not is_valid_token(params.get("securitytoken", ""), state.tokens):
        return _ack(wall, "Unauthorized. Missing or invalid security token.", 401)
    spec = feeds.faults.take(f"entsoe.{params.get('documenttype', '')}", request, wildcard=False)
    transform = None
    if spec is not None and spec.kind in ENTSOE_FAULT_KINDS:
        feeds.faults.note(f"entsoe.{params.get('documenttype', '')}", spec)
        failure = error_response(spec, {})
        if failure is not None:
            return failure
        if spec.kind == "value_shift":
            factor, offset = spec.factor, spec.offset
            transform = lambda v: v * factor + offset  # noqa: E731 - one expression
    try:
        now = state.clock.read_now(parse_sim_header(request.headers.get(SIM_NOW_HEADER)))
        response = _serve(state, params, now, transform)
    except RequestError as exc:
        return _ack(wall, exc.text, exc.status)
    if spec is not None and spec.kind == "truncated":
        response.body = response.body[: len(response.body) // 2]
        response.headers["content-length"] = str(len(response.body))
    elif spec is not None and spec.kind == "malformed":
        # A complete HTTP answer (right Content-Length) carrying a broken document: the parser must catch it.
        response.body = break_xml(response.body)
        response.headers["content-length"] = str(len(response.body))
    return response


def _imputed(state: SimulatorState, market: str, period_start: str | None, period_end: str | None) -> dict:
    df = state.frames.get(market.upper())
    if df is None:
        raise HTTPException(404, f"market {market!r} is not served; served: {', '.join(state.frames)}")
    try:
        lo = parse_period("periodStart", period_start) if period_start else None
        hi = parse_period("periodEnd", period_end) if period_end else None
    except RequestError as exc:
        raise HTTPException(400, exc.text) from None
    starts = df.loc[df["is_imputed"], "delivery_start_utc"]
    if lo is not None:
        starts = starts[starts >= lo]
    if hi is not None:
        starts = starts[starts < hi]
    return {"market": market.upper(), "imputed_delivery_start_utc": [xml.interval_time(t) for t in starts]}


def _install_admin_routes(app: FastAPI, state: SimulatorState) -> None:
    @app.post("/admin/revisions", status_code=201)
    def post_revision(body: RevisionIn = Body(...)) -> dict:  # noqa: B008 - FastAPI idiom
        """Store a corrected publication of one delivery day, visible from ``published_at`` on."""
        return _add_revision(state, body)

    @app.delete("/admin/revisions")
    def clear_revisions() -> dict:
        """Forget all revisions."""
        with state.lock:
            cleared = sum(len(v) for v in state.revisions.values())
            state.revisions.clear()
        return {"cleared": cleared}

    @app.get("/admin/clock")
    def get_clock() -> dict:
        """The simulator's clock: the mode, the instant set (null: the wall clock) and what now is."""
        return _clock_view(state.clock)

    @app.put("/admin/clock")
    def put_clock(body: ClockIn = Body(...)) -> dict:  # noqa: B008 - FastAPI idiom
        """Set the simulator's clock (it stays at that instant until set again or cleared)."""
        state.clock.set(body.now)
        log.info("simulator clock set to %s", state.clock.fixed.isoformat())
        return _clock_view(state.clock)

    @app.delete("/admin/clock")
    def clear_clock() -> dict:
        """Back to the wall clock."""
        state.clock.set(None)
        return _clock_view(state.clock)


def _clock_view(clock: SimClock) -> dict:
    fixed = clock.fixed
    return {
        "mode": "backtest" if clock.backtest else "exchange",
        "fixed_utc": fixed.isoformat() if fixed else None,
        "now_utc": clock.server_now().isoformat(),
    }
