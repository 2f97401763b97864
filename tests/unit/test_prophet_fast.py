"""The Prophet speed-ups change no forecast: the fast Stan JSON round-trips exactly, and ``predict_additive``
equals Prophet's own ``predict``."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from griddesk.prophet_fast import fast_stan, predict_additive, write_stan_json_fast

logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
from prophet import Prophet  # noqa: E402


def test_fast_stan_json_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    data = {
        "T": 3,
        "X": rng.normal(size=(3, 4)) / 3.0,
        "y": [0.1, 1e-17, 2.5],
        "flag": np.array([True, False]),
        "s": np.arange(2),
        "k": 0.5,
        "empty": np.zeros(0),
    }
    write_stan_json_fast(str(tmp_path / "d.json"), data)
    back = json.loads((tmp_path / "d.json").read_text())
    assert back["T"] == 3 and back["flag"] == [1, 0] and back["s"] == [0, 1] and back["k"] == 0.5
    assert back["y"] == [0.1, 1e-17, 2.5] and back["empty"] == []
    np.testing.assert_allclose(np.array(back["X"]), data["X"], rtol=1e-14, atol=0)


def test_fast_stan_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="'y' holds NaN"):
        write_stan_json_fast(str(tmp_path / "d.json"), {"y": [1.0, float("nan")]})


def _daily_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2018-01-01", periods=n, freq="D")
    a, b = rng.normal(size=n), (rng.random(n) < 0.1).astype(float)
    y = 20 + 0.01 * np.arange(n) + 3 * a - 2 * b + np.sin(2 * np.pi * ds.dayofweek / 7) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"ds": ds, "a": a, "b": b, "y": y})


def _weekly_model(cls, **kwargs):
    """A small model of ``cls`` (Prophet or a subclass) for :func:`_daily_frame`: 5 changepoints, weekly
    seasonality of order 3, no yearly or daily seasonality, no uncertainty samples."""
    return cls(
        n_changepoints=5,
        yearly_seasonality=False,
        weekly_seasonality=3,
        daily_seasonality=False,
        uncertainty_samples=0,
        **kwargs,
    )


@pytest.mark.parametrize("scaling", ["absmax", "minmax"])
def test_predict_additive_equals_prophet_predict(scaling):
    df = _daily_frame(120, 3)
    model = _weekly_model(Prophet, scaling=scaling)
    model.add_regressor("a", prior_scale=10.0)
    model.add_regressor("b", prior_scale=10.0)  # binary: Prophet leaves it unstandardised
    with fast_stan(model):
        model.fit(df.iloc[:100], seed=1)
    future = df.iloc[95:].drop(columns="y").reset_index(drop=True)  # history and beyond it
    np.testing.assert_allclose(predict_additive(model, future), model.predict(future)["yhat"], rtol=0, atol=1e-10)


def test_fast_stan_caps_iterations_and_restores_backend():
    df = _daily_frame(80, 4)
    first = Prophet(yearly_seasonality=False, daily_seasonality=False, uncertainty_samples=0)
    with fast_stan(first):
        first.fit(df, seed=1)
    backend = first.stan_backend.model
    capped = Prophet(yearly_seasonality=False, daily_seasonality=False, uncertainty_samples=0)
    with fast_stan(capped, max_iter=1):
        capped.fit(df, seed=1)
    # One L-BFGS step from Prophet's default init cannot reach the optimum the uncapped fit found.
    assert abs(float(capped.params["k"][0, 0]) - float(first.params["k"][0, 0])) > 1e-6
    assert first.stan_backend.model is backend and type(backend).__name__ == "CmdStanModel"


def test_predict_additive_refuses_what_it_does_not_compute():
    df = _daily_frame(60, 5)
    model = Prophet(
        yearly_seasonality=False, daily_seasonality=False, uncertainty_samples=0, seasonality_mode="multiplicative"
    )
    with fast_stan(model):
        model.fit(df[["ds", "y"]], seed=1)
    with pytest.raises(ValueError, match="additive"):
        predict_additive(model, df[["ds"]])
    with pytest.raises(ValueError, match="not fitted"):
        predict_additive(Prophet(), df[["ds"]])


@pytest.mark.parametrize("initialize_scales", [True, False])
def test_lean_prophet_prepares_and_fits_exactly_as_prophet(initialize_scales):
    from griddesk.prophet_fast import lean_prophet

    df = _daily_frame(90, 6).sample(frac=1.0, random_state=2)  # unsorted: both must sort the same way

    def build(cls):
        model = _weekly_model(cls)
        model.add_regressor("a")
        model.add_regressor("b")
        return model

    lean, plain = build(lean_prophet), build(Prophet)
    with fast_stan(lean):
        lean.fit(df.copy(), seed=1)
    with fast_stan(plain):
        plain.fit(df.copy(), seed=1)
    for key in ("k", "m", "delta", "beta", "sigma_obs"):
        np.testing.assert_array_equal(lean.params[key], plain.params[key])
    future = df.drop(columns="y").iloc[:10]
    pd.testing.assert_frame_equal(
        lean.setup_dataframe(future.copy(), initialize_scales=False),
        plain.setup_dataframe(future.copy(), initialize_scales=False),
        check_exact=True,
    )
    train = df.copy()
    fresh_lean, fresh_plain = build(lean_prophet), build(Prophet)
    if initialize_scales:
        for model in (fresh_lean, fresh_plain):
            model.history_dates = pd.to_datetime(train["ds"]).sort_values()
    else:
        fresh_lean, fresh_plain = lean, plain
    pd.testing.assert_frame_equal(
        fresh_lean.setup_dataframe(train.copy(), initialize_scales=initialize_scales),
        fresh_plain.setup_dataframe(train.copy(), initialize_scales=initialize_scales),
        check_exact=True,
    )
    with pytest.raises(ValueError, match="Found NaN in column 'a'"):
        lean.setup_dataframe(future.assign(a=np.nan))
