"""The price-taker clearing rule: which day-ahead orders the auction accepts at the realised price.

GridDesk's battery is small next to the market, so its orders do not move the clearing price: the price of an
MTU is the realised day-ahead price, whatever GridDesk bids (a *price-taker*). Given that price ``p``:

- a **buy** step with limit ``L`` is accepted in full when ``p <= L`` (the buyer pays at most its limit);
- a **sell** step with limit ``L`` is accepted in full when ``p >= L`` (the seller gets at least its limit);
- otherwise it is rejected in full: day-ahead steps are not partially filled here (a real auction may
  partially fill a step *at* the clearing price; on equality we accept in full, and say so in docs/bidding.md);
- every accepted step settles at ``p``, not at its limit (uniform pricing), so a buy earns ``-p * volume * h``
  and a sell ``p * volume * h`` for an MTU of ``h`` hours.

A fixed schedule is a price-taker order set: buys limited at the market maximum and sells at the market
minimum, accepted at any price within the bounds. The backtest and the simulator's order API use these
functions, so both clear exactly alike.
"""

from __future__ import annotations

import numpy as np

BUY = "buy"
SELL = "sell"


def is_accepted(side: str, limit_price_per_mwh: float, clearing_price_per_mwh: float) -> bool:
    """Whether one step is accepted at the clearing price (see module docstring).

    Raises:
        ValueError: ``side`` is not ``"buy"`` or ``"sell"``.
    """
    if side == BUY:
        return clearing_price_per_mwh <= limit_price_per_mwh
    if side == SELL:
        return clearing_price_per_mwh >= limit_price_per_mwh
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


def accepted_mask(sides: np.ndarray, limits: np.ndarray, clearing_prices: np.ndarray) -> np.ndarray:
    """Vectorised :func:`is_accepted` over steps: one clearing price per step (its MTU's price).

    Raises:
        ValueError: a side other than buy/sell, or arrays of different lengths.
    """
    sides = np.asarray(sides, dtype=object)
    limits = np.asarray(limits, dtype=float)
    prices = np.asarray(clearing_prices, dtype=float)
    if not (sides.shape == limits.shape == prices.shape):
        raise ValueError(f"sides, limits and prices differ in shape: {sides.shape}, {limits.shape}, {prices.shape}")
    is_buy = sides == BUY
    is_sell = sides == SELL
    if not np.all(is_buy | is_sell):
        bad = sides[~(is_buy | is_sell)][0]
        raise ValueError(f"side must be 'buy' or 'sell', got {bad!r}")
    return np.where(is_buy, prices <= limits, prices >= limits)


