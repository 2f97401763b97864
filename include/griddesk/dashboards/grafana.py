"""Grafana provisioning for docker-compose: the dashboards of :mod:`griddesk.dashboards.panels` as JSON, and the
alert rules on the same thresholds as the alert emails.

``python -m griddesk.dashboards.grafana`` rewrites ``docker/grafana/dashboards/*.json``,
``docker/grafana/provisioning/alerting/rules.yaml`` and the dbt exposures of the dashboards
(``dbt_project/models/marts/_dashboards__exposures.yml``); ``tests/unit/dashboards/test_grafana_provisioning.py`` fails when the
committed files differ from what this module writes. The data source and dashboard-provider files next to them
are written by hand (they hold no query).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from griddesk.dashboards.panels import DASHBOARDS, DATASOURCE_TYPE, DATASOURCE_UID, Dashboard, Panel
from griddesk.quality.settings import QualitySettings
from griddesk.settings import PROJECT_ROOT

GRAFANA_DIR = PROJECT_ROOT / "docker" / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
ALERT_RULES_FILE = GRAFANA_DIR / "provisioning" / "alerting" / "rules.yaml"
DATASOURCE_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "griddesk.yaml"
PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "griddesk.yaml"
CONTACT_POINTS_FILE = GRAFANA_DIR / "provisioning" / "alerting" / "contact-points.yaml"
EXPOSURES_FILE = PROJECT_ROOT / "dbt_project" / "models" / "marts" / "_dashboards__exposures.yml"
#: Where docker-compose publishes Grafana (docker-compose.yml, service grafana).
GRAFANA_URL = "http://localhost:3000"
FOLDER = "GridDesk"
SCHEMA_VERSION = 41
_DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    """One panel in Grafana's dashboard model (a raw-SQL target on the GridDesk data source)."""
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": _DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": _DATASOURCE,
                "editorMode": "code",
                "format": "time_series" if panel.is_time_series else "table",
                "rawQuery": True,
                "rawSql": panel.sql,
            }
        ],
        "fieldConfig": {"defaults": {"unit": panel.unit} if panel.unit else {}, "overrides": []},
        "options": {},
    }
    if panel.relative_time:
        body["timeFrom"] = panel.relative_time
    return body


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The whole dashboard; panels flow left to right in rows of 24 grid units."""
    panels, x, y, row_height = [], 0, 0, 0
    for i, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(panel_json(panel, i, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    templating = [
        {
            "name": v.name,
            "label": v.label,
            "type": "query",
            "datasource": _DATASOURCE,
            "query": v.sql,
            "definition": v.sql,
            "multi": True,
            "includeAll": True,
            "refresh": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }
        for v in dashboard.variables
    ]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


# ------------------------------------------------------------------------------------------------ alert rules


@dataclass(frozen=True)
class AlertRule:
    """A Grafana alert rule: its SQL returns label columns and one number per series, compared with ``threshold``.

    ``email`` names the alert email the rule mirrors (docs/alerts.md), whose threshold it shares.
    """

    uid: str
    title: str
    sql: str
    comparison: str  # gt | lt
    threshold: float
    email: str
    summary: str
    severity: str


def alert_rules(quality: QualitySettings | None = None) -> tuple[AlertRule, ...]:
    """The alert rules, with the email thresholds of ``quality`` (default: the documented defaults)."""
    q = quality or QualitySettings()
    return (
        AlertRule(
            "griddesk-forecast-drift",
            "Forecast drift",
            """select distinct on (market_code) market_code, case when is_drifting then 1 else 0 end as value
from marts.fct_forecast_drift
order by market_code, delivery_date_local desc""",
            "gt",
            0,
            "[WARNING] forecast drift (rolling N-day MAE)",
            "The newest drift verdict of a market is is_drifting: the rolling MAE of its live forecasts is above "
            "the shared threshold (fct_forecast_drift, the rule the drift email uses).",
            "warning",
        ),
        AlertRule(
            "griddesk-api-health",
            "API health below threshold",
            f"""select endpoint, min(success_rate) as value
from marts.fct_api_health
where hour_start_utc > now() - interval '24 hours' and n_calls >= {q.api_min_calls}
group by endpoint""",
            "lt",
            q.api_min_success_rate,
            "[WARNING] API health below threshold",
            f"An endpoint answered fewer than {q.api_min_success_rate:.0%} of at least {q.api_min_calls} calls "
            "successfully in an hour of the last 24 hours (fct_api_health).",
            "warning",
        ),
        AlertRule(
            "griddesk-data-quality-blocked",
            "Data quality: critical failure blocks a market-day",
            """select suite_name || ' ' || market_code as scope, count(*) as value
