"""The simulator's own clock: who decides what time it is (issue 21, finding 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from griddesk.settings import Settings
from griddesk.simulator.security import SimClock, exchange_clock_for_run, is_valid_token, participant_tokens

T = datetime(2016, 6, 14, 9, tzinfo=UTC)


def test_exchange_mode_ignores_the_header_for_trading_and_caps_reads() -> None:
    clock = SimClock(backtest=False)
    clock.set(T)
    assert clock.trading_now(T - timedelta(hours=5)) == T  # a client cannot move the gate back
    assert clock.read_now(T + timedelta(days=1)) == T  # nor read the future
    assert clock.read_now(T - timedelta(days=1)) == T - timedelta(days=1)  # but may ask "as of earlier"
    clock.set(None)
    assert abs(clock.trading_now(T) - datetime.now(UTC)) < timedelta(minutes=1)  # back to the wall clock


def test_backtest_mode_takes_the_header_as_the_clock() -> None:
    clock = SimClock(backtest=True)
    assert clock.trading_now(T) == T and clock.read_now(T + timedelta(days=3)) == T + timedelta(days=3)


def test_the_morning_clock_is_the_earliest_market_run_and_others_the_latest() -> None:
    times = [T, T + timedelta(hours=5)]
    assert exchange_clock_for_run("morning", times) == T
    assert exchange_clock_for_run("afternoon", times) == T + timedelta(hours=5)


def test_tokens_default_to_the_configured_client_tokens_never_any(monkeypatch) -> None:
    monkeypatch.setenv("GRIDDESK_BIDDING_ORDER_API_TOKEN", "order-token-1")
    accepted = participant_tokens(None, Settings(sim_tokens="", entsoe_token="entsoe-token-1"))
    assert accepted == {"entsoe-token-1", "order-token-1"}
    assert not is_valid_token("", accepted) and not is_valid_token("anything", accepted)
    assert is_valid_token("order-token-1", accepted)
    assert participant_tokens(None, Settings(sim_tokens=" a1 , b2 ")) == {"a1", "b2"}
