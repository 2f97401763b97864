"""The desk's dashboards as code: every panel's SQL over the marts, read as ``griddesk_bi``.

One definition feeds three consumers:
- :mod:`griddesk.dashboards.grafana` writes the Grafana dashboards that docker-compose provisions
  (``docker/grafana/dashboards/*.json``) and their alert rules;
- :mod:`griddesk.dashboards.local` renders the same queries into a static HTML dashboard (``make dashboard``);
- ``tests/integration/test_dashboards.py`` runs every query as ``griddesk_bi`` against marts built end to end.

Queries use Grafana's PostgreSQL macros (``$__timeFilter(col)``, ``$__timeFrom()``, ``$__timeTo()``,
``$__timeGroupAlias(col, '1h')``) and the ``$market`` variable; :func:`expand` turns them into plain SQL for a
concrete time range. Time series queries return Grafana's long format: ``time``, ``metric``, ``value``.

Two clocks: market data (prices, tariffs, plant status, signals) are stamped with the delivery time, which the
simulator replays from the past; the API call log and the alert emails carry the wall clock. Panels over the
wall clock have ``relative_time`` (Grafana's panel time override, e.g. the last 7 days up to now).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: uid of the provisioned PostgreSQL data source (griddesk_bi on the warehouse).
DATASOURCE_UID = "griddesk-marts"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
TIME_SERIES = ("time", "metric", "value")


@dataclass(frozen=True)
class Panel:
    """One panel: what it shows, its SQL and the columns the SQL must return."""

    title: str
    kind: str  # timeseries | table | stat | barchart
    sql: str
    columns: tuple[str, ...]
    description: str
    unit: str = ""
    relative_time: str | None = None  # e.g. "7d": the last 7 days of the wall clock, whatever the dashboard range
    width: int = 12
    height: int = 8

    @property
    def is_time_series(self) -> bool:
        return self.kind == "timeseries"


@dataclass(frozen=True)
class Variable:
    """A dashboard variable filled by a query (multi-select, with "All")."""

    name: str
    label: str
    sql: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = field(default=("griddesk",))

    @property
    def marts(self) -> set[str]:
        """The marts the dashboard's queries read (``marts.<name>``), for the dbt exposure."""
        text = " ".join([p.sql for p in self.panels] + [v.sql for v in self.variables])
        return set(re.findall(r"\bmarts\.(\w+)", text))


MARKET = Variable("market", "Market", "select distinct market_code from marts.dim_markets order by 1")

# ------------------------------------------------------------------------------------------------ trading desk

