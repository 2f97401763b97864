"""The published reference's optimiser: a plain daily MILP with continuous volumes (no ticks), for comparison only.

REFERENCES.md section 2 measured its figures (NP 80.6 %, DE 86.7 % with LEAR-Ens) with "a plain daily MILP":
1 MW / 2 MWh, SoC 10-90 %, 90 % round trip, end SoC = start = 50 %, price-taker, on the 24-hour grid of the
published files. GridDesk's optimiser differs in one market rule: volumes are whole 0.1 MW ticks. On NP's flat
prices the ticks cost several % of the perfect-foresight revenue (a 0.843 MW charge that exactly fills the SoC
window is not a whole tick), which moves the ratio; this module reproduces the reference's setting so the
difference can be measured rather than guessed. It uses SciPy's HiGHS MILP; the production path never calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from griddesk.bidding.battery import BatteryConfig


def continuous_schedule(prices_per_mwh: Sequence[float], mtu_minutes: int, battery: BatteryConfig) -> np.ndarray:
    """Net position per MTU (+sell / -buy, MW) maximising revenue with continuous volumes.

    Variables per MTU: charge and discharge power (continuous, 0..power) and a binary that forbids both at once;
    SoC within the window at every MTU end and back at the end target (exact) at the end of the day.

    Raises:
        RuntimeError: HiGHS found no optimal solution (naming its message).
    """
    p = np.asarray(prices_per_mwh, dtype=float)
    n = len(p)
    b = battery
    dt = mtu_minutes / 60.0
    # x = [charge (n), discharge (n), is_charging (n)]; minimise cost = price * (charge - discharge) * dt + wear
    cost = np.concatenate([(p + b.degradation_cost_per_mwh) * dt, (-p + b.degradation_cost_per_mwh) * dt, np.zeros(n)])
    lower_tri = np.tril(np.ones((n, n)))
    soc_rows = np.hstack(
        [lower_tri * b.charge_efficiency * dt, -lower_tri * dt / b.discharge_efficiency, np.zeros((n, n))]
    )
    soc = LinearConstraint(soc_rows, b.soc_min_mwh - b.initial_soc_mwh, b.soc_max_mwh - b.initial_soc_mwh)
    end_gain = b.end_soc_target_mwh - b.initial_soc_mwh
    end = LinearConstraint(soc_rows[-1:], end_gain - b.end_soc_tolerance_mwh, end_gain + b.end_soc_tolerance_mwh)
    eye = np.eye(n)
    # charge <= power * is_charging, discharge <= power * (1 - is_charging)
    exclusive = LinearConstraint(
        np.vstack(
            [
                np.hstack([eye, np.zeros((n, n)), -b.power_mw * eye]),
                np.hstack([np.zeros((n, n)), eye, b.power_mw * eye]),
            ]
        ),
        -np.inf,
        np.concatenate([np.zeros(n), np.full(n, b.power_mw)]),
    )
    bounds = Bounds(np.zeros(3 * n), np.concatenate([np.full(2 * n, b.power_mw), np.ones(n)]))
    integrality = np.concatenate([np.zeros(2 * n), np.ones(n)])
    result = milp(
        cost, constraints=[soc, end, exclusive], bounds=bounds, integrality=integrality, options={"mip_rel_gap": 1e-9}
    )
    if result.status != 0 or result.x is None:
        raise RuntimeError(f"reference MILP failed: {result.message}")
    return result.x[n : 2 * n] - result.x[:n]


def percentage_of_perfect_on_grid(
    realised: np.ndarray, forecast: np.ndarray, battery: BatteryConfig | None = None
) -> tuple[float, float, float]:
    """The reference protocol on days x 24 matrices: the daily continuous MILP on the forecast, paid at the
    realised prices, against the same MILP on the realised prices.

    Returns:
        ``(percentage_of_perfect, revenue, perfect_foresight_revenue)``; revenues in the market currency.
    """
    battery = battery or BatteryConfig()
    realised = np.asarray(realised, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    revenue = sum(float(realised[d] @ continuous_schedule(forecast[d], 60, battery)) for d in range(len(realised)))
    perfect = sum(float(realised[d] @ continuous_schedule(realised[d], 60, battery)) for d in range(len(realised)))
    return 100.0 * revenue / perfect, revenue, perfect
