"""The battery's SoC dynamics as MILP rows, declared once and composed by the bidding optimisers.

The schedule MILP (:mod:`griddesk.bidding.optimiser`), the portfolio's joint bid
(:mod:`griddesk.bidding.portfolio`) and the bid-curve MILP (:mod:`griddesk.bidding.curves`) each declare their
own decisions (tick counts, purchases, curve positions), objective and market rows, and add the battery through
this module, the way energy-py-linear composes assets. Two forms of the battery:

- :func:`add_battery`, for a model that follows one SoC path (the schedule and the portfolio): a charging flag
  and the SoC per MTU, with, for the charge flow ``c[t]`` and discharge flow ``d[t]`` the optimiser declares
  (whole ticks or MWh; the portfolio splits the discharge between its load and the grid)::

      c[t] <= cap * is_charging[t],  d[t] <= cap * (1 - is_charging[t])        (no charging while discharging)
      soc[t] = soc[t-1] + per_charge * c[t] - per_discharge * d[t],  soc[-1] = start
      window low <= soc[t] <= window high,  end low <= soc[T-1] <= end high
      sum_t d[t] (times drawn per unit)  <= cycle cap                            (only with a cycle cap)

  in the SoC units of :class:`SocScale` (MWh, or whole SoC-grid steps above the start).
- :class:`RobustSocPaths`, for the bid curves: every combination of accepted steps must keep the SoC feasible,
  so the highest and the lowest SoC path (every MTU clearing in its lowest, resp. highest, price segment) stay in
  the SoC window and the end band, and the cycle cap holds with every MTU clearing in its highest segment.

CBC's result can depend on variable names and on the order of the rows, so every row is added in the order (and
with the name) each optimiser used before it composed this module; :func:`add_battery`'s ``market_rows`` keeps the
portfolio's order (its own balance row first in each MTU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulp

from griddesk.bidding.battery import BatteryConfig


def end_band_mwh(battery: BatteryConfig, valued: bool = False) -> tuple[float, float]:
    """Allowed end SoC, MWh: the target band (target ± tolerance) when fixed, the SoC window when valued."""
    b = battery
    if valued:
        return b.soc_min_mwh, b.soc_max_mwh
    return b.end_soc_target_mwh - b.end_soc_tolerance_mwh, b.end_soc_target_mwh + b.end_soc_tolerance_mwh


def cycle_cap_mwh(battery: BatteryConfig) -> float | None:
    """Energy the battery may draw from storage in a day (``max_cycles_per_day`` x usable energy), MWh; None: no cap."""
    b = battery
    return None if b.max_cycles_per_day is None else b.max_cycles_per_day * b.usable_energy_mwh


@dataclass(frozen=True)
class SocScale:
    """The units a model counts the SoC in, and the battery's limits in those units.

    Attributes:
        start: SoC before the first MTU.
        per_charge: SoC gain per unit of the charge flow (e.g. ``tick * eta_c * dt_h`` MWh, or grid steps).
        per_discharge: SoC loss per unit of the discharge flow.
        window: (low, high) bounds of the SoC variables.
        end_band: (low, high) of the SoC at the end of the last MTU.
        integral: Whether the SoC variables are integers (whole grid steps).
    """

    start: float
    per_charge: float
    per_discharge: float
    window: tuple[float, float]
    end_band: tuple[float, float]
    integral: bool = False

    @classmethod
    def of_energy_flows(cls, battery: BatteryConfig, valued: bool = False) -> SocScale:
        """The SoC in MWh for flows in MWh per MTU: ``eta_c`` stored per MWh charged, ``1 / eta_d`` drawn per MWh
        discharged, the battery's window and end band (the window when ``valued``)."""
        b = battery
        window = (b.soc_min_mwh, b.soc_max_mwh)
        return cls(
            b.initial_soc_mwh, b.charge_efficiency, 1.0 / b.discharge_efficiency, window, end_band_mwh(b, valued)
        )


@dataclass(frozen=True)
class CycleCap:
    """``sum_t d[t] <= limit`` (``drawn_per_unit`` None: the cap in units of the discharge flow, e.g. whole ticks),
    else ``sum_t d[t] * drawn_per_unit <= limit`` (e.g. MWh drawn from storage)."""

    limit: float
    drawn_per_unit: float | None = None