TRADING_DESK = Dashboard(
    uid="griddesk-trading-desk",
    title="GridDesk: Trading desk",
    description="Prices against the forecast, forecast error and drift, bid success, storage utilisation and "
    "P&L against perfect foresight. Market data are on the delivery clock: pick the delivery days in the time "
    "picker (the simulator replays past years).",
    variables=(MARKET,),
    panels=(
        Panel(
            "Day-ahead price vs forecast",
            "timeseries",
            """select delivery_start_utc as "time", market_code || ' realised' as metric, price_per_mwh as value
from marts.fct_day_ahead_prices
where $__timeFilter(delivery_start_utc) and market_code in ($market) and is_native_resolution
union all
select delivery_start_utc, market_code || ' forecast', forecast_price_per_mwh
from marts.fct_price_forecasts
where $__timeFilter(delivery_start_utc) and market_code in ($market)
order by 1, 2""",
            TIME_SERIES,
            "Realised day-ahead clearing price and the production forecast GridDesk bid on, per MWh in the "
            "market's currency (fct_day_ahead_prices, fct_price_forecasts).",
            unit="currency per MWh",
            width=24,
        ),
        Panel(
            "Forecast error: daily, 7- and 28-day MAE",
            "timeseries",
            """select d.delivery_date_local::timestamp as "time", d.market_code || ' ' || v.series as metric, v.value
from marts.fct_forecast_drift as d
cross join lateral (values
    ('daily MAE', d.daily_mae_per_mwh),
    ('7-day MAE', d.rolling_7d_mae_per_mwh),
    ('28-day MAE', d.rolling_28d_mae_per_mwh),
    ('weekly naive 7-day MAE', d.rolling_7d_weekly_naive_mae_per_mwh),
    ('drift threshold', d.drift_max_mae_per_mwh)
) as v (series, value)
where $__timeFilter(d.delivery_date_local) and d.market_code in ($market)
order by 1, 2""",
            TIME_SERIES,
            "Mean absolute error of the live forecasts per delivery day and over the 7 and 28 days ending that "
            "day (every scored hour weighted alike), the weekly naive's for comparison, and the drift threshold "
            "of the shared rule (fct_forecast_drift).",
            unit="currency per MWh",
        ),
        Panel(
            "Forecast drift (the rule the drift email uses)",
            "table",
            """select distinct on (market_code)
    market_code, delivery_date_local, drift_window_days, drift_window_mae_per_mwh, drift_max_mae_per_mwh,
    is_drifting, currency
from marts.fct_forecast_drift
where $__timeFilter(delivery_date_local) and market_code in ($market)
order by market_code, delivery_date_local desc""",
            (
                "market_code",
                "delivery_date_local",
                "drift_window_days",
                "drift_window_mae_per_mwh",
                "drift_max_mae_per_mwh",
                "is_drifting",
                "currency",
            ),
            "The newest drift verdict per market in the range: the MAE over the drift window against the "
            "threshold (fct_forecast_drift; the same rule sends the drift email and fires the Grafana alert).",
        ),
        Panel(
            "Bid success rate",
            "timeseries",
            """select b.delivery_date_local::timestamp as "time",
    b.market_code || case when b.is_shadow then ' shadow' else ' live' end || ' ' || v.series as metric,
    100 * v.value as value
from marts.fct_bid_success_daily as b
cross join lateral (values ('volume', b.volume_success_rate), ('orders', b.order_success_rate)) as v (series, value)
where $__timeFilter(b.delivery_date_local) and b.market_code in ($market)
order by 1, 2""",
            TIME_SERIES,
            "Accepted volume / offered volume and accepted orders / orders per market and day, %; live "
            "executions and shadow executions (paper mode: the exchange's clearing of a set never sent) apart "
            "(fct_bid_success_daily).",
            unit="percent",
        ),
        Panel(
            "Storage utilisation: cycles and throughput",
            "timeseries",
            """select s.delivery_date_local::timestamp as "time", s.market_code || ' ' || v.series as metric, v.value
from marts.fct_storage_utilisation_daily as s
cross join lateral (values
    ('equivalent full cycles', s.equivalent_full_cycles),
    ('throughput MWh', s.energy_throughput_mwh),
    ('idle hours', s.idle_hours)
) as v (series, value)
where $__timeFilter(s.delivery_date_local) and s.market_code in ($market)
order by 1, 2""",
            TIME_SERIES,
            "Per day, from the bid schedule: equivalent full cycles (discharged energy / usable energy), energy "
            "throughput (charged + discharged, MWh) and hours idle (fct_storage_utilisation_daily).",
        ),
        Panel(
            "Storage utilisation: state-of-charge range",
            "table",
            """select market_code, delivery_date_local, soc_min_pct, soc_max_pct, soc_range_pct, idle_hours,
    equivalent_full_cycles
from marts.fct_storage_utilisation_daily
where $__timeFilter(delivery_date_local) and market_code in ($market)
order by delivery_date_local desc, market_code""",
            (
                "market_code",
                "delivery_date_local",
                "soc_min_pct",
                "soc_max_pct",
                "soc_range_pct",
                "idle_hours",
                "equivalent_full_cycles",
            ),
            "Lowest and highest state of charge of each day's schedule, % of usable energy, with idle hours and "
            "cycles (fct_storage_utilisation_daily).",
        ),
        Panel(
            "P&L: live schedule at realised prices",
            "timeseries",
            """select s.delivery_date_local::timestamp as "time", s.market_code || ' ' || v.series as metric, v.value
from marts.fct_storage_utilisation_daily as s
cross join lateral (values ('expected', s.expected_revenue), ('realised', s.realised_revenue)) as v (series, value)
where $__timeFilter(s.delivery_date_local) and s.market_code in ($market) and v.value is not null
order by 1, 2""",
            TIME_SERIES,
            "Revenue of each day's battery schedule: expected at the forecast prices and realised at the published "
            "prices, in the market's currency (paper mode: what the plan would have earned).",
            unit="currency",
        ),
        Panel(
            "P&L vs perfect foresight (backtests)",
            "timeseries",
            """select delivery_date_local::timestamp as "time", market_code || ' ' || source_name || '/' || strategy as metric,
    cumulative_pnl as value
from marts.fct_backtest_daily_pnl
where $__timeFilter(delivery_date_local) and market_code in ($market) and source_name <> 'perfect_foresight'
union all
(
    select distinct on (market_code, delivery_date_local)
        delivery_date_local::timestamp, market_code || ' perfect foresight', cumulative_perfect_foresight_revenue
    from marts.fct_backtest_daily_pnl
    where $__timeFilter(delivery_date_local) and market_code in ($market)
    order by market_code, delivery_date_local, run_id
)
order by 1, 2""",
            TIME_SERIES,
            "Cumulative P&L of every forecast source and strategy in the strategy backtests against perfect "
            "foresight (the same battery with the realised prices known), in the market's currency "
            "(fct_backtest_daily_pnl).",
            unit="currency",
        ),
        Panel(
            "Backtests: share of perfect foresight",
            "table",
            """select market_code, source_name, strategy, first_delivery_date_local, last_delivery_date_local, n_days,
    revenue, perfect_foresight_daily_revenue, percentage_of_perfect, cycles_per_day, currency
from marts.fct_backtest_summary
where market_code in ($market)
order by market_code, percentage_of_perfect desc""",
            (
                "market_code",
                "source_name",
                "strategy",
                "first_delivery_date_local",
                "last_delivery_date_local",
                "n_days",
                "revenue",
                "perfect_foresight_daily_revenue",
                "percentage_of_perfect",
                "cycles_per_day",
                "currency",
            ),
            "Every stored strategy backtest: revenue against perfect foresight, % (fct_backtest_summary).",
            width=24,
        ),
    ),
)

