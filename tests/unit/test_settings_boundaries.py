"""Settings refuse what cannot be right: infinite or absurd batteries, empty or repeated market lists."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from griddesk.bidding.battery import BatteryConfig
from griddesk.settings import Settings


@pytest.mark.parametrize(
    ("markets", "message"),
    [
        ("FR,FR", "names FR more than once"),
        ("FR, be ,BE", "names BE more than once"),
        ("", "GRIDDESK_MARKETS is empty"),
        (" , ", "GRIDDESK_MARKETS is empty"),
        ("FR,XX", "unknown market\\(s\\) XX"),
    ],
)
def test_market_list_must_name_each_known_market_once(markets, message):
    with pytest.raises(ValidationError, match=message):
        Settings(markets=markets)


def test_market_list_from_the_environment_is_checked_too(monkeypatch):
    monkeypatch.setenv("GRIDDESK_MARKETS", "FR,FR")
    with pytest.raises(ValidationError, match="GRIDDESK_MARKETS='FR,FR' names FR more than once"):
        Settings()
    monkeypatch.setenv("GRIDDESK_MARKETS", "fr, de")
    assert Settings().market_codes == ["FR", "DE"]


def test_pt15m_market_list_names_known_markets():
    assert Settings(pt15m_markets="").pt15m_market_codes == set()
    with pytest.raises(ValidationError, match="GRIDDESK_PT15M_MARKETS"):
        Settings(pt15m_markets="DE,DE")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("battery_power_mw", math.inf),
        ("battery_power_mw", math.nan),
        ("battery_power_mw", 0.0),
        ("battery_power_mw", -1.0),
        ("battery_power_mw", 1e6),
        ("battery_energy_mwh", math.inf),
        ("battery_energy_mwh", math.nan),
        ("battery_energy_mwh", 1e9),
    ],
)
def test_battery_settings_reject_infinite_missing_and_absurd_values(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_battery_settings_from_the_environment_reject_inf(monkeypatch):
    monkeypatch.setenv("GRIDDESK_BATTERY_POWER_MW", "inf")
    with pytest.raises(ValidationError, match="battery_power_mw"):
        Settings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("power_mw", math.inf),
        ("energy_mwh", math.inf),
        ("power_mw", 1e7),
        ("charge_efficiency", math.nan),
        ("discharge_efficiency", math.inf),
        ("soc_min_pct", math.nan),
        ("soc_max_pct", math.inf),
        ("initial_soc_pct", math.nan),
        ("max_cycles_per_day", math.inf),
        ("degradation_cost_per_mwh", math.nan),
    ],
)
def test_battery_config_rejects_infinite_missing_and_absurd_parameters(field, value):
    with pytest.raises(ValidationError, match=field):
        BatteryConfig(**{field: value})


def test_a_runs_markets_param_is_checked_like_the_setting():
    from griddesk.pipeline.dag_support import market_codes

    assert market_codes({"params": {"markets": "fr, de"}}) == ["FR", "DE"]
    assert market_codes({"params": {"markets": ""}}) == Settings().market_codes
    with pytest.raises(ValueError, match="the run's markets param='FR,FR' names FR more than once"):
        market_codes({"params": {"markets": "FR,FR"}})
