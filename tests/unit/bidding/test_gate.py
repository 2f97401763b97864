"""The submission gate's pure parts: the canonical steps hash, the decision and its order, a property test over
10,000 random order sets, and a scan of the source proving the gate's send functions are the only code that posts
orders to the exchange or the battery."""

from __future__ import annotations

import ast
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from griddesk.bidding import gate
from griddesk.bidding.compliance import CHECKS

T0 = datetime(2016, 6, 14, 22, tzinfo=UTC)


def _order(hour: int = 0, side: str = "buy", volume: float = 0.5, price: float | None = 40.0, **extra) -> dict:
    return {
        "delivery_start_utc": T0 + timedelta(hours=hour),
        "mtu_minutes": 60,
        "side": side,
        "volume_mw": volume,
        "limit_price_per_mwh": price,
        **extra,
    }


ORDERS = [_order(0), _order(1, "sell", 1.0, 80.0), _order(1, "sell", 0.3, 95.5)]


def _facts(**changes) -> gate.GateFacts:
    digest = gate.steps_digest("FR", ORDERS)
    base = {
        "target": gate.EXCHANGE,
        "status": "ready",
        "checks": tuple((c, True, digest) for c in CHECKS),
        "sending_digest": digest,
        "require_approval": False,
        "approved": False,
        "kill_switch": None,
        "mode": "live",
    }
    return gate.GateFacts(**{**base, **changes})


# ------------------------------------------------------------------------------------------------------- the hash


def test_the_hash_ignores_order_numbering_and_the_key_of_the_mtu_length():
    digest = gate.steps_digest("FR", ORDERS)
    shuffled = [{**o, "step_index": i} for i, o in enumerate(reversed(ORDERS))]
    as_stored = [{**{k: v for k, v in o.items() if k != "mtu_minutes"}, "resolution_minutes": 60} for o in ORDERS]
    iso = [{**o, "delivery_start_utc": o["delivery_start_utc"].isoformat()} for o in ORDERS]
    assert gate.steps_digest("fr", shuffled) == gate.steps_digest("FR", as_stored) == gate.steps_digest("FR", iso)
    assert gate.steps_digest("FR", iso) == digest and len(digest) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"volume_mw": 50.0},
        {"volume_mw": 0.5000011},
        {"limit_price_per_mwh": 40.01},
        {"limit_price_per_mwh": None},
        {"side": "sell"},
        {"delivery_start_utc": T0 + timedelta(minutes=15)},
        {"mtu_minutes": 15},
    ],
)
def test_any_change_of_what_would_trade_changes_the_hash(change):
    changed = [{**ORDERS[0], **change}, *ORDERS[1:]]
    assert gate.steps_digest("FR", changed) != gate.steps_digest("FR", ORDERS)


def test_the_hash_covers_the_market_and_the_number_of_steps():
    digest = gate.steps_digest("FR", ORDERS)
    assert gate.steps_digest("DE", ORDERS) != digest
    assert gate.steps_digest("FR", ORDERS + ORDERS[:1]) != digest
    assert gate.steps_digest("FR", []) != digest


def test_an_order_without_its_length_is_a_clear_error():
    with pytest.raises(ValueError, match="resolution_minutes nor mtu_minutes"):
        gate.steps_digest("FR", [{k: v for k, v in ORDERS[0].items() if k != "mtu_minutes"}])


# --------------------------------------------------------------------------------------------------- the decision


def test_a_compliant_ready_live_set_is_allowed_with_the_hash_of_what_is_sent():
    decision = gate.decide(_facts(), "FR|x")
    assert decision.allowed and decision.outcome == "allowed" and decision.digest == _facts().sending_digest


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({"status": None}, "no_order_set"),
        ({"status": "recorded"}, "not_eligible"),
        ({"status": "submitted"}, "not_eligible"),
        ({"target": gate.BATTERY}, "not_eligible"),
        ({"checks": ()}, "compliance_failed"),
        ({"checks": tuple((c, c != "soc_feasibility", "x") for c in CHECKS)}, "compliance_failed"),
        ({"sending_digest": "0" * 64}, "steps_changed"),
        ({"checks": tuple((c, True, None) for c in CHECKS)}, "steps_changed"),
        ({"require_approval": True}, "not_approved"),
        ({"kill_switch": "kill switch on"}, "kill_switch"),
        ({"mode": "paper"}, "paper_mode"),
    ],
)
def test_each_refusal_names_its_check(changes, outcome):
    decision = gate.decide(_facts(**changes))
    assert not decision.allowed and decision.outcome == outcome and decision.digest is None and decision.reason