@dataclass(frozen=True)
class BatteryNames:
    """Names of the battery's variables (``str.format`` templates of ``t``) and whether its rows are named."""

    is_charging: str = "is_charging_{t:04d}"
    soc: str = "soc_mwh_{t:04d}"
    named_rows: bool = True


@dataclass(frozen=True)
class BatteryFlows:
    """The optimiser's charge and discharge flow per MTU (variables or expressions) and their common bound."""

    charge: Sequence
    discharge: Sequence
    cap: float
    #: Rows the optimiser adds on the flows (e.g. demand-response caps), after the SoC balance rows.
    window_rows: Sequence = ()


@dataclass(frozen=True)
class BatteryVariables:
    """The battery's part of a model: its flows, charging flags and SoC per MTU (``SocScale`` units)."""

    charge: Sequence
    discharge: Sequence
    is_charging: list[pulp.LpVariable]
    soc: list[pulp.LpVariable]
    soc_start: float
    soc_change: tuple[float, float]  # SoC change per unit of charge and per unit of discharge


def add_battery(
    prob: pulp.LpProblem,
    flows: BatteryFlows,
    scale: SocScale,
    *,
    names: BatteryNames = BatteryNames(),
    cycle_cap: CycleCap | None = None,
    integral: bool = True,
    market_rows: Callable[[int], None] | None = None,
) -> BatteryVariables:
    """Add the battery's variables and SoC rows (module docstring) to ``prob``.

    Args:
        prob: The optimiser's problem.
        flows: Charge and discharge per MTU; ``flows.window_rows`` follow the SoC balance rows.
        scale: SoC units, window and end band.
        names: Variable names and whether rows are named (``charge_only_while_charging_0000``, ``soc_0000``,
            ``end_soc_low``, ``max_cycles``, ...) or numbered by PuLP.
        cycle_cap: Limit on the energy drawn in the day; None: none.
        integral: False relaxes the charging flags (and a grid SoC) to continuous (an LP).
        market_rows: Called with each MTU before that MTU's battery rows (then the rows go MTU by MTU);
            without it, every MTU's charging rows come first, then every SoC balance row.
    """
    n = len(flows.charge)
    cat = pulp.LpInteger if integral else pulp.LpContinuous
    is_charging = [pulp.LpVariable(names.is_charging.format(t=t), 0, 1, cat) for t in range(n)]
    soc_cat = cat if scale.integral else pulp.LpContinuous
    low, high = scale.window
    soc = [pulp.LpVariable(names.soc.format(t=t), low, high, soc_cat) for t in range(n)]
    model = BatteryVariables(
        flows.charge, flows.discharge, is_charging, soc, scale.start, (scale.per_charge, scale.per_discharge)
    )

    def name(text: str, t: int | None = None) -> str | None:
        return (text if t is None else f"{text}_{t:04d}") if names.named_rows else None

    if market_rows is None:
        for t in range(n):
            _add_switch_rows(prob, model, flows.cap, t, name)
        for t in range(n):
            prob.addConstraint(_soc_balance(model, t), name("soc", t))
    else:
        for t in range(n):
            market_rows(t)
            _add_switch_rows(prob, model, flows.cap, t, name)
            prob.addConstraint(_soc_balance(model, t), name("soc", t))
    for row in flows.window_rows:
        prob.addConstraint(row)
    prob.addConstraint(soc[-1] >= scale.end_band[0], name("end_soc_low"))
    prob.addConstraint(soc[-1] <= scale.end_band[1], name("end_soc_high"))
    if cycle_cap is not None:
        if cycle_cap.drawn_per_unit is None:
            drawn = pulp.lpSum(flows.discharge)
        else:
            drawn = pulp.lpSum(flows.discharge[t] * cycle_cap.drawn_per_unit for t in range(n))
        prob.addConstraint(drawn <= cycle_cap.limit, name("max_cycles"))
    return model


