"""Champion/challenger selection per market, by rolling MAE with a margin, and the champion's forecast of a day.

The incumbent stays unless a challenger is *clearly* better: its MAE over the ``window_days`` before D (scored
against the prices published by D's cut-off) must be at least ``margin_pct`` below the incumbent's over the same
hours. Small differences (noise) therefore never flip the production model back and forth (OpenSTEF keeps the
old model unless the new one is better by a factor; same idea).

:func:`decide` is the pure rule; :func:`replay` applies it day by day over a backtest; :func:`store_decisions`
writes the decisions to ``raw.forecast_champion_decisions`` and flags the registry; :func:`forecast_champion_day`
(:mod:`griddesk.forecasting.production`) is what a production run calls to forecast D with the current champion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from griddesk.forecasting import store
from griddesk.forecasting.pit_cache import PublishedHistory, actuals_known_at
from griddesk.forecasting.production import FALLBACK_MODEL, champion_forecast
from griddesk.markets import get_market

#: What a forecast of a day earns (the ``money`` metric): ``value(plan_prices, realised, energy_mwh)`` is the value, in
#: currency, at the ``realised`` prices of the fixed schedule a 1 MW battery of ``energy_mwh`` makes on
#: ``plan_prices`` (hourly). The caller supplies it (e.g. :func:`griddesk.bidding.optimiser.fixed_schedule_value`):
#: forecasting does not depend on bidding.
ScheduleValue = Callable[[np.ndarray, np.ndarray, float], float]


class ChampionPolicy(BaseModel):
    """How a champion is chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(28, ge=1, description="Days of scored forecasts behind the rolling MAE.")
    margin_pct: float = Field(
        5.0, ge=0.0, lt=100.0, description="A challenger must beat the incumbent's rolling MAE by this many percent."
    )
    min_days: int = Field(14, ge=1, description="Fewer scored days in the window than this: the incumbent stays.")
    metric: Literal["mae", "money"] = Field(
        "mae",
        description="mae: rolling MAE. money: rolling regret of the fixed schedule, 1 - (its value at the realised "
        "prices / the perfect-foresight value) over the window, for a 1 MW battery of money_battery_mwh; what a "
        "forecast earns depends on how it ranks the hours, which the MAE barely sees.",
    )
    money_battery_mwh: float = Field(2.0, gt=0, description="money: the battery's energy, MWh (1 MW, defaults).")

    @property
    def score_name(self) -> str:
        return "rolling MAE" if self.metric == "mae" else "rolling regret (1 - PoP of the fixed schedule)"


@dataclass(frozen=True)
class ChampionDecision:
    """The champion for one delivery day and why."""

    delivery_date: date
    champion: str
    incumbent: str
    best_challenger: str | None
    incumbent_mae: float | None
    challenger_mae: float | None
    is_switch: bool
    reason: str


def decide(
    day: date,
    incumbent: str,
    rolling_mae: Mapping[str, float],
    scored_days: int,
    policy: ChampionPolicy,
    candidates: Sequence[str] | None = None,
) -> ChampionDecision:
    """Keep the incumbent unless a candidate's rolling score is ``margin_pct`` below the incumbent's.

    The score is the policy's metric (lower is better): the rolling MAE, or with ``metric="money"`` the rolling
    regret of the fixed schedule (:func:`rolling_regret_as_known`); ``rolling_mae`` then holds regrets.

    Args:
        day: The delivery day the decision is for.
        incumbent: Champion of the day before.
        rolling_mae: Model name -> MAE over the window (same hours for every model); NaN when unscored.
        scored_days: Days in the window with scores.
        policy: Window, margin and minimum days.
        candidates: Models allowed to become champion (default: every key of ``rolling_mae``).

    Raises:
        ValueError: The incumbent is not among ``rolling_mae``.
    """
    if incumbent not in rolling_mae:
        raise ValueError(f"incumbent {incumbent!r} has no rolling MAE; models: {', '.join(rolling_mae)}")
    pool = [c for c in (candidates or rolling_mae) if c != incumbent and c in rolling_mae]
    scored = {c: rolling_mae[c] for c in pool if not np.isnan(rolling_mae[c])}
    inc_mae = rolling_mae[incumbent]
    best = min(scored, key=lambda c: scored[c]) if scored else None
    best_mae = scored[best] if best else None
    inc_value = None if np.isnan(inc_mae) else float(inc_mae)
    if scored_days < policy.min_days or inc_value is None or best is None:
        reason = f"incumbent kept: {scored_days} scored day(s) in the window, {policy.min_days} needed"
        return ChampionDecision(day, incumbent, incumbent, best, inc_value, best_mae, False, reason)
    threshold = inc_value * (1.0 - policy.margin_pct / 100.0)
    if best_mae is not None and best_mae < threshold:
        reason = (
            f"{best} took over: {policy.score_name} {best_mae:.3f} < {threshold:.3f} "
            f"({incumbent} {inc_value:.3f} less {policy.margin_pct:g} %)"
        )
        return ChampionDecision(day, best, incumbent, best, inc_value, best_mae, True, reason)
    reason = f"incumbent kept: best challenger {best} {policy.score_name} {best_mae:.3f} not below {threshold:.3f}"
    return ChampionDecision(day, incumbent, incumbent, best, inc_value, best_mae, False, reason)


