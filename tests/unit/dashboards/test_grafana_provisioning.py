"""Grafana provisioning checked without Grafana: the committed files are what griddesk.dashboards writes, every
dashboard and provisioning file has the shape Grafana reads, alert thresholds are the emails', and the macro
expansion the dashboard tests rely on behaves as Grafana's. The queries themselves run in
tests/integration/test_dashboards.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import yaml

from griddesk.dashboards import grafana, panels
from griddesk.quality.settings import QualitySettings
from griddesk.settings import PROJECT_ROOT
from griddesk.warehouse import roles

START = datetime(2016, 12, 24, tzinfo=UTC)
END = datetime(2016, 12, 31, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("path", sorted(grafana.render()), ids=lambda p: p.name)
def test_committed_file_is_what_the_generator_writes(path):
    assert path.exists(), f"{path} is missing: run python -m griddesk.dashboards.grafana"
    assert path.read_text() == grafana.render()[path], f"{path} is stale: run python -m griddesk.dashboards.grafana"


def _dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(grafana.DASHBOARD_DIR.glob("*.json"))]


def test_each_dashboard_the_issue_asks_for_is_provisioned():
    titles = {d["title"] for d in _dashboards()}
    assert titles == {"GridDesk: Trading desk", "GridDesk: Energy Trading Monitor", "GridDesk: Data quality"}


@pytest.mark.parametrize("dashboard", _dashboards(), ids=lambda d: d["uid"])
def test_dashboard_json_has_the_shape_grafana_reads(dashboard):
    assert {"uid", "title", "panels", "schemaVersion", "time", "templating"} <= dashboard.keys()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["panels"]
    occupied = set()
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "table", "stat", "barchart"}
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        for target in panel["targets"]:
            assert target["datasource"] == {"type": panels.DATASOURCE_TYPE, "uid": panels.DATASOURCE_UID}
            assert target["format"] == ("time_series" if panel["type"] == "timeseries" else "table")
            assert re.search(r"\bmarts\.\w+", target["rawSql"]), "panels read marts only"
            assert not re.search(r"\b(raw|staging|intermediate)\.\w+", target["rawSql"])
        if "timeFrom" in panel:
            assert re.fullmatch(r"\d+d", panel["timeFrom"])


def test_the_data_source_logs_in_as_the_read_only_role_with_a_secret_from_the_environment():
    doc = yaml.safe_load(grafana.DATASOURCE_FILE.read_text())
    assert doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    assert (source["uid"], source["type"], source["user"]) == (
        panels.DATASOURCE_UID,
        panels.DATASOURCE_TYPE,
        roles.BI,
    )
    assert source["jsonData"]["database"] == "griddesk" and source["editable"] is False
    assert source["secureJsonData"]["password"] == "$GRIDDESK_WAREHOUSE_BI_PASSWORD"


def test_the_dashboard_provider_reads_the_folder_compose_mounts():
    doc = yaml.safe_load(grafana.PROVIDER_FILE.read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./docker/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_alert_rules_have_the_shape_grafana_provisions_and_the_emails_thresholds():
    doc = yaml.safe_load(grafana.ALERT_RULES_FILE.read_text())
    (group,) = doc["groups"]
    defaults = QualitySettings()
    by_uid = {r["uid"]: r for r in group["rules"]}
    for rule in group["rules"]:
        assert rule["condition"] == "C" and [q["refId"] for q in rule["data"]] == ["A", "B", "C"]
        assert rule["data"][0]["datasourceUid"] == panels.DATASOURCE_UID
        assert {q["datasourceUid"] for q in rule["data"][1:]} == {"__expr__"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
    api = by_uid["griddesk-api-health"]
    evaluator = api["data"][2]["model"]["conditions"][0]["evaluator"]
    assert evaluator == {"type": "lt", "params": [defaults.api_min_success_rate]}
    assert f"n_calls >= {defaults.api_min_calls}" in api["data"][0]["model"]["rawSql"]
    # The drift rule lives in dbt (fct_forecast_drift.is_drifting), which the email reads too.
    assert "is_drifting" in by_uid["griddesk-forecast-drift"]["data"][0]["model"]["rawSql"]


def test_contact_point_sends_to_the_desk_address_compose_passes():
    doc = yaml.safe_load(grafana.CONTACT_POINTS_FILE.read_text())
    (point,) = doc["contactPoints"]
    assert point["receivers"][0]["type"] == "email"
    assert point["receivers"][0]["settings"]["addresses"] == "$GRIDDESK_ALERT_EMAIL_TO"
    assert doc["policies"][0]["receiver"] == point["name"]


def test_exposures_declare_every_dashboard_and_the_marts_its_queries_read():
    doc = yaml.safe_load(grafana.EXPOSURES_FILE.read_text())
    declared = {
        e["name"]: {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in e["depends_on"]} for e in doc["exposures"]
    }
    read = {}
    for dashboard in _dashboards():
        text = " ".join(t["rawSql"] for p in dashboard["panels"] for t in p["targets"])
        text += " ".join(v["query"] for v in dashboard["templating"]["list"])
        read[dashboard["uid"].replace("-", "_")] = set(re.findall(r"\bmarts\.(\w+)", text))
    assert declared == read


# ------------------------------------------------------------------------------------------------ macros


def test_time_filter_and_range_macros_expand_as_grafana_sends_them():
    sql = "select 1 from t where $__timeFilter(t.start_utc) and d between $__timeFrom() and $__timeTo()"
    assert panels.expand(sql, START, END, {}) == (
        "select 1 from t where t.start_utc BETWEEN '2016-12-24T00:00:00Z' AND '2016-12-31T12:30:00Z' "
        "and d between '2016-12-24T00:00:00Z' and '2016-12-31T12:30:00Z'"
    )


def test_time_group_alias_keeps_nested_parentheses_and_names_the_column_time():
    out = panels.expand("select $__timeGroupAlias(coalesce(a, b), '1h'), 1", START, END, {})
    assert out == 'select floor(extract(epoch from coalesce(a, b))/3600)*3600 AS "time", 1'


def test_multi_value_variables_become_a_quoted_list():
    out = panels.expand("where m in ($market) and n = ${other}", START, END, {"market": ["FR", "BE"], "other": ["x'y"]})
    assert out == "where m in ('FR','BE') and n = 'x''y'"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select $__unixEpochFilter(t)", "unknown Grafana macro"),
        ("select $__timeFilter(t", "unclosed"),
        ("select 1 where m in ($nope)", "unknown variable"),
        ("select $__timeGroup(t, 'five minutes')", "interval"),
    ],
)
def test_unknown_or_malformed_macros_are_refused(sql, message):
    with pytest.raises(panels.MacroError, match=message):
        panels.expand(sql, START, END, {})


def test_wall_clock_panels_run_over_their_own_last_days():
    panel = next(p for d in panels.DASHBOARDS for p in d.panels if p.relative_time)
    now = datetime(2026, 1, 10, tzinfo=UTC)
    start, end = panels.panel_range(panel, START, END, now)
    assert end == now and (now - start).days == int(panel.relative_time.rstrip("d"))
