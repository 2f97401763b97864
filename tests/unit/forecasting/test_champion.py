"""Champion/challenger selection, ensembles and registry ids (pure logic, no database)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk.bidding.optimiser import fixed_schedule_value
from griddesk.forecasting.champion import ChampionPolicy, decide, replay, rolling_mae_as_known, switches
from griddesk.forecasting.ensemble import EnsembleModel, combine, inverse_mae_weights, lad_weights
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.registry import ModelSpec
from griddesk.markets import get_market
from tests.unit.forecasting.helpers import empty_exogenous

POLICY = ChampionPolicy(window_days=28, margin_pct=5.0, min_days=14)
DAY = date(2018, 6, 1)


def test_incumbent_is_kept_when_a_challenger_is_better_but_within_the_margin():
    # 2.0 * (1 - 5 %) = 1.9: a challenger at 1.95 is better, but not clearly.
    decision = decide(DAY, "prophet", {"prophet": 2.0, "ensemble": 1.95, "lear_ens": 1.99}, 28, POLICY)
    assert decision.champion == "prophet"
    assert not decision.is_switch
    assert decision.best_challenger == "ensemble"
    assert "not below 1.900" in decision.reason


def test_challenger_takes_over_when_clearly_better():
    decision = decide(DAY, "prophet", {"prophet": 2.0, "ensemble": 1.8, "lear_ens": 1.85}, 28, POLICY)
    assert decision.champion == "ensemble"
    assert decision.is_switch
    assert decision.incumbent == "prophet"
    assert decision.challenger_mae == pytest.approx(1.8)


def test_margin_is_strict_at_the_threshold():
    assert decide(DAY, "a", {"a": 2.0, "b": 1.9}, 28, POLICY).champion == "a"  # exactly 5 % better: kept
    assert decide(DAY, "a", {"a": 2.0, "b": 1.8999}, 28, POLICY).champion == "b"


def test_incumbent_is_kept_with_too_few_scored_days():
    decision = decide(DAY, "prophet", {"prophet": 5.0, "ensemble": 1.0}, 13, POLICY)
    assert decision.champion == "prophet"
    assert "13 scored day(s)" in decision.reason


def test_only_candidates_may_become_champion():
    maes = {"prophet": 2.0, "weekly_naive": 0.5, "ensemble": 1.9}
    decision = decide(DAY, "prophet", maes, 28, POLICY, candidates=["prophet", "ensemble"])
    assert decision.champion == "prophet"
    assert decision.best_challenger == "ensemble"


def test_unscored_incumbent_raises_clearly():
    with pytest.raises(ValueError, match="incumbent 'x'"):
        decide(DAY, "x", {"prophet": 1.0}, 28, POLICY)


# --- replay over a synthetic backtest ---------------------------------------------------------------------------


def _history_and_forecasts(days: list[date], errors: dict[str, list[float]], revision: float | None = None):
    """Constant actual 50 per MTU; model m's forecast on day i is 50 + errors[m][i] (absolute error = that)."""
    market = get_market("DE")
    rows, fc = [], []
    for i, day in enumerate(days):
        start, end = market.delivery_day_bounds_utc(day)
        starts = pd.date_range(start, end, freq="h", inclusive="left")
        published = pd.Timestamp(market.price_publication_utc(day))
        rows.append(
            pd.DataFrame(
                {
                    "delivery_start_utc": starts,
                    "delivery_date_local": day,
                    "resolution_minutes": 60,
                    "price_per_mwh": 50.0,
                    "version": 1,
                    "published_at_utc": published,
                }
            )
        )
        for model, errs in errors.items():
            fc.append(
                pd.DataFrame(
                    {
                        "delivery_date_local": day,
                        "delivery_start_utc": starts,
                        "model": model,
                        "forecast": 50.0 + errs[i],
                    }
                )
            )
    prices = pd.concat(rows, ignore_index=True)
    if revision is not None:
        # A correction of the last day, published long after every cut-off here, with a huge value.
        last = prices[prices["delivery_date_local"] == days[-1]].copy()
        last["price_per_mwh"] = revision
        last["version"] = 2
        last["published_at_utc"] = pd.Timestamp("2030-01-01", tz="UTC")
        prices = pd.concat([prices, last], ignore_index=True)
    history = PublishedHistory.from_frames("DE", prices, empty_exogenous())
    wide = pd.concat(fc).pivot_table(
        index=["delivery_date_local", "delivery_start_utc"], columns="model", values="forecast"
    )
    return history, wide