def _add_switch_rows(
    prob: pulp.LpProblem, model: BatteryVariables, cap: float, t: int, name: Callable[..., str | None]
) -> None:
    """No charging while discharging in MTU ``t``: each flow up to ``cap`` only on its side of the flag."""
    prob.addConstraint(model.charge[t] <= cap * model.is_charging[t], name("charge_only_while_charging", t))
    prob.addConstraint(
        model.discharge[t] <= cap * (1 - model.is_charging[t]), name("discharge_only_while_not_charging", t)
    )


def _soc_balance(model: BatteryVariables, t: int) -> pulp.LpConstraint:
    previous = model.soc[t - 1] if t else model.soc_start
    per_charge, per_discharge = model.soc_change
    return model.soc[t] == previous + per_charge * model.charge[t] - per_discharge * model.discharge[t]


@dataclass(frozen=True)
class RobustSocPaths:
    """The highest and lowest SoC paths of a bid curve over every combination of accepted steps (MWh).

    Per MTU :meth:`add_mtu` appends the highest path's SoC change (every MTU clearing in its lowest segment)
    and the lowest path's (every MTU clearing in its highest), and bounds both paths by the SoC window;
    :meth:`add_day` bounds their ends by the end band and the energy drawn by the cycle cap.

    Attributes:
        battery: The battery.
        store_per_tick_mwh: MWh stored per tick of net buying for one MTU.
        draw_per_tick_mwh: MWh drawn per tick of net selling for one MTU.
        high: Per MTU so far, the highest path's SoC change (expressions, MWh); filled by :meth:`add_mtu`.
        low: Per MTU so far, the lowest path's SoC change.
        drawn: Per MTU so far, the most energy the cycle cap counts as drawn (with a cycle cap only).
    """

    battery: BatteryConfig
    store_per_tick_mwh: float
    draw_per_tick_mwh: float
    high: list = field(default_factory=list)
    low: list = field(default_factory=list)
    drawn: list = field(default_factory=list)

    def soc_change(self, prob: pulp.LpProblem, position: pulp.LpVariable, suffix: str) -> pulp.LpVariable:
        """A variable at most the SoC change of net position ``position`` (ticks, +sell): the lower of the
        charging and the discharging line, exact where it is maximised (concave)."""
        w = pulp.LpVariable(f"w_{suffix}")
        prob += w <= -self.draw_per_tick_mwh * position, f"soc_change_selling_{suffix}"
        prob += w <= -self.store_per_tick_mwh * position, f"soc_change_buying_{suffix}"
        return w

    def add_mtu(self, prob: pulp.LpProblem, t: int, lowest: pulp.LpVariable, highest: tuple) -> None:
        """MTU ``t``: ``lowest`` is the net position (ticks) of its lowest price segment, ``highest`` the net
        position of its highest segment and that position's ``soc_change``. Adds the cycle cap's worst case (the
        highest position sold) and the SoC window on both paths after the MTU."""
        b = self.battery
        highest_position, highest_change = highest
        self.high.append(-self.store_per_tick_mwh * lowest)  # exact when buying; a firm sell at the charge rate (safe)
        self.low.append(highest_change)
        if b.max_cycles_per_day is not None:
            sold = pulp.LpVariable(f"sold_worst_{t:03d}", 0)
            prob += sold >= highest_position, f"sold_worst_{t:03d}"
            self.drawn.append(self.draw_per_tick_mwh * sold)
        prob += b.initial_soc_mwh + pulp.lpSum(self.high) <= b.soc_max_mwh, f"soc_high_{t:03d}"
        prob += b.initial_soc_mwh + pulp.lpSum(self.low) >= b.soc_min_mwh, f"soc_low_{t:03d}"

    def add_day(self, prob: pulp.LpProblem, valued: bool) -> None:
        """Both paths' ends in the end band (unless the end SoC is ``valued``) and the cycle cap."""
        b = self.battery
        if not valued:
            end_low, end_high = end_band_mwh(b)
            prob += b.initial_soc_mwh + pulp.lpSum(self.high) <= end_high, "end_soc_high"
            prob += b.initial_soc_mwh + pulp.lpSum(self.low) >= end_low, "end_soc_low"
        cap = cycle_cap_mwh(b)
        if cap is not None:
            prob += pulp.lpSum(self.drawn) <= cap, "max_cycles"