def test_the_checks_run_in_the_documented_order():
    everything_wrong = _facts(
        status="ready", checks=(), sending_digest="x", require_approval=True, kill_switch="on", mode="paper"
    )
    assert gate.decide(everything_wrong).outcome == "compliance_failed"
    assert gate.decide(_facts(sending_digest="x", kill_switch="on", mode="paper")).outcome == "steps_changed"
    assert gate.decide(_facts(require_approval=True, kill_switch="on")).outcome == "not_approved"
    assert gate.decide(_facts(kill_switch="on", mode="paper")).outcome == "kill_switch"


def test_the_battery_takes_only_what_the_exchange_holds():
    for status in ("submitted", "executed"):
        assert gate.decide(_facts(target=gate.BATTERY, status=status)).allowed
    for status in ("ready", "recorded", "blocked", "compliance_rejected", "cancelled", "rejected"):
        assert gate.decide(_facts(target=gate.BATTERY, status=status)).outcome == "not_eligible"


def test_an_unknown_target_is_an_error():
    with pytest.raises(ValueError, match="unknown gate target"):
        gate.decide(_facts(target="bank"))


# ------------------------------------------------------------------------------------------------ property: 10,000

_hours = st.integers(0, 23)
_steps = st.lists(
    st.fixed_dictionaries(
        {
            "delivery_start_utc": _hours.map(lambda h: T0 + timedelta(hours=h)),
            "mtu_minutes": st.sampled_from([15, 60]),
            "side": st.sampled_from(["buy", "sell"]),
            "volume_mw": st.integers(1, 500).map(lambda t: t / 10),
            "limit_price_per_mwh": st.integers(-50_000, 300_000).map(lambda t: t / 100),
        }
    ),
    max_size=6,
)
_edits = st.lists(
    st.tuples(st.sampled_from(["volume_mw", "limit_price_per_mwh", "side", "drop", "add"]), st.integers(0, 5)),
    max_size=2,
)


def _edit(steps: list[dict], edits) -> list[dict]:
    """Steps as they might be after compliance: edited, dropped or added (each edit changes what would trade)."""
    out = [dict(s) for s in steps]
    for what, i in edits:
        if what == "add" or not out:
            out.append({**_order(i % 24), "volume_mw": 50.0})
        elif what == "drop":
            out.pop(i % len(out))
        elif what == "side":
            out[i % len(out)]["side"] = "sell" if out[i % len(out)]["side"] == "buy" else "buy"
        else:
            out[i % len(out)][what] += 0.1
    return out


def _multiset(steps: list[dict]) -> list[str]:
    return sorted(repr(sorted(s.items())) for s in steps)


def _expected(facts: gate.GateFacts, checked: str, failed, missing) -> tuple[bool, bool]:
    """(compliant, allowed) as the issue states them, independently of the gate's code."""
    compliant = not failed and not missing and facts.sending_digest == checked
    allowed = (
        compliant
        and facts.status in gate.ELIGIBLE_STATUSES[facts.target]
        and (facts.approved or not facts.require_approval)
        and facts.kill_switch is None
        and facts.mode == "live"
    )
    return compliant, allowed


def _check_one(steps, edits, failed, missing, target, status, require_approval, approved, kill_switch, mode) -> bool:
    checked = gate.steps_digest("FR", steps)
    sent = _edit(steps, edits)
    sending = gate.steps_digest("FR", sent)
    checks = tuple((c, c not in failed, checked) for c in CHECKS if c not in missing)
    facts = gate.GateFacts(target, status, checks, sending, require_approval, approved, kill_switch, mode)
    decision = gate.decide(facts)
    compliant, allowed = _expected(facts, checked, failed, missing)
    assert decision.allowed is allowed, (facts, decision)
    if decision.allowed:
        assert decision.digest == sending == checked  # only exactly the checked steps may go
    if _multiset(sent) != _multiset(steps):  # an edit that changes what would trade is always caught
        assert sending != checked and not decision.allowed
    return compliant