def test_replay_switches_once_when_the_challenger_gets_clearly_better():
    days = [date(2017, 1, 1) + timedelta(days=k) for k in range(90)]
    # prophet: error 2 throughout; ensemble: 2 for 45 days, then 1.5 (25 % better)
    errors = {"prophet": [2.0] * 90, "ensemble": [2.0] * 45 + [1.5] * 45}
    history, wide = _history_and_forecasts(days, errors)
    decisions = replay(wide, history, days[30:], "prophet", POLICY)
    switched = switches(decisions)
    assert len(switched) == 1
    first = switched[0]
    assert first.champion == "ensemble"
    # The rolling MAE of the challenger must fall below 1.9: more than 1/5 of the 28-day window at 1.5.
    window_share = (first.delivery_date - days[45]).days / 28
    assert 0.2 < window_share <= 0.3
    assert decisions[-1].champion == "ensemble"


def test_replay_keeps_the_incumbent_through_noise_within_the_margin():
    rng = np.random.default_rng(0)
    days = [date(2017, 1, 1) + timedelta(days=k) for k in range(80)]
    errors = {"prophet": list(2.0 + rng.normal(0, 0.05, 80)), "ensemble": list(1.97 + rng.normal(0, 0.05, 80))}
    history, wide = _history_and_forecasts(days, errors)
    decisions = replay(wide, history, days[30:], "prophet", POLICY)
    assert switches(decisions) == []
    assert {d.champion for d in decisions} == {"prophet"}


def test_rolling_mae_ignores_a_correction_published_after_the_cutoff():
    days = [date(2017, 3, 1) + timedelta(days=k) for k in range(10)]
    history, wide = _history_and_forecasts(days, {"a": [1.0] * 10, "b": [3.0] * 10}, revision=1e6)
    decision_day = days[-1] + timedelta(days=1)
    market = get_market("DE")
    from griddesk.forecasting.pit_cache import actuals_known_at

    known = actuals_known_at(history, market.gate_closure_utc(decision_day), days[0], days[-1])
    maes, n_days = rolling_mae_as_known(wide, known, decision_day, 28)
    assert n_days == 10
    assert maes == {"a": pytest.approx(1.0), "b": pytest.approx(3.0)}
    # The final (corrected) prices would tell another story: the correction is visible only later.
    assert history.final_prices(*market.delivery_day_bounds_utc(days[-1]))["price_per_mwh"].iloc[0] == 1e6


def _shaped_history(days: list[date], models: dict[str, callable]):
    """Realised prices with a daily shape (cheap night, dear evening); model m forecasts ``models[m](actual)``."""
    market = get_market("DE")
    rows, fc = [], []
    for day in days:
        start, end = market.delivery_day_bounds_utc(day)
        starts = pd.date_range(start, end, freq="h", inclusive="left")
        actual = 50.0 + 20.0 * np.sin((np.arange(len(starts)) - 8) / 24 * 2 * np.pi)
        rows.append(
            pd.DataFrame(
                {
                    "delivery_start_utc": starts,
                    "delivery_date_local": day,
                    "resolution_minutes": 60,
                    "price_per_mwh": actual,
                    "version": 1,
                    "published_at_utc": pd.Timestamp(market.price_publication_utc(day)),
                }
            )
        )
        for model, fn in models.items():
            fc.append(
                pd.DataFrame(
                    {"delivery_date_local": day, "delivery_start_utc": starts, "model": model, "forecast": fn(actual)}
                )
            )
    history = PublishedHistory.from_frames("DE", pd.concat(rows, ignore_index=True), empty_exogenous())
    wide = pd.concat(fc).pivot_table(
        index=["delivery_date_local", "delivery_start_utc"], columns="model", values="forecast"
    )
    return history, wide