from marts.fct_data_quality_daily_summary
where delivery_date_local = (select max(delivery_date_local) from marts.fct_data_quality_daily_summary)
  and status = 'blocked'
group by suite_name, market_code""",
            "gt",
            0,
            "[CRITICAL] <suite> failed for <market> <day>",
            "A critical expectation failed on the newest validated day: no forecast and no orders for that "
            "market-day (fct_data_quality_daily_summary).",
            "critical",
        ),
        AlertRule(
            "griddesk-bid-execution",
            "Bid execution failure",
            """select market_code, count(*) as value
from (
    select market_code from marts.fct_bid_orders
    where status = 'rejected' and delivery_date_local >= (select max(delivery_date_local) - 1 from marts.fct_bid_orders)
    union all
    select market_code from marts.fct_bid_executions
    where accepted_volume_mw > volume_mw + 1e-9
      and delivery_date_local >= (select max(delivery_date_local) - 1 from marts.fct_bid_executions)
) as problems
group by market_code""",
            "gt",
            0,
            "[CRITICAL] bid execution failure",
            "Orders of the latest delivery days were rejected, or an execution reports more volume than was "
            "submitted (fct_bid_orders, fct_bid_executions).",
            "critical",
        ),
    )


def alert_rules_yaml(rules: tuple[AlertRule, ...]) -> dict[str, Any]:
    """Grafana's file-provisioning format for alert rules: query A, reduce B (last), threshold C."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "griddesk",
                "folder": FOLDER,
                "interval": "5m",
                "rules": [
                    {
                        "uid": r.uid,
                        "title": r.title,
                        "condition": "C",
                        "data": [
                            {
                                "refId": "A",
                                "relativeTimeRange": {"from": 86400, "to": 0},
                                "datasourceUid": DATASOURCE_UID,
                                "model": {
                                    "refId": "A",
                                    "editorMode": "code",
                                    "format": "table",
                                    "rawQuery": True,
                                    "rawSql": r.sql,
                                },
                            },
                            {
                                "refId": "B",
                                "datasourceUid": "__expr__",
                                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
                            },
                            {
                                "refId": "C",
                                "datasourceUid": "__expr__",
                                "model": {
                                    "refId": "C",
                                    "type": "threshold",
                                    "expression": "B",
                                    "conditions": [{"evaluator": {"type": r.comparison, "params": [r.threshold]}}],
                                },
                            },
                        ],
                        "noDataState": "OK",
                        "execErrState": "Error",
                        "for": "0s",
                        "annotations": {"summary": r.summary, "email": r.email},
                        "labels": {"severity": r.severity, "team": "trading-desk"},
                    }
                    for r in rules
                ],
            }
        ],
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the SQL) as literal blocks, so the rules file reads like the queries."""


_BlockDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def exposures_yaml() -> dict[str, Any]:
    """dbt exposures: each dashboard and the marts its queries read, so dbt docs show the lineage up to it."""
    return {
        "version": 2,
        "exposures": [
            {
                "name": d.uid.replace("-", "_"),
                "label": d.title,
                "type": "dashboard",
                "maturity": "medium",
                "url": f"{GRAFANA_URL}/d/{d.uid}",
                "description": d.description + " Provisioned in Grafana by docker-compose; the same queries make "
                "the local dashboard (make dashboard).",
                "depends_on": [f"ref('{m}')" for m in sorted(d.marts)],
                "owner": {"name": "GridDesk trading desk", "email": "trading-desk@example.com"},
            }
            for d in DASHBOARDS
        ],
    }


def render() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {DASHBOARD_DIR / f"{d.uid}.json": json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS}
    header = "# Generated by `python -m griddesk.dashboards.grafana` from griddesk.dashboards.grafana: do not edit.\n"
    files[ALERT_RULES_FILE] = header + yaml.dump(
        alert_rules_yaml(alert_rules()), Dumper=_BlockDumper, sort_keys=False, width=120
    )
    files[EXPOSURES_FILE] = header + yaml.dump(exposures_yaml(), Dumper=_BlockDumper, sort_keys=False, width=120)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