def net_positions(
    mtu_index: np.ndarray,
    sides: np.ndarray,
    volumes_mw: np.ndarray,
    limits: np.ndarray,
    clearing_prices_by_mtu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accepted buy and sell volume per MTU, MW, and the acceptance of each step.

    Args:
        mtu_index: MTU (0-based) of each step.
        sides, volumes_mw, limits: the steps.
        clearing_prices_by_mtu: the realised price of every MTU of the day.

    Returns:
        ``(bought_mw, sold_mw, accepted)``: per-MTU arrays of length ``len(clearing_prices_by_mtu)`` and the
        per-step boolean mask.
    """
    mtu_index = np.asarray(mtu_index, dtype=np.int64)
    prices = np.asarray(clearing_prices_by_mtu, dtype=float)
    accepted = accepted_mask(sides, limits, prices[mtu_index]) if len(mtu_index) else np.zeros(0, dtype=bool)
    volumes = np.asarray(volumes_mw, dtype=float)
    is_buy = np.asarray(sides, dtype=object) == BUY
    bought = np.bincount(mtu_index, weights=np.where(accepted & is_buy, volumes, 0.0), minlength=len(prices))
    sold = np.bincount(mtu_index, weights=np.where(accepted & ~is_buy, volumes, 0.0), minlength=len(prices))
    return bought, sold, accepted


def block_surplus(net_mw: np.ndarray, limits_per_mwh: np.ndarray, prices: np.ndarray, mtu_hours: float) -> np.ndarray:
    """Surplus of each block at the clearing prices, market currency.

    ``net_mw`` is ``n_blocks x n_mtus`` (sell positive, buy negative): a block earns ``sum(p x net x h)`` and asks for
    at least ``limit x sum(|net| x h)`` (its limit price is a minimum average margin per MWh traded), so its
    surplus is the difference. A block of a price-taker is in the money when its surplus is positive.
    """
    net = np.atleast_2d(np.asarray(net_mw, dtype=float))
    p = np.asarray(prices, dtype=float)
    if net.shape[1] != p.shape[0]:
        raise ValueError(f"blocks have {net.shape[1]} MTUs but there are {p.shape[0]} clearing prices")
    limits = np.asarray(limits_per_mwh, dtype=float)
    if limits.shape != (net.shape[0],):
        raise ValueError(f"one limit price per block expected ({net.shape[0]}), got shape {limits.shape}")
    return (net @ p) * mtu_hours - limits * np.abs(net).sum(axis=1) * mtu_hours


def clear_exclusive_group(
    net_mw: np.ndarray, limits_per_mwh: np.ndarray, prices: np.ndarray, mtu_hours: float
) -> int | None:
    """The block of an exclusive group the auction accepts at the clearing prices, or None.

    A price-taker's view of EUPHEMIA: at most one block of the group is accepted, the one with the highest surplus
    (:func:`block_surplus`); none when no block has a positive surplus. Ties go to the lowest block index, so the
    outcome is deterministic. Accepted blocks settle every MTU at its clearing price.
    """
    surplus = block_surplus(net_mw, limits_per_mwh, prices, mtu_hours)
    if surplus.size == 0:
        return None
    best = int(np.argmax(surplus))  # first maximum: the lowest index on ties
    return best if surplus[best] > 0 else None


def accepted_block_steps(
    block_index: np.ndarray,
    mtu_keys: np.ndarray,
    sides: np.ndarray,
    volumes_mw: np.ndarray,
    limits: np.ndarray,
    clearing_prices: np.ndarray,
    mtu_hours: float,
) -> np.ndarray:
    """Per-step acceptance of the order steps of one exclusive group: a step is accepted iff its block is the one
    :func:`clear_exclusive_group` accepts. The simulated exchange and the shadow executions both clear with it.

    Args:
        block_index: Block of each step (any non-negative integers; ties go to the lowest).
        mtu_keys: The step's MTU, any sortable key (e.g. its start); one step per (block, MTU).
        sides, volumes_mw: The steps (sell positive in the block's net position).
        limits: The step's block limit (minimum average margin per MWh traded); the same on every step of a block.
        clearing_prices: The clearing price of each step's MTU.
        mtu_hours: Length of every MTU of the group, hours.

    Raises:
        ValueError: arrays of different lengths, a side other than buy/sell, two limits in one block, or two
            steps of one block in one MTU (naming the block).
    """
    blocks = np.asarray(block_index, dtype=np.int64)
    n = len(blocks)
    arrays = [np.asarray(a) for a in (mtu_keys, sides, volumes_mw, limits, clearing_prices)]
    if any(len(a) != n for a in arrays):
        raise ValueError(f"block steps differ in length: {[n, *(len(a) for a in arrays)]}")
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys, sides, volumes, limits, prices = arrays
    sides = sides.astype(object)
    if not np.isin(sides, [BUY, SELL]).all():
        raise ValueError(f"side must be 'buy' or 'sell', got {sides[~np.isin(sides, [BUY, SELL])][0]!r}")
    ids, row = np.unique(blocks, return_inverse=True)
    _, col = np.unique(keys, return_inverse=True)
    if len(set(zip(row.tolist(), col.tolist(), strict=True))) != n:
        raise ValueError("an exclusive group has two steps of one block in one MTU")
    block_limits = np.full(len(ids), np.nan)
    for r, limit in zip(row, limits.astype(float), strict=True):
        if not np.isnan(block_limits[r]) and block_limits[r] != limit:
            raise ValueError(f"block {ids[r]} has more than one limit price")
        block_limits[r] = limit
    net = np.zeros((len(ids), col.max() + 1))
    net[row, col] = np.where(sides == SELL, 1.0, -1.0) * volumes.astype(float)
    mtu_prices = np.zeros(col.max() + 1)
    mtu_prices[col] = prices.astype(float)
    accepted = clear_exclusive_group(net, block_limits, mtu_prices, mtu_hours)
    return row == accepted if accepted is not None else np.zeros(n, dtype=bool)