def test_the_money_rule_crowns_the_forecast_that_ranks_the_hours_even_with_a_worse_mae():
    days = [date(2017, 5, 1) + timedelta(days=k) for k in range(50)]
    models = {
        # the right shape, 15 too high everywhere: MAE 15, yet its schedule is the perfect-foresight one
        "shifted": lambda actual: actual + 15.0,
        # close to the level but with the hours' order reversed around the mean: MAE about 11, earns nothing
        "flat": lambda actual: actual.mean() - 0.1 * (actual - actual.mean()),
    }
    history, wide = _shaped_history(days, models)
    by_mae = replay(wide, history, days[30:], "shifted", POLICY)
    by_money = replay(
        wide,
        history,
        days[30:],
        "flat",
        ChampionPolicy(window_days=28, margin_pct=5.0, min_days=14, metric="money"),
        None,
        fixed_schedule_value,
    )
    assert by_mae[-1].champion == "flat" and "rolling MAE" in switches(by_mae)[0].reason
    assert by_money[-1].champion == "shifted" and "rolling regret" in switches(by_money)[0].reason
    assert by_money[-1].incumbent_mae == pytest.approx(0.0, abs=1e-9)  # the shifted forecast's regret: it ranks right
    assert by_money[-1].challenger_mae > 0.9  # reversed ranking: loses money (regret above 1 - 0)


def test_money_scores_only_days_published_by_the_cutoff():
    from griddesk.forecasting.champion import FixedScheduleValues, rolling_regret_as_known
    from griddesk.forecasting.pit_cache import actuals_known_at

    days = [date(2017, 5, 1) + timedelta(days=k) for k in range(10)]
    history, wide = _shaped_history(days, {"a": lambda x: x + 1.0, "b": lambda x: x[::-1]})
    decision_day = days[-1]  # its own prices come after its cut-off: the window holds the 9 days before it
    market = get_market("DE")
    known = actuals_known_at(history, market.gate_closure_utc(decision_day), days[0], days[-1])
    regrets, n_days = rolling_regret_as_known(wide, known, decision_day, 28, FixedScheduleValues(fixed_schedule_value))
    assert n_days == 9 and regrets["a"] == pytest.approx(0.0, abs=1e-9) and regrets["b"] > 0


# --- ensembles and registry ids ---------------------------------------------------------------------------------


