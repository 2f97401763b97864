"""The order-set lifecycle: every allowed move passes, every other pair of statuses raises naming both."""

from __future__ import annotations

import itertools

import pytest

from griddesk.bidding import controls, gate, lifecycle
from griddesk.bidding.lifecycle import NEW, STATUSES, TransitionNotAllowed, transition

ALLOWED = [
    (NEW, "generated"),
    (NEW, "infeasible_fallback"),
    ("generated", "compliance_rejected"),
    ("generated", "recorded"),
    ("generated", "pending_approval"),
    ("generated", "ready"),
    ("pending_approval", "ready"),
    ("pending_approval", "rejected"),
    ("ready", "submitted"),
    ("ready", "submission_failed"),
    ("ready", "compliance_rejected"),
    ("ready", "rejected"),
    ("ready", "blocked"),
    ("ready", "recorded"),
    ("submitted", "executed"),
    ("submitted", "cancelled"),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_transition_passes(current, target):
    assert transition(current, target) == target
    assert lifecycle.is_allowed(current, target)


def test_the_table_is_exactly_the_allowed_list():
    table = {(c, t) for c, targets in lifecycle.TRANSITIONS.items() for t in targets}
    assert table == set(ALLOWED)


DISALLOWED = [(c, t) for c, t in itertools.product((NEW, *STATUSES), STATUSES) if (c, t) not in set(ALLOWED)]


@pytest.mark.parametrize(("current", "target"), DISALLOWED)
def test_every_disallowed_pair_raises_naming_both_states(current, target):
    with pytest.raises(TransitionNotAllowed) as err:
        transition(current, target)
    message = str(err.value)
    assert repr(target) in message
    assert (repr(current) if current is not None else "(no order set)") in message


def test_a_disallowed_move_is_a_value_error():
    with pytest.raises(ValueError, match="from 'executed' to 'ready'"):
        transition("executed", "ready")


@pytest.mark.parametrize(("current", "target"), [("generated", "shipped"), ("paused", "ready"), (NEW, "")])
def test_unknown_statuses_are_refused(current, target):
    with pytest.raises(TransitionNotAllowed, match="unknown order-set status"):
        transition(current, target)


def test_final_statuses_allow_nothing():
    final = [s for s in STATUSES if s not in lifecycle.TRANSITIONS]
    assert set(final) == {
        "compliance_rejected",
        "infeasible_fallback",
        "recorded",
        "rejected",
        "blocked",
        "submission_failed",
        "cancelled",
        "executed",
    }
    for status in final:
        assert lifecycle.allowed_targets(status) == ()
        with pytest.raises(TransitionNotAllowed, match="final status"):
            transition(status, "ready")


def test_the_stored_strings_are_kept():
    assert STATUSES == (
        "generated",
        "compliance_rejected",
        "infeasible_fallback",
        "recorded",
        "pending_approval",
        "ready",
        "rejected",
        "blocked",
        "submitted",
        "submission_failed",
        "cancelled",
        "executed",
    )
    assert controls.STATUSES == STATUSES


def test_only_a_ready_set_may_be_submitted_and_the_gate_agrees():
    assert [s for s in STATUSES if lifecycle.may_submit(s)] == ["ready"]
    assert not lifecycle.may_submit(None)
    assert gate.ELIGIBLE_STATUSES[gate.EXCHANGE] == lifecycle.SUBMITTABLE
    # a submitted set can only come from a submittable one
    assert [c for c, t in ALLOWED if t == "submitted"] == list(lifecycle.SUBMITTABLE)


def test_the_battery_gets_only_sets_the_exchange_holds():
    assert [s for s in STATUSES if lifecycle.is_at_exchange(s)] == ["submitted", "executed"]
    assert gate.ELIGIBLE_STATUSES[gate.BATTERY] == lifecycle.AT_EXCHANGE


class _Cursor:
    def __init__(self, log):
        self.log, self.rowcount = log, 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        self.log.append(params)


class _Conn:
    def __init__(self):
        self.log = []

    def cursor(self):
        return _Cursor(self.log)


def test_set_status_checks_the_move_before_writing():
    conn = _Conn()
    controls.set_status(conn, "FR|x", "generated", "ready", "")
    assert conn.log == [("ready", "", "FR|x")]
    with pytest.raises(TransitionNotAllowed, match="from 'recorded' to 'submitted'"):
        controls.set_status(conn, "FR|x", "recorded", "submitted")
    assert len(conn.log) == 1  # nothing written for a refused move
