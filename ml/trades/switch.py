"""The kill switch: a small state machine over the book's known daily returns, and the gate by side.

The two rules of the risk design (seed 004) are those of :func:`ml.trades.safety.kill_switch`:
``daily_loss`` (the latest known book return below ``-max_daily_loss``, 3%) and
``trailing_sharpe`` (the annualised Sharpe of the last ``sharpe_window_days`` returns, 30 trading
days or about six weeks, below ``min_sharpe``, 0.5). What a breach does is ``kill_switch_mode``:

``"derisk"`` (the default): a breach **halts** the switch, and it stays halted until it re-arms.
    While halted no new risk is taken -- every BUY order (a new name, or adding to a held one) is
    blocked with the reason, and so is the exit of a name that still has a score (a TopkDropout
    swap or an optimizer's zero weight: the other leg of a swap is a buy) -- but the book may
    de-risk: the sells that trim a name kept in the targets (the regime exposure cut, limit
    repairs, the optimizer's lower weight) and the exits of names with no score today (forced
    exits) are approved, and their proceeds stay cash (net of their estimated costs, which are
    paid). So a halted book keeps its names and shrinks only where the targets ask it to: it does
    not drain to cash through the daily rotation. Every other safety rule still blocks every
    order, as always. The switch re-arms (hysteresis) on the first day, without a daily loss
    beyond the limit that day, on which either

    * it has been halted at least ``cooldown_days`` days (10: two trading weeks, a third of the
      Sharpe window, so one window's noise around the floor does not toggle it) **and** the
      trailing Sharpe is back at ``rearm_sharpe`` or above (0.5: the floor of the risk design:
      recovered means the rule that fired is no longer breached), or
    * it has been halted ``max_halt_days`` days (30: one full Sharpe window: by then every return
      of the window that fired it has rolled out, and the halt has let the book de-risk), whatever
      the Sharpe.

    After a re-arm the Sharpe rule is not applied for ``rearm_grace_days`` days (10, the re-arm
    day included: the window still holds the halt's returns, and the same stale window must not
    fire it again the next day); the daily-loss rule always applies.

``"freeze"`` (the rule before the state machine, kept to compare with): halted exactly on the days
    a rule fails, re-evaluated afresh every day with no memory, and a halted day blocks **every**
    order, sells included.

The state (:class:`KillSwitchState`) is carried from one decision date to the next: by the
backtest's loop in memory, by the daily run in ``trading.kill_switch`` (one row per date). Both
call :func:`step` with the previous date's state and the book returns known at the close of the
date (point in time: only returns whose period has ended by then), so they agree date by date.

Examples
--------
>>> import pandas as pd
>>> from ml.trades import TradingSpec
>>> spec = TradingSpec(sharpe_window_days=5, cooldown_days=2, max_halt_days=4, rearm_grace_days=2)
>>> state, _ = step(KillSwitchState(), pd.Series([0.01, -0.04]), spec)
>>> state.halted, state.halt_days, state.event
(True, 1, 'fired')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.trades.safety import CheckResult, kill_switch, trailing_sharpe

__all__ = ["KILL_SWITCH_MODES", "KILL_SWITCH_RULES", "KillSwitchState", "gate_status", "halt_stats", "let_through",
           "step"]

#: ``"derisk"``: a halt blocks buys and lets sells de-risk the book; ``"freeze"``: a breach blocks every order.
KILL_SWITCH_MODES: tuple[str, ...] = ("derisk", "freeze")

#: The rows of the safety checks that belong to the kill switch (the ``kill_switch_clear`` gate check).
KILL_SWITCH_RULES: tuple[str, ...] = ("daily_loss", "trailing_sharpe", "kill_switch")


@dataclass(frozen=True)
class KillSwitchState:
    """The kill switch after a decision date.

    ``halted``: no new risk on this date. ``halt_days``: days of the current halt so far, this
    date included (0 when armed). ``grace_days_left``: days after this one on which the Sharpe
    rule is still not applied (after a re-arm). ``event``: what happened on this date: ``"fired"``,
    ``"rearmed: sharpe recovered"``, ``"rearmed: max halt"`` or ``""``. ``last_return`` and
    ``trailing_sharpe``: the evidence the rules saw (None when not computed: too little history).
    """

    halted: bool = False
    halt_days: int = 0
    grace_days_left: int = 0
    event: str = ""
    last_return: float | None = None
    trailing_sharpe: float | None = None

    @property
    def status(self) -> str:
        return "halted" if self.halted else "armed"

    def record(self, prefix: str = "") -> dict[str, Any]:
        """The state as a row: ``status`` and every field, each name after ``prefix``
        (``trading.kill_switch`` without a prefix; the backtest's rows with ``kill_switch_``)."""
        fields = {"status": self.status, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}
        return {f"{prefix}{k}": v for k, v in fields.items()}

    @classmethod
    def from_record(cls, row: Any, prefix: str = "") -> KillSwitchState:
        """The state from a :meth:`record` row (a mapping or a Series; other keys ignored)."""
        def number(v: Any) -> float | None:
            return None if v is None or pd.isna(v) else float(v)
        event = row[f"{prefix}event"]
        return cls(bool(row[f"{prefix}halted"]), int(row[f"{prefix}halt_days"]), int(row[f"{prefix}grace_days_left"]),
                   "" if event is None or pd.isna(event) else str(event), number(row[f"{prefix}last_return"]),
                   number(row[f"{prefix}trailing_sharpe"]))


def step(previous: KillSwitchState, book_returns: pd.Series | np.ndarray, spec: Any,
         last_date: object = None) -> tuple[KillSwitchState, list[CheckResult]]:
    """The switch on a decision date, from the previous date's state and the returns known now.

    Parameters
    ----------
    previous : KillSwitchState
        The state after the previous decision date (``KillSwitchState()``, armed, for a new book).
    book_returns : Series or array
        The book's daily returns whose period ended by the close of the date, oldest first: a
        Series indexed by date, or an array with ``last_date`` the date of its last return.
    spec : TradingSpec
        ``max_daily_loss``, ``sharpe_window_days``, ``min_sharpe``, ``kill_switch_mode``,
        ``cooldown_days``, ``rearm_sharpe``, ``max_halt_days``, ``rearm_grace_days``.

    Returns
    -------
    (KillSwitchState, list of CheckResult)
        The new state, and the rows ``daily_loss``, ``trailing_sharpe`` (today's rules; the Sharpe
        rule "not applied" during a grace period) and ``kill_switch`` (passes when armed).
    """
    loss, sharpe_rule = kill_switch(book_returns, spec.max_daily_loss, spec.sharpe_window_days, spec.min_sharpe,
                                    last_date=last_date)
    r = np.asarray(book_returns, dtype=float)
    last = float(r[-1]) if len(r) else None
    sharpe = trailing_sharpe(r, spec.sharpe_window_days)
    evidence = {"last_return": last, "trailing_sharpe": sharpe}

    if spec.kill_switch_mode == "freeze":
        halted = not (loss.passed and sharpe_rule.passed)
        days = previous.halt_days + 1 if halted and previous.halted else int(halted)
        state = KillSwitchState(halted, days, 0, "fired" if halted and days == 1 else "", **evidence)
        return state, [loss, sharpe_rule, _state_check(state, spec)]

    grace = previous.grace_days_left
    if previous.halted:
        recovered = sharpe is None or sharpe >= spec.rearm_sharpe
        if loss.passed and previous.halt_days >= spec.max_halt_days:
            event = "rearmed: max halt"
        elif loss.passed and previous.halt_days >= spec.cooldown_days and recovered:
            event = "rearmed: sharpe recovered"
        else:
            state = KillSwitchState(True, previous.halt_days + 1, 0, "", **evidence)
            return state, [loss, sharpe_rule, _state_check(state, spec)]
        grace = spec.rearm_grace_days  # the re-arm day is the first day of grace
        in_grace = grace > 0
    else:
        event = ""
        in_grace = grace > 0
    if in_grace and not sharpe_rule.passed:
        sharpe_rule = CheckResult(sharpe_rule.name, True, f"not applied: grace after a re-arm ({sharpe_rule.detail})")
    left = max(grace - 1, 0) if in_grace else 0
    if not (loss.passed and sharpe_rule.passed):
        state = KillSwitchState(True, 1, 0, "fired", **evidence)
    else:
        state = KillSwitchState(False, 0, left, event, **evidence)
    return state, [loss, sharpe_rule, _state_check(state, spec)]


def _state_check(state: KillSwitchState, spec: Any) -> CheckResult:
    """The ``kill_switch`` row: passes when armed; says what a halt allows and how it ends."""
    if not state.halted:
        detail = "armed" + (f" ({state.event})" if state.event else "") + (
            f"; Sharpe rule resumes in {state.grace_days_left} days" if state.grace_days_left else "")
        return CheckResult("kill_switch", True, detail)
    if spec.kill_switch_mode == "freeze":
        return CheckResult("kill_switch", False, f"halted day {state.halt_days} (freeze: every order blocked)")
    return CheckResult("kill_switch", False, (
        f"halted day {state.halt_days}: buys and swaps blocked, trims and forced exits allowed; re-arms after {spec.cooldown_days} days "
        f"with the {spec.sharpe_window_days}-day Sharpe >= {spec.rearm_sharpe}, or after {spec.max_halt_days} days"))


def let_through(buy: np.ndarray, derisking: np.ndarray, state: KillSwitchState, mode: str) -> np.ndarray:
    """Which orders the switch lets through (a boolean per order): all when armed; while halted, in
    ``"derisk"`` mode the de-risking sells (``derisking``: a trim of a name kept in the targets, or
    the exit of a name with no score today), in ``"freeze"`` mode none. The order limits are judged
    on these, the orders that can execute."""
    if not state.halted:
        return np.ones(len(buy), dtype=bool)
    if mode == "freeze":
        return np.zeros(len(buy), dtype=bool)
    return ~np.asarray(buy, dtype=bool) & np.asarray(derisking, dtype=bool)


def gate_status(through: np.ndarray, checks: list[CheckResult], state: KillSwitchState,
                mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The gate: ``status`` ("approved" / "blocked") and ``reason`` per order.

    A failed rule other than the kill switch's blocks every order (as always); so does a halt in
    ``"freeze"`` mode. A halt in ``"derisk"`` mode with every other rule passed approves the
    orders :func:`let_through` lets through and blocks the others, each with its reason. No check
    results at all is an error: unchecked orders are never approved.
    """
    if not checks:
        raise ValueError("no check results: refusing to approve unchecked trades")
    n = len(through)
    failed = [c for c in checks if not c.passed]
    if not failed:
        return np.full(n, "approved", dtype=object), np.full(n, f"all {len(checks)} checks passed", dtype=object)
    why = "; ".join(f"{c.name}: {c.detail}" for c in failed)
    others_failed = any(c.name not in KILL_SWITCH_RULES for c in failed)
    if not state.halted or mode == "freeze" or others_failed:
        return np.full(n, "blocked", dtype=object), np.full(n, why, dtype=object)
    through = np.asarray(through, dtype=bool)
    status = np.where(through, "approved", "blocked").astype(object)
    reason = np.where(through, f"de-risking sell approved while halted; every other of {len(checks)} checks passed",
                      f"no new risk while halted (buys, and the exits of names swapped out): {why}").astype(object)
    return status, reason


def halt_stats(halted: pd.Series) -> dict[str, int]:
    """``halted_days``, ``halts`` (separate halts) and ``longest_halt`` (days) of a date-ordered
    boolean series of halted dates.

    >>> halt_stats(pd.Series([False, True, True, False, True]))
    {'halted_days': 3, 'halts': 2, 'longest_halt': 2}
    """
    h = halted.astype(bool).to_numpy()
    starts = h & ~np.concatenate([[False], h[:-1]])
    run_id = np.cumsum(starts)[h]
    longest = int(np.bincount(run_id).max()) if h.any() else 0
    return {"halted_days": int(h.sum()), "halts": int(starts.sum()), "longest_halt": longest}
