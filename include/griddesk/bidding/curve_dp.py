"""The bid-curve MILP of :mod:`griddesk.bidding.curves`, solved exactly by dynamic programming on the SoC grid.

Branch and bound struggles with the curve MILP for the same reason as with the schedule MILP (whole ticks put
the SoC on a grid; CBC and HiGHS needed seconds per day), but its structure is simple:

- the robust constraints only see, per MTU, the net position of the lowest price segment ``a = y[t, 0]``
  (the highest-SoC path) and of the highest ``c = y[t, J]`` (the lowest-SoC path);
- on the grid (round trip p/q) a net position ``y`` ticks moves the SoC by ``p * (-y)`` steps when buying and
  ``-q * y`` steps when selling, so both paths are whole grid levels ``H`` and ``L``;
- everything else in an MTU (the inner positions, the step count, the expected revenue, wear and end-SoC
  value) depends on ``(a, c)`` only through a small inner DP over the segments: ``V_t(a, c)``.

So the outer DP runs over MTUs with state ``(H, L)`` and one choice ``(a, c)`` per MTU. A lower ``H`` and a
higher ``L`` are never worse (they only enter ``H <= soc_max``, ``L >= soc_min`` and the end band), so choices
dominated in ``(SoC gain of a, SoC change of c, V)`` are dropped first. Ties go to the earliest choice in a
fixed order (inactive first, then small volumes), so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from griddesk.bidding.optimiser import SocGrid

#: Largest (H, L) table the DP builds; beyond it the caller falls back to the MILP.
MAX_CURVE_DP_CELLS = 120_000
#: Step counts are tracked up to this cap ("3 or more").
_STEP_CAP = 3
_NEG = -np.inf


@dataclass(frozen=True)
class CurvePlan:
    """Net positions per MTU and segment (whole ticks) and the objective (market currency)."""

    positions: list[np.ndarray]
    objective_value: float


@dataclass(frozen=True)
class GainTerms:
    """What one tick of net position is worth in an MTU: MTU hours, volume tick (MW), wear and end-SoC value per
    MWh, and the MWh stored per tick bought and drawn per tick sold."""

    dt_h: float
    tick: float
    wear_per_mwh: float
    value_per_mwh: float
    store_per_tick_mwh: float
    draw_per_tick_mwh: float


def segment_gains(probability: np.ndarray, partial_mean: np.ndarray, ys: np.ndarray, terms: GainTerms) -> np.ndarray:
    """``g[j, i]``: expected contribution of net position ``ys[i]`` (ticks) in segment ``j`` of one MTU."""
    dt_h, tick = terms.dt_h, terms.tick
    soc_change = np.where(ys > 0, -terms.draw_per_tick_mwh * ys, -terms.store_per_tick_mwh * ys)
    return (
        dt_h * tick * partial_mean[:, None] * ys[None, :]
        - probability[:, None] * dt_h * tick * terms.wear_per_mwh * np.abs(ys)[None, :]
        + terms.value_per_mwh * probability[:, None] * soc_change[None, :]
    )


def _shift_counts(values: np.ndarray, add: int) -> np.ndarray:
    """``out[..., kn] = max over k with min(3, k + add) = kn of values[..., k]`` (step counts capped at 3)."""
    out = np.full_like(values, _NEG)
    for k in range(_STEP_CAP + 1):
        kn = min(_STEP_CAP, k + add)
        out[..., kn] = np.maximum(out[..., kn], values[..., k])
    return out


def _rise_sources(f: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best predecessors for a rise into each position, split by the steps the rise creates.

    Returns ``(one, two)``, both shaped like ``f`` (start, position, count): ``one[.., i, k]`` the best
    ``f[.., i', k]`` over lower positions ``i' < i`` whose rise creates one step (both positions on the same
    side of zero, or rising from a buy to zero), ``two`` over those creating two (from a buy to a sell).
    """
    ny = len(ys)
    z = int(np.searchsorted(ys, 0))  # first position >= 0
    strict_prefix = np.full_like(f, _NEG)
    strict_prefix[:, 1:] = np.maximum.accumulate(f, axis=1)[:, :-1]
    one = strict_prefix.copy()
    two = np.full_like(f, _NEG)
    if z < ny:
        sell = ys > 0
        # Into a sell position: from non-negative positions (one step) or from buys (two steps).
        from_non_negative = np.full_like(f[:, z:], _NEG)
        from_non_negative[:, 1:] = np.maximum.accumulate(f[:, z:], axis=1)[:, :-1]
        one[:, sell] = from_non_negative[:, sell[z:]]
        if z > 0:
            best_buy = f[:, :z].max(axis=1)  # (start, count)
            two[:, sell] = best_buy[:, None, :]
    return one, two