def rolling_mae_as_known(
    forecasts: pd.DataFrame, actual_known: pd.Series, day: date, window_days: int
) -> tuple[dict[str, float], int]:
    """Each model's MAE over the window before ``day``, on the MTUs every model forecast.

    Args:
        forecasts: Wide frame, index (``delivery_date_local``, ``delivery_start_utc``), one column per model.
        actual_known: Realised prices as published by D's cut-off, UTC index.
        day: The decision day D.
        window_days: Window length.

    Returns:
        ``(model -> MAE, number of scored days)``; MAEs are NaN when nothing is scored.
    """
    first = day - timedelta(days=window_days)
    days = forecasts.index.get_level_values(0)
    past = forecasts[(days >= first) & (days < day)].dropna()
    actual = actual_known.reindex(past.index.get_level_values(1)).to_numpy()
    ok = ~np.isnan(actual)
    if not ok.any():
        return {m: float("nan") for m in forecasts.columns}, 0
    errors = np.abs(past.to_numpy()[ok] - actual[ok, None]).mean(axis=0)
    n_days = len(pd.unique(past.index.get_level_values(0)[ok]))
    return dict(zip(forecasts.columns, map(float, errors), strict=True)), n_days


class FixedScheduleValues:
    """Memo of what a forecast of a day earns: the fixed schedule (the exact whole-tick optimum on the forecast, end
    SoC back at the start) valued at the realised prices, and the perfect-foresight value of the day.

    Args:
        schedule_value: The money scorer (:data:`ScheduleValue`).
        energy_mwh: The 1 MW battery's energy, MWh.
    """

    def __init__(self, schedule_value: ScheduleValue, energy_mwh: float = 2.0) -> None:
        self.schedule_value = schedule_value
        self.energy_mwh = energy_mwh
        self._memo: dict[tuple[str, date], float] = {}

    def value(self, model: str, day: date, forecast: np.ndarray, realised: np.ndarray) -> float:
        """Value of ``model``'s fixed schedule of ``day`` at the realised prices, currency."""
        key = (model, day)
        if key not in self._memo:
            plan_prices, realised = np.asarray(forecast, float), np.asarray(realised, float)
            self._memo[key] = self.schedule_value(plan_prices, realised, self.energy_mwh)
        return self._memo[key]

    def perfect(self, day: date, realised: np.ndarray) -> float:
        return self.value("\x00perfect", day, realised, realised)


def rolling_regret_as_known(
    forecasts: pd.DataFrame, actual_known: pd.Series, day: date, window_days: int, values: FixedScheduleValues
) -> tuple[dict[str, float], int]:
    """Each model's regret over the window before ``day``: ``1 - sum(fixed-schedule value) / sum(perfect value)``
    on the days every model forecast and whose prices were all published by D's cut-off (same input as
    :func:`rolling_mae_as_known`). NaN when nothing is scored or perfect foresight earns nothing."""
    first = day - timedelta(days=window_days)
    days = forecasts.index.get_level_values(0)
    past = forecasts[(days >= first) & (days < day)].dropna()
    earned = dict.fromkeys(forecasts.columns, 0.0)
    perfect, n_days = 0.0, 0
    for d, frame in past.groupby(level=0, sort=True):
        realised = actual_known.reindex(frame.index.get_level_values(1)).to_numpy(dtype=float)
        if np.isnan(realised).any():
            continue  # a day not (wholly) published by the cut-off is not scored
        perfect += values.perfect(d, realised)
        for model in forecasts.columns:
            earned[model] += values.value(model, d, frame[model].to_numpy(dtype=float), realised)
        n_days += 1
    if n_days == 0 or perfect <= 0:
        return {m: float("nan") for m in forecasts.columns}, n_days
    return {m: 1.0 - earned[m] / perfect for m in forecasts.columns}, n_days