# ------------------------------------------------------------------------------------------------ trading monitor

ENERGY_TRADING_MONITOR = Dashboard(
    uid="griddesk-energy-trading-monitor",
    title="GridDesk: Energy Trading Monitor",
    description="The connectivity monitor: CKW's integrated 15-minute price and its four tariff types, plant "
    "status and active power, the day's TRA signals, API health and latency, recent alerts and API errors. "
    "API and alert panels show the last 7 days of the wall clock.",
    panels=(
        Panel(
            "Integrated 15-minute price",
            "timeseries",
            """select interval_start_utc as "time", tariff_name as metric, price_per_kwh as value
from marts.fct_dynamic_tariffs
where $__timeFilter(interval_start_utc) and tariff_type = 'integrated'
order by 1, 2""",
            TIME_SERIES,
            "CKW's integrated dynamic tariff (grid + electricity) per quarter-hour, per kWh in the tariff's "
            "currency (CHF), as published (fct_dynamic_tariffs).",
            unit="CHF per kWh",
        ),
        Panel(
            "Tariff comparison: the four CKW tariff types",
            "table",
            """select tariff_name, tariff_type, currency, unit, count(*) as quarter_hours,
    min(price_per_kwh) as min_price_per_kwh, avg(price_per_kwh) as mean_price_per_kwh,
    max(price_per_kwh) as max_price_per_kwh
from marts.fct_dynamic_tariffs
where $__timeFilter(interval_start_utc)
group by tariff_name, tariff_type, currency, unit
order by tariff_name, tariff_type""",
            (
                "tariff_name",
                "tariff_type",
                "currency",
                "unit",
                "quarter_hours",
                "min_price_per_kwh",
                "mean_price_per_kwh",
                "max_price_per_kwh",
            ),
            "grid, electricity, integrated and grid_usage side by side over the range: lowest, mean and highest "
            "price per kWh (fct_dynamic_tariffs).",
        ),
        Panel(
            "Plant status",
            "table",
            """select plant_id, plant_name, technology, rated_power_mw, latest_operating_status, latest_active_power_mw,
    latest_sample_utc
from marts.dim_plants
order by plant_id""",
            (
                "plant_id",
                "plant_name",
                "technology",
                "rated_power_mw",
                "latest_operating_status",
                "latest_active_power_mw",
                "latest_sample_utc",
            ),
            "Each plant's latest telemetry sample: operating status and active power, MW (dim_plants).",
        ),
        Panel(
            "Plant active power",
            "timeseries",
            """select interval_start_utc as "time", plant_id as metric, active_power_mw as value
from marts.fct_plant_status
where $__timeFilter(interval_start_utc)
order by 1, 2""",
            TIME_SERIES,
            "Active power per plant, MW: 5-minute samples, hourly means where the telemetry was folded "
            "(fct_plant_status).",
            unit="MW",
        ),
        Panel(
            "TRA signals of the day",
            "table",
            """select signal_name, signal_description, signal_date_local, switch_on_local, switch_off_local,
    duration_minutes
from marts.fct_control_signals
where signal_date_local = (
    select max(signal_date_local) from marts.fct_control_signals where $__timeFilter(switch_on_utc)
)
order by switch_on_utc, signal_name""",
            (
                "signal_name",
                "signal_description",
                "signal_date_local",
                "switch_on_local",
                "switch_off_local",
                "duration_minutes",
            ),
            "CKW's ripple-control (TRA) switching windows of the latest day in the range, Europe/Zurich time "
            "(fct_control_signals).",
        ),
        Panel(
            "API health score",
            "table",
            """select a.api_code, a.api_name, a.has_logged_calls,
    sum(h.n_calls) as n_calls,
    sum(h.n_success)::double precision / nullif(sum(h.n_calls), 0) as success_rate,
    sum(h.health_score_pct * h.n_calls) / nullif(sum(h.n_calls), 0) as health_score_pct,
    max(h.latency_p95_ms) as worst_daily_latency_p95_ms
from marts.dim_external_apis as a
left join marts.fct_api_health_daily as h
    on a.api_code = h.api_code and h.call_date_utc between $__timeFrom() and $__timeTo()
group by a.api_code, a.api_name, a.has_logged_calls
order by a.api_code""",
            (
                "api_code",
                "api_name",
                "has_logged_calls",
                "n_calls",
                "success_rate",
                "health_score_pct",
                "worst_daily_latency_p95_ms",
            ),
            "Every external API GridDesk calls: calls, success rate and the health score (% of calls that "
            "succeeded within the latency objective) over the last 7 days; APIs whose clients do not log yet "
            "show has_logged_calls = false (dim_external_apis, fct_api_health_daily).",
            relative_time="7d",
        ),
        Panel(
            "Latency by endpoint",
            "table",
            """select endpoint, api_code, sum(n_calls) as n_calls, max(latency_p50_ms) as latency_p50_ms,
    max(latency_p95_ms) as latency_p95_ms, max(latency_p99_ms) as latency_p99_ms
from marts.fct_api_health_daily
where call_date_utc between $__timeFrom() and $__timeTo()
group by endpoint, api_code
order by latency_p95_ms desc nulls last""",
            ("endpoint", "api_code", "n_calls", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"),
            "Latency percentiles per endpoint, ms: the worst day's p50, p95 and p99 in the last 7 days "
            "(fct_api_health_daily).",
            relative_time="7d",
        ),
        Panel(
            "API calls per hour",
            "timeseries",
            """select $__timeGroupAlias(hour_start_utc, '1h'), split_part(endpoint, '.', 1) as metric,
    sum(n_calls) as value
from marts.fct_api_health
where $__timeFilter(hour_start_utc)
group by 1, 2
order by 1, 2""",
            TIME_SERIES,
            "Calls per hour and API, every attempt counted (fct_api_health).",
            relative_time="7d",
        ),
        Panel(
            "Recent alerts",
            "table",
            """select sent_at_utc, alert_level, alert_kind, subject
from marts.fct_alerts_sent
where $__timeFilter(sent_at_utc)
order by sent_at_utc desc
limit 50""",
            ("sent_at_utc", "alert_level", "alert_kind", "subject"),
            "The last 50 alert emails sent in the last 7 days (fct_alerts_sent).",
            relative_time="7d",
        ),
        Panel(
            "Recent API errors",
            "table",
            """select requested_at_utc, api_code, endpoint, status_code, error_message, attempt
from marts.fct_api_call_failures
where $__timeFilter(requested_at_utc)
order by requested_at_utc desc
limit 50""",
            ("requested_at_utc", "api_code", "endpoint", "status_code", "error_message", "attempt"),
            "The last 50 failed API calls in the last 7 days (fct_api_call_failures).",
            relative_time="7d",
        ),
    ),
)

# ------------------------------------------------------------------------------------------------ data quality

DATA_QUALITY = Dashboard(
    uid="griddesk-data-quality",
    title="GridDesk: Data quality",
    description="The latest Great Expectations verdict per suite, feed or market, and delivery day.",
    panels=(
        Panel(
            "Latest GX verdict per feed and day",
            "table",
            """select delivery_date_local, suite_name, market_code as scope, status, n_expectations, n_failed,
    n_critical_failed, failed_expectations
from marts.fct_data_quality_daily_summary
where $__timeFilter(delivery_date_local)
order by delivery_date_local desc, suite_name, market_code""",
            (
                "delivery_date_local",
                "suite_name",
                "scope",
                "status",
                "n_expectations",
                "n_failed",
                "n_critical_failed",
                "failed_expectations",
            ),
            "trusted, warnings or blocked per suite (feed), scope (market or source) and delivery day, from the "
            "newest validation run (fct_data_quality_daily_summary).",
            width=24,
        ),
        Panel(
            "Verdicts per day",
            "timeseries",
            """select delivery_date_local::timestamp as "time", status as metric, count(*) as value
from marts.fct_data_quality_daily_summary
where $__timeFilter(delivery_date_local)
group by 1, 2
order by 1, 2""",
            TIME_SERIES,
            "How many (suite, scope) pairs were trusted, had warnings or were blocked on each delivery day.",
        ),
        Panel(
            "Failed expectations",
            "table",
            """select delivery_date_local, suite_name, market_code as scope, severity, expectation_id, observed_value,
    expected_value
from marts.fct_data_quality_results
where $__timeFilter(delivery_date_local) and not is_success
order by delivery_date_local desc, severity, suite_name""",
            (
                "delivery_date_local",
                "suite_name",
                "scope",
                "severity",
                "expectation_id",
                "observed_value",
                "expected_value",
            ),
            "Every failed expectation of the newest runs: critical failures block forecasts and orders for that "
            "market-day (fct_data_quality_results).",
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (TRADING_DESK, ENERGY_TRADING_MONITOR, DATA_QUALITY)

# ------------------------------------------------------------------------------------------------ macros


class MacroError(ValueError):
    """A query uses a macro or variable :func:`expand` does not know."""


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of a macro call whose ``(`` is at ``start``, and the index after ``)``."""
    depth, args, current, i = 0, [], "", start + 1
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                args.append(current.strip())
                return [a for a in args if a], i + 1
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    raise MacroError(f"unclosed macro call at {text[start - 20 : start + 20]!r}")


def _interval_seconds(text: str) -> int:
    m = re.fullmatch(r"'?(\d+)([smhd])'?", text.strip())
    if not m:
        raise MacroError(f"interval {text!r} is not like '5m' or '1h'")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def expand(sql: str, start: datetime, end: datetime, variables: Mapping[str, Sequence[str]]) -> str:
    """``sql`` with Grafana's PostgreSQL macros and ``$variables`` replaced, as Grafana sends it for the range.

    Args:
        sql: A panel's query.
        start, end: The time range (UTC, tz-aware).
        variables: Values of each dashboard variable; several values become a quoted list ('FR','BE').

    Raises:
        MacroError: an unknown macro or variable, or a malformed call.
    """
    frm, to = _rfc3339(start), _rfc3339(end)
    out, i = [], 0
    pattern = re.compile(r"\$__(\w+)\(|\$\{(\w+)\}|\$(\w+)")
    while (m := pattern.search(sql, i)) is not None:
        out.append(sql[i : m.start()])
        if m.group(1):
            name = m.group(1)
            args, i = _split_args(sql, m.end() - 1)
            if name == "timeFilter" and len(args) == 1:
                out.append(f"{args[0]} BETWEEN '{frm}' AND '{to}'")
            elif name == "timeFrom" and not args:
                out.append(f"'{frm}'")
            elif name == "timeTo" and not args:
                out.append(f"'{to}'")
            elif name == "time" and len(args) == 1:
                out.append(f'{args[0]} AS "time"')
            elif name in ("timeGroup", "timeGroupAlias") and len(args) == 2:
                seconds = _interval_seconds(args[1])
                expr = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
                out.append(expr + (' AS "time"' if name == "timeGroupAlias" else ""))
            else:
                raise MacroError(f"unknown Grafana macro $__{name} with {len(args)} argument(s)")
        else:
            name = m.group(2) or m.group(3)
            if name not in variables:
                raise MacroError(f"unknown variable ${name}")
            values = list(variables[name])
            if not values:
                raise MacroError(f"variable ${name} has no value")
            out.append(",".join("'" + v.replace("'", "''") + "'" for v in values))
            i = m.end()
    out.append(sql[i:])
    return "".join(out)


def panel_range(panel: Panel, start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The range a panel's query runs over: the dashboard's, or its ``relative_time`` back from ``now``."""
    if panel.relative_time is None:
        return start, end
    return now - timedelta(seconds=_interval_seconds(panel.relative_time)), now


__all__ = [
    "DASHBOARDS",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "DATA_QUALITY",
    "Dashboard",
    "ENERGY_TRADING_MONITOR",
    "MacroError",
    "Panel",
    "TRADING_DESK",
    "Variable",
    "expand",
    "panel_range",
]