def inner_values(g: np.ndarray, ys: np.ndarray, min_steps: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Best inner curve for every pair (lowest-segment position, highest-segment position).

    Args:
        g: ``segment_gains`` (segments x positions).
        ys: The allowed positions, ascending ticks.
        min_steps: An active MTU needs at least this many non-zero steps.

    Returns:
        ``(V, tables)``: ``V[ia, ic]`` the best value with ``y[0] = ys[ia]`` and ``y[J] = ys[ic]`` (-inf if
        impossible); ``tables[j][ia, i, k]`` the best value up to segment ``j`` ending at position ``i`` with
        ``k`` steps (capped at 3), for :func:`inner_path`.
    """
    n_seg, ny = g.shape
    # State (ia, i, k): segment 0 sits at position ys[ia]; k counts steps so far (capped at 3).
    f = np.full((ny, ny, _STEP_CAP + 1), _NEG)
    f[np.arange(ny), np.arange(ny), np.minimum((ys > 0).astype(np.int64), _STEP_CAP)] = g[0]  # firm sell: a step
    tables = [f]
    for j in range(1, n_seg):
        one, two = _rise_sources(f, ys)
        f = np.maximum(np.maximum(f, _shift_counts(one, 1)), _shift_counts(two, 2)) + g[j][None, :, None]
        tables.append(f)
    # A firm buy (y[J] < 0) is one more step.
    counts = np.minimum(np.arange(_STEP_CAP + 1)[None, :] + (ys < 0).astype(np.int64)[:, None], _STEP_CAP)
    ok = counts >= min(min_steps, _STEP_CAP)  # (i, k)
    values = np.where(ok[None], f, _NEG).max(axis=2)
    zero = np.flatnonzero(ys == 0)
    if zero.size:
        # All zero: no steps at all, allowed whatever min_steps says.
        values[zero[0], zero[0]] = max(values[zero[0], zero[0]], float(g[:, zero[0]].sum()))
    return values, tables


def inner_path(g: np.ndarray, ys: np.ndarray, tables: list[np.ndarray], ia: int, ic: int, min_steps: int) -> np.ndarray:
    """The positions per segment (ticks) of the best inner curve from ``ys[ia]`` to ``ys[ic]`` (backtracking
    through ``tables``: the first predecessor, lowest position first, that reproduces each value)."""
    n_seg = g.shape[0]
    if ys[ia] == 0 and ys[ic] == 0:
        return np.zeros(n_seg, dtype=np.int64)
    last = tables[-1][ia, ic]
    scored = [
        last[k] if min(k + int(ys[ic] < 0), _STEP_CAP) >= min(min_steps, _STEP_CAP) else _NEG
        for k in range(_STEP_CAP + 1)
    ]
    k = int(np.argmax(scored))
    i = ic
    path = [i]
    for j in range(n_seg - 1, 0, -1):
        target = tables[j][ia, i, k] - g[j][i]
        prev = tables[j - 1][ia]
        found = None
        for i2 in range(i + 1):
            added = int(min(ys[i], 0) > ys[i2]) + int(ys[i] > max(ys[i2], 0)) if i2 < i else 0
            for k2 in range(_STEP_CAP + 1):
                if min(_STEP_CAP, k2 + added) == k and np.isclose(prev[i2, k2], target, rtol=0, atol=1e-9):
                    found = (i2, k2)
                    break
            if found:
                break
        if found is None:  # cannot happen: every finite value has a predecessor
            raise RuntimeError(f"curve DP backtrack failed at segment {j}")
        i, k = found
        path.append(i)
    return ys[np.array(path[::-1])].astype(np.int64)


def pareto_choices(values: np.ndarray, change_steps: np.ndarray, ys: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(ia, ic)`` not dominated in (lower SoC change of a, higher SoC change of c, higher value).

    ``change_steps[i]`` is the SoC change (grid steps) of position ``ys[i]``; ``a`` moves the highest-SoC path
    and ``c`` the lowest. Ordered by total volume (the inactive pair first), so DP ties favour small positions;
    of identical pairs the smaller volume survives.
    """
    ia_idx, ic_idx = np.nonzero(np.isfinite(values))
    if ia_idx.size == 0:
        return []
    volume = np.abs(ys[ia_idx]) + np.abs(ys[ic_idx])
    order = np.lexsort((ic_idx, ia_idx, volume))
    ia_idx, ic_idx = ia_idx[order], ic_idx[order]
    v = values[ia_idx, ic_idx]
    gh = change_steps[ia_idx]
    cl = change_steps[ic_idx]
    # dominates[j, i]: j is at least as good as i in all three and better in one, or equal and earlier.
    at_least = (gh[:, None] <= gh[None, :]) & (cl[:, None] >= cl[None, :]) & (v[:, None] >= v[None, :] - 1e-12)
    better = (gh[:, None] < gh[None, :]) | (cl[:, None] > cl[None, :]) | (v[:, None] > v[None, :] + 1e-12)
    earlier = np.arange(len(v))[:, None] < np.arange(len(v))[None, :]
    dominated = (at_least & (better | earlier)).any(axis=0)
    return [(int(a), int(c)) for a, c in zip(ia_idx[~dominated], ic_idx[~dominated], strict=True)]


def plan_curves_on_grid(
    gains: list[np.ndarray],
    position_ranges: list[np.ndarray],
    grid: SocGrid,
    soc_low_steps: int,
    soc_high_steps: int,
    end_band_steps: tuple[int, int] | None,
    min_steps: int,
) -> CurvePlan | None:
    """The optimal robust curves by DP over (highest-SoC level, lowest-SoC level); None if the table is too big.

    Args:
        gains: Per MTU, ``segment_gains`` over ``position_ranges[t]``.
        position_ranges: Per MTU, the allowed net positions (ascending ticks; demand-response windows applied).
        grid: The SoC grid (charge tick = ``charge_steps`` up, discharge tick = ``discharge_steps`` down).
        soc_low_steps, soc_high_steps: The SoC window in grid steps relative to the initial SoC (low <= 0 <= high).
        end_band_steps: (low, high) end band in steps when the end SoC is fixed; None when valued.
        min_steps: Steps an active MTU needs.

    Returns:
        The plan, or None when the table would exceed ``MAX_CURVE_DP_CELLS`` or no curve is feasible.
    """
    n_levels = soc_high_steps - soc_low_steps + 1
    if n_levels * n_levels > MAX_CURVE_DP_CELLS or not soc_low_steps <= 0 <= soc_high_steps:
        return None
    origin = -soc_low_steps
    w = np.full((n_levels, n_levels), _NEG)  # w[H, L]
    w[origin, origin] = 0.0
    choice_sets, choice_tables, inner_backs = [], [], []
    for g, ys in zip(gains, position_ranges, strict=True):
        values, tables = inner_values(g, ys, min_steps)
        change = np.where(ys > 0, -grid.discharge_steps * ys, -grid.charge_steps * ys)  # SoC steps of a position
        choices = pareto_choices(values, change, ys)
        new = np.full_like(w, _NEG)
        table = np.full(w.shape, -1, dtype=np.int32)
        for number, (ia, ic) in enumerate(choices):
            dh, dl = int(change[ia]), int(change[ic])
            if abs(dh) >= n_levels or abs(dl) >= n_levels:
                continue
            src = w[max(-dh, 0) : n_levels - max(dh, 0), max(-dl, 0) : n_levels - max(dl, 0)]
            dst = new[max(dh, 0) : n_levels - max(-dh, 0), max(dl, 0) : n_levels - max(-dl, 0)]
            cand = src + values[ia, ic]
            better = cand > dst
            dst[better] = cand[better]
            table[max(dh, 0) : n_levels - max(-dh, 0), max(dl, 0) : n_levels - max(-dl, 0)][better] = number
        w = new
        choice_sets.append(choices)
        choice_tables.append(table)
        inner_backs.append(tables)
    final = w.copy()
    if end_band_steps is not None:
        low, high = end_band_steps
        levels = np.arange(n_levels) - origin
        final[levels > high, :] = _NEG  # the highest path must end at or below the band's top
        final[:, levels < low] = _NEG  # the lowest path at or above its bottom
    if not np.isfinite(final).any():
        return None
    h, l_ = np.unravel_index(int(np.argmax(final)), final.shape)
    objective = float(final[h, l_])
    positions: list[np.ndarray] = []
    for t in range(len(gains) - 1, -1, -1):
        number = int(choice_tables[t][h, l_])
        ia, ic = choice_sets[t][number]
        ys = position_ranges[t]
        change = np.where(ys > 0, -grid.discharge_steps * ys, -grid.charge_steps * ys)
        positions.append(inner_path(gains[t], ys, inner_backs[t], ia, ic, min_steps))
        h -= int(change[ia])
        l_ -= int(change[ic])
    return CurvePlan(positions[::-1], objective)


__all__ = ["CurvePlan", "GainTerms", "MAX_CURVE_DP_CELLS", "plan_curves_on_grid", "segment_gains"]
