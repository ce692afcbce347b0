"""Tests for ml.trades.switch: the kill switch's state machine on exact small cases, and the gate by side."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ml.trades import CheckResult, KillSwitchState, TradingSpec, halt_stats, step_kill_switch
from ml.trades.switch import gate_status, let_through

# a 5-day Sharpe window, halts of 2..4 days, 2 days of grace
SPEC = TradingSpec(sharpe_window_days=5, min_sharpe=0.5, cooldown_days=2, rearm_sharpe=0.5, max_halt_days=4,
                   rearm_grace_days=2)
FREEZE = dataclasses.replace(SPEC, kill_switch_mode="freeze")
GOOD = [0.010, 0.012, 0.008, 0.011, 0.009]        # Sharpe far above the floor
BAD = [-0.010, 0.002, -0.008, 0.001, -0.009]       # Sharpe far below it


def _run(returns: list[float], spec: TradingSpec = SPEC, start: KillSwitchState | None = None,
         first: int = 1) -> list[KillSwitchState]:
    """The states of the dates on which the first ``first``, then every further return is known."""
    state, states = start or KillSwitchState(), []
    for n in range(first, len(returns) + 1):
        state, _ = step_kill_switch(state, pd.Series(returns[:n], dtype=float), spec)
        states.append(state)
    return states


def _checks(state: KillSwitchState, returns: list[float], spec: TradingSpec = SPEC) -> dict[str, CheckResult]:
    return {c.name: c for c in step_kill_switch(state, pd.Series(returns, dtype=float), spec)[1]}


def test_a_daily_loss_fires_and_the_switch_stays_halted_through_the_cooldown() -> None:
    states = _run(GOOD + [-0.04, 0.01], first=5)
    assert [(s.halted, s.halt_days, s.event) for s in states] == [
        (False, 0, ""), (True, 1, "fired"), (True, 2, "")]  # the next day's +1% does not re-arm it
    checks = _checks(states[0], GOOD + [-0.04])
    assert not checks["daily_loss"].passed and not checks["kill_switch"].passed
    assert "buys and swaps blocked, trims and forced exits allowed" in checks["kill_switch"].detail


def test_a_weak_trailing_sharpe_fires() -> None:
    state, checks = step_kill_switch(KillSwitchState(), pd.Series(BAD), SPEC)
    assert state == KillSwitchState(True, 1, 0, "fired", -0.009, state.trailing_sharpe)
    assert state.trailing_sharpe < 0 and not checks[1].passed


def test_rearms_after_the_cooldown_when_the_sharpe_recovered_then_has_grace() -> None:
    halted = KillSwitchState(True, 1, 0, "fired")
    one = _run(GOOD, start=halted, first=5)[0]
    assert (one.halted, one.halt_days) == (True, 2)            # 1 halted day < cooldown 2: stays halted
    two = _run(GOOD, start=one, first=5)[0]
    assert (two.halted, two.event, two.grace_days_left) == (False, "rearmed: sharpe recovered", 1)
    assert _checks(one, GOOD)["kill_switch"].detail.startswith("armed (rearmed: sharpe recovered)")


def test_stays_halted_while_the_sharpe_is_below_rearm_sharpe_then_rearms_at_max_halt() -> None:
    states = _run(BAD * 3, first=5)
    assert [(s.halted, s.halt_days, s.event) for s in states[:6]] == [
        (True, 1, "fired"), (True, 2, ""), (True, 3, ""), (True, 4, ""),
        (False, 0, "rearmed: max halt"),                      # after max_halt_days, whatever the Sharpe
        (False, 0, "")]                                        # grace: the stale window does not re-fire
    assert states[6] == KillSwitchState(True, 1, 0, "fired", *dataclasses.astuple(states[6])[4:])
    grace = _checks(states[4], BAD * 2)["trailing_sharpe"]
    assert grace.passed and grace.detail.startswith("not applied: grace after a re-arm")


def test_a_daily_loss_on_the_rearm_day_keeps_it_halted_and_applies_in_grace() -> None:
    halted = KillSwitchState(True, 4, 0, "")
    stays = _run(GOOD + [-0.05], start=halted, first=6)[0]
    assert (stays.halted, stays.halt_days, stays.event, stays.last_return) == (True, 5, "", -0.05)
    in_grace = KillSwitchState(False, 0, 1, "rearmed: max halt")
    fired = _run(GOOD + [-0.05], start=in_grace, first=6)[0]
    assert (fired.halted, fired.event) == (True, "fired")


def test_rearm_rule_is_configurable() -> None:
    strict = dataclasses.replace(SPEC, rearm_sharpe=1000.0)    # no recovery is enough: only max halt re-arms
    states = _run(GOOD * 2, spec=strict, start=KillSwitchState(True, 1, 0, "fired"), first=5)
    assert [s.event for s in states if s.event] == ["rearmed: max halt"]
    assert states.index(next(s for s in states if s.event)) == 3


def test_freeze_mode_has_no_memory() -> None:
    loss_only = dataclasses.replace(FREEZE, sharpe_window_days=1000)
    states = _run(GOOD + [-0.04, 0.01, 0.01], spec=loss_only, first=5)
    assert [(s.halted, s.halt_days) for s in states] == [(False, 0), (True, 1), (False, 0), (False, 0)]
    assert [(s.halted, s.halt_days) for s in _run(BAD + BAD[:2], spec=FREEZE, first=5)] == [
        (True, 1), (True, 2), (True, 3)]
    assert "every order blocked" in _checks(KillSwitchState(), BAD, FREEZE)["kill_switch"].detail


def test_a_state_survives_a_row_of_a_table() -> None:
    state = KillSwitchState(True, 3, 0, "", -0.01, float("-inf"))
    row = {"date": "2021-01-04", "mode": "derisk", **state.record()}
    assert row["status"] == "halted"
    assert KillSwitchState.from_record(row) == state
    assert KillSwitchState.from_record({**KillSwitchState().record(), "last_return": np.nan}) == KillSwitchState()


# three orders: a trim of a kept name (A), the exit of a name swapped out (B: still scored), a buy (C)
BUY = np.array([False, False, True])
DERISKING = np.array([True, False, False])
PASSED = [CheckResult("turnover", True, "ok"), CheckResult("daily_loss", False, "last return -0.04"),
          CheckResult("trailing_sharpe", True, "ok"), CheckResult("kill_switch", False, "halted day 1")]
HALTED = KillSwitchState(True, 1, 0, "fired")


def test_while_halted_only_de_risking_sells_are_approved_buys_and_swaps_blocked_with_the_reason() -> None:
    through = let_through(BUY, DERISKING, HALTED, "derisk")
    assert through.tolist() == [True, False, False]
    status, reason = gate_status(through, PASSED, HALTED, "derisk")
    assert status.tolist() == ["approved", "blocked", "blocked"]
    assert reason[2].startswith("no new risk while halted (buys, and the exits of names swapped out): "
                                "daily_loss: last return -0.04; kill_switch")
    assert reason[0].startswith("de-risking sell approved")


def test_another_failed_rule_or_freeze_blocks_every_order() -> None:
    failed = [CheckResult("turnover", False, "turnover 0.9")] + PASSED[1:]
    through = let_through(BUY, DERISKING, HALTED, "derisk")
    assert set(gate_status(through, failed, HALTED, "derisk")[0]) == {"blocked"}
    assert not let_through(BUY, DERISKING, HALTED, "freeze").any()
    status, reason = gate_status(let_through(BUY, DERISKING, HALTED, "freeze"), PASSED, HALTED, "freeze")
    assert set(status) == {"blocked"} and reason[0].startswith("daily_loss")
    armed = [CheckResult(c.name, True, "ok") for c in PASSED]
    assert let_through(BUY, DERISKING, KillSwitchState(), "derisk").all()
    status, reason = gate_status(np.ones(3, dtype=bool), armed, KillSwitchState(), "derisk")
    assert set(status) == {"approved"} and reason[0] == "all 4 checks passed"
    with pytest.raises(ValueError, match="no check results"):
        gate_status(np.ones(3, dtype=bool), [], KillSwitchState(), "derisk")


def test_halt_stats_count_halts_and_the_longest() -> None:
    assert halt_stats(pd.Series([True, True, False, True, True, True, False])) == {
        "halted_days": 5, "halts": 2, "longest_halt": 3}
    assert halt_stats(pd.Series([], dtype=bool)) == {"halted_days": 0, "halts": 0, "longest_halt": 0}


@pytest.mark.parametrize("change, match", [
    ({"kill_switch_mode": "pause"}, "kill_switch_mode must be 'derisk' or 'freeze'"),
    ({"cooldown_days": 0}, "1 <= cooldown_days <= max_halt_days"),
    ({"cooldown_days": 40, "max_halt_days": 30}, "cooldown_days 40 and max_halt_days 30"),
    ({"rearm_grace_days": -1}, "rearm_grace_days must be >= 0"),
])
def test_invalid_kill_switch_settings_are_errors(change, match) -> None:
    with pytest.raises(ValueError, match=match):
        TradingSpec(**change)