def replay(
    forecasts: pd.DataFrame,
    history: PublishedHistory,
    days: Sequence[date],
    initial: str,
    policy: ChampionPolicy | None = None,
    candidates: Sequence[str] | None = None,
    schedule_value: ScheduleValue | None = None,
) -> list[ChampionDecision]:
    """Decide the champion of every day of ``days`` in order, as production would have on each cut-off.

    Args:
        forecasts: Wide stored forecasts (see :func:`rolling_mae_as_known`), covering the window before the
            first day too (warm-up days).
        history: :class:`griddesk.forecasting.pit_cache.PublishedHistory` of the market.
        days: Decision days, ascending.
        initial: The champion before the first day (the production model).
        policy: Defaults to :class:`ChampionPolicy`.
        candidates: Models allowed to become champion.
        schedule_value: The money scorer (:data:`ScheduleValue`); needed when ``policy.metric`` is ``money``.

    Raises:
        ValueError: The money metric without ``schedule_value``.
    """
    policy = policy or ChampionPolicy()
    market = get_market(history.market_code)
    values = None
    if policy.metric == "money":
        if schedule_value is None:
            raise ValueError("the money champion metric needs a schedule_value (e.g. bidding's fixed_schedule_value)")
        values = FixedScheduleValues(schedule_value, policy.money_battery_mwh)
    incumbent = initial
    out = []
    for day in days:
        known = actuals_known_at(
            history, market.gate_closure_utc(day), day - timedelta(days=policy.window_days), day - timedelta(days=1)
        )
        if values is None:
            maes, n_days = rolling_mae_as_known(forecasts, known, day, policy.window_days)
        else:
            maes, n_days = rolling_regret_as_known(forecasts, known, day, policy.window_days, values)
        decision = decide(day, incumbent, maes, n_days, policy, candidates)
        out.append(decision)
        incumbent = decision.champion
    return out


def switches(decisions: Sequence[ChampionDecision]) -> list[ChampionDecision]:
    """The decisions that changed the champion."""
    return [d for d in decisions if d.is_switch]


def store_decisions(
    conn,
    market_code: str,
    decisions: Sequence[ChampionDecision],
    model_ids: Mapping[str, str],
    policy: ChampionPolicy,
    run_id: str | None = None,
) -> None:
    """Replace the stored decisions of these days and flag the last day's champion in the registry."""
    if not decisions:
        return
    mae = policy.metric == "mae"  # the decision's scores are MAEs or regrets, each in its own columns
    rows = [
        (
            market_code,
            d.delivery_date,
            model_ids[d.champion],
            model_ids[d.incumbent],
            model_ids.get(d.best_challenger) if d.best_challenger else None,
            d.incumbent_mae if mae else None,
            d.challenger_mae if mae else None,
            None if mae else d.incumbent_mae,
            None if mae else d.challenger_mae,
            policy.metric,
            policy.window_days,
            policy.margin_pct,
            d.is_switch,
            d.reason,
            run_id,
        )
        for d in decisions
    ]
    store.replace_champion_decisions(conn, market_code, [d.delivery_date for d in decisions], rows)
    store.set_champion(conn, market_code, model_ids[decisions[-1].champion])


def champion_on(conn, market_code: str, delivery_date: date) -> str | None:
    """The champion model id decided for the latest day on or before ``delivery_date``; else the registry flag."""
    return store.champion_lookup(conn, market_code.upper(), delivery_date)[0]


def forecast_champion_day(conn, market_code: str, delivery_date: date, fallback: str = "prophet", plan=None):
    """Forecast D with the market's current champion (see :func:`griddesk.forecasting.production.champion_forecast`).

    Returns:
        ``(forecast_df, model_id, model_name)`` of the model that produced the forecast.
    """
    if fallback != FALLBACK_MODEL:
        raise ValueError(f"the fallback is the production model {FALLBACK_MODEL!r}, got {fallback!r}")
    result = champion_forecast(conn, market_code, delivery_date, plan=plan)
    return result.forecast, result.model_id, result.model_name