STATUSES = [None, "generated", "recorded", "ready", "blocked", "submitted", "executed", "rejected"]
EDIT_KINDS = ["volume_mw", "limit_price_per_mwh", "side", "drop", "add"]


def test_10000_random_order_sets_never_pass_the_gate_unless_compliant_unchanged_approved_and_live():
    """A seeded generator (cheap: the pure gate, no I/O): random steps, random edits after compliance, random
    failed or missing checks, statuses, approvals, kill switch and mode."""
    rng = np.random.default_rng(21)
    sides, minutes, modes = ["buy", "sell"], [15, 60], ["paper", "live"]
    n_compliant = n_non_compliant = 0
    for _ in range(10_000):
        n = int(rng.integers(0, 7))
        hours, mtus, side_ix = rng.integers(24, size=n), rng.integers(2, size=n), rng.integers(2, size=n)
        volumes, prices = rng.integers(1, 501, size=n), rng.integers(-50_000, 300_001, size=n)
        steps = [
            {
                "delivery_start_utc": T0 + timedelta(hours=int(hours[k])),
                "mtu_minutes": minutes[mtus[k]],
                "side": sides[side_ix[k]],
                "volume_mw": int(volumes[k]) / 10,
                "limit_price_per_mwh": int(prices[k]) / 100,
            }
            for k in range(n)
        ]
        # about half the sets are sent as checked; the others edited, dropped or added to
        u = rng.random(14)
        edits = [(EDIT_KINDS[int(u[k] * 5)], int(u[k + 2] * 6)) for k in range(int(u[4] * 3))] if u[5] < 0.5 else []
        failed = {c for c, x in zip(CHECKS, rng.random(len(CHECKS)), strict=True) if x < 0.08}
        missing = {c for c, x in zip(CHECKS, rng.random(len(CHECKS)), strict=True) if x < 0.04}
        compliant = _check_one(
            steps,
            edits,
            failed,
            missing,
            gate.TARGETS[int(u[6] * 2)],
            STATUSES[int(u[7] * len(STATUSES))],
            bool(u[8] < 0.3),
            bool(u[9] < 0.5),
            None if u[10] < 0.8 else "kill switch on",
            modes[int(u[11] * 2)],
        )
        n_compliant += compliant
        n_non_compliant += not compliant
    # both kinds were exercised in quantity
    assert n_compliant > 1_000 and n_non_compliant > 1_000


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    steps=_steps,
    edits=_edits,
    failed=st.sets(st.sampled_from(CHECKS)),
    missing=st.sets(st.sampled_from(CHECKS)),
    target=st.sampled_from(gate.TARGETS),
    status=st.sampled_from(STATUSES),
    require_approval=st.booleans(),
    approved=st.booleans(),
    kill_switch=st.sampled_from([None, "kill switch on"]),
    mode=st.sampled_from(["paper", "live"]),
)
def test_the_gate_property_with_hypothesis_shrinking(
    steps, edits, failed, missing, target, status, require_approval, approved, kill_switch, mode
):
    """The same property with hypothesis (few examples; it shrinks a failure to a minimal set)."""
    _check_one(steps, edits, failed, missing, target, status, require_approval, approved, kill_switch, mode)


def test_the_property_test_is_cheap():
    """10,000 decisions of the pure gate take well under a second (the property test's cost is hypothesis')."""
    facts = _facts()
    started = time.perf_counter()
    for _ in range(10_000):
        gate.decide(facts)
    assert time.perf_counter() - started < 1.0


# --------------------------------------------------------------------------------------- the only path that posts

ROOT = Path(__file__).resolve().parents[3]
#: The methods that post orders out of GridDesk, and the only functions allowed to call them.
POSTING_METHODS = {"submit": "send_to_exchange", "submit_orders": "send_to_battery"}


def _calls_outside_the_gate() -> list[str]:
    found = []
    for path in [*(ROOT / "include" / "griddesk").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]:
        if "simulator" in path.parts:  # the simulator is the exchange, it posts nothing
            continue
        text = path.read_text()
        if "submit" not in text:
            continue
        tree = ast.parse(text)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in POSTING_METHODS
                    and not (path.name == "gate.py" and func.name == POSTING_METHODS[node.func.attr])
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "pool")  # executors
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} in {func.name}")
    return found


def test_only_the_gate_s_send_functions_call_the_posting_methods():
    assert _calls_outside_the_gate() == []