def test_combine_is_a_weighted_mean_and_checks_its_members():
    index = pd.RangeIndex(3)
    a = pd.Series([1.0, 2.0, 3.0], index=index)
    b = pd.Series([3.0, 4.0, 5.0], index=index)
    np.testing.assert_allclose(combine({"a": a, "b": b}).to_numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_allclose(combine({"a": a, "b": b}, {"a": 3.0, "b": 1.0}).to_numpy(), [1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match="NaN"):
        combine({"a": a, "b": pd.Series([1.0, np.nan, 1.0], index=index)})
    with pytest.raises(ValueError, match="other MTUs"):
        combine({"a": a, "b": pd.Series([1.0, 1.0, 1.0], index=pd.RangeIndex(1, 4))})


def test_inverse_mae_weights_favour_the_more_accurate_member():
    weights = inverse_mae_weights({"a": 1.0, "b": 3.0})
    assert weights == {"a": pytest.approx(0.75), "b": pytest.approx(0.25)}
    assert inverse_mae_weights({"a": 1.0, "b": float("nan")}) == {"a": 0.5, "b": 0.5}


def test_lad_weights_minimise_the_absolute_error_on_the_simplex():
    # Errors (a, b) per hour: (2, -2), (2, -2), (4, 0). The combination's error is 4w - 2, 4w - 2, 4w for weight w
    # on a: total 2|4w - 2| + 4w, least (2) at w = 0.5, whereas a alone costs 8 and b alone 4.
    actual = np.array([10.0, 20.0, 30.0])
    forecasts = np.column_stack([actual + [2.0, 2.0, 4.0], actual + [-2.0, -2.0, 0.0]])
    np.testing.assert_allclose(lad_weights(forecasts, actual), [0.5, 0.5], atol=1e-9)
    # Incomplete hours are left out; an exact member takes all the weight.
    with_gap = np.vstack([forecasts, [np.nan, 1.0]])
    np.testing.assert_allclose(lad_weights(with_gap[:, [1, 0]], np.append(actual, 5.0)), [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(lad_weights(np.column_stack([actual, actual + 5.0]), actual), [1.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="no hour"):
        lad_weights(np.full((2, 2), np.nan), np.ones(2))
    with pytest.raises(ValueError, match="hours x members"):
        lad_weights(np.ones((3, 2)), np.ones(2))


def test_lad_weights_beat_every_point_of_a_simplex_grid():
    rng = np.random.default_rng(3)
    actual = rng.normal(50.0, 10.0, 300)
    forecasts = actual[:, None] + rng.standard_t(3, (300, 3)) * [1.0, 2.0, 3.0] + [0.5, -1.0, 0.0]
    w = lad_weights(forecasts, actual)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    best = np.mean(np.abs(actual - forecasts @ w))
    grid = [(a, b, 1 - a - b) for a in np.linspace(0, 1, 21) for b in np.linspace(0, 1, 21) if a + b <= 1 + 1e-12]
    assert best <= min(np.mean(np.abs(actual - forecasts @ np.array(g))) for g in grid) + 1e-9


def test_weighted_ensembles_fall_back_to_equal_weights_without_enough_history():
    lad = EnsembleModel("x", ("a", "b"), method="lad", window_days=56, min_days=14)
    actual = np.array([10.0, 20.0])
    past = np.column_stack([actual, actual + 4.0])
    assert lad.weights(past, actual, n_days=13) is None
    assert lad.weights(past, actual, n_days=14) == {"a": pytest.approx(1.0), "b": pytest.approx(0.0, abs=1e-9)}
    inverse = EnsembleModel("y", ("a", "b"), method="inverse_mae")
    assert inverse.weights(np.column_stack([actual + 1.0, actual - 3.0]), actual, 1) == {
        "a": pytest.approx(0.75),
        "b": pytest.approx(0.25),
    }
    assert EnsembleModel("z", ("a", "b")).weights(past, actual, 30) is None
    assert lad.spec.hyperparameters == {"method": "lad", "members": ["a", "b"], "window_days": 56, "min_days": 14}


def test_ensemble_needs_two_members_and_a_known_method():
    with pytest.raises(ValueError, match="two members"):
        EnsembleModel("solo", ("prophet",))
    with pytest.raises(ValueError, match="unknown method"):
        EnsembleModel("x", ("a", "b"), method="median")


def test_model_ids_are_stable_per_market_and_change_with_settings():
    spec = ModelSpec("lear_56", "lear", "lear/v1/abc", {"calibration_window_days": 56}, 56)
    same = ModelSpec("lear_56", "lear", "lear/v1/abc", {"calibration_window_days": 56}, 56)
    other = ModelSpec("lear_56", "lear", "lear/v1/abc", {"calibration_window_days": 56, "max_iter": 10}, 56)
    assert spec.model_id("np") == same.model_id("NP") == f"NP/lear_56/{spec.digest}"
    assert spec.model_id("DE") != spec.model_id("NP")
    assert other.model_id("NP") != spec.model_id("NP")
    with pytest.raises(ValueError, match="unknown family"):
        ModelSpec("x", "xgboost", "v")


def test_default_plan_runs_the_named_challengers_and_only_complete_ensembles():
    from griddesk.forecasting.backtest import CHALLENGER_NAMES, default_plan
    from griddesk.reporting.forecast_benchmark import parse_challengers

    full = default_plan(28)
    assert [m.spec.name for m in full.challengers] == list(CHALLENGER_NAMES)
    assert [e.spec.name for e in full.ensembles] == ["lear_ens", "ensemble", "ensemble_lad"]
    naive_only = default_plan(28, challengers=parse_challengers("weekly_naive"))
    assert [m.spec.name for m in naive_only.challengers] == ["weekly_naive"] and naive_only.ensembles == []
    assert [m.spec.name for m in naive_only.production] == ["prophet"]
    assert default_plan(None, challengers=parse_challengers("none")).challengers == []
    assert parse_challengers("all") is None and parse_challengers(" lear_56, lear_84 ") == ["lear_56", "lear_84"]
    with pytest.raises(ValueError, match="unknown challenger.*lear_7.*choose from weekly_naive"):
        default_plan(28, challengers=["lear_7"])
