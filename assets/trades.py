"""Trades for a market date: whole-share orders from the paper book to the target weights, the
safety gate (every rule and the kill switch), the approval and the paper book after it
(ml.trades, the same functions the backtest calls).

Orders are sized at the decision close (an estimate: they would execute at the next open). Each
order's reasons (trading.trade_reasons) are the largest feature contributions to the prediction it
was decided on: the model in force that day on that day's features (LightGBM only).
Every row carries the date, and each step replaces the date's decision from its stage on, so a
re-run is idempotent and a blocked re-decision leaves no positions of an earlier one: the book
a date starts from is always the one of the latest earlier date.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.dbt import FCT_FEATURES, FCT_PRICES
from assets.partitions import MARKET_DATES
from assets.portfolio import TARGET_WEIGHTS
from assets.predictions import DAILY_PREDICTIONS
from assets.resources import TradepipeSettings, TradingSettings
from assets.signals import market_date
from assets.warehouse import marts
from assets.warehouse import preds as preds_table
from assets.warehouse import registry as registry_table
from assets.warehouse import trading as decisions
from assets.warehouse.connection import transaction
from ml.config import setting
from ml.trades import Book, CheckResult, apply_trades, make_trades, no_reasons, trade_reasons, unexplained
from ml.training import FittedModel

TRADES = dg.AssetKey(["trading", "trades"])
TRADE_APPROVAL = dg.AssetKey(["trading", "trade_approval"])
POSITIONS = dg.AssetKey(["trading", "positions"])

# Which safety rules each blocking check reports (rule names from ml.trades).
GATE_CHECKS = {
    "portfolio_within_limits": (("portfolio_valid", "weights_valid", "max_weight", "max_sector"),
                                "Target weights valid: enough names, weights >= 0 summing to <= 1, name and sector caps."),
    "trades_within_limits": (("prices_valid", "turnover", "max_trade_share", "max_cost_share", "max_trades", "liquidity"),
                             "Orders pass safety: valid prices, turnover, single-order size, total cost, count, liquidity."),
    "kill_switch_clear": (("daily_loss", "trailing_sharpe"),
                          "Kill switch not triggered: no daily loss beyond the limit, trailing Sharpe above the floor."),
}


def book_returns(history: pd.DataFrame, day: pd.Timestamp, book: Book, close: pd.Series) -> pd.Series:
    """The paper book's daily returns known at the close of ``day``: the recorded ones of earlier
    dates (``history``: date, daily_return, equity) plus the move from the last recorded equity
    to the book marked at ``day``'s close."""
    if history.empty:
        return pd.Series(dtype=float)
    returns = history.set_index("date")["daily_return"].dropna()
    today = (book.cash + book.holdings_value(close)) / float(history["equity"].iloc[-1]) - 1.0
    return pd.concat([returns, pd.Series({day: today})])


def _unpriced(book: Book, px: pd.DataFrame) -> list[str]:
    return [t for t in book.shares.index if not px["close"].get(t, float("nan")) > 0]


class TradesConfig(dg.Config):
    """How the date's orders are explained."""

    reasons_per_trade: int = setting("trades.reasons_per_trade")


def explain(home: Path, model_id: str, scorer: dict[str, Any] | None, features: pd.DataFrame, preds: pd.DataFrame,
            orders: pd.DataFrame, k: int) -> tuple[pd.DataFrame, str]:
    """trading.trade_reasons of ``orders``: the top ``k`` contributions to each traded name's
    recorded prediction by ``model_id`` (the model in force, ``scorer`` its registry row) on the
    date's ``features``; with a line saying what was explained, or why nothing was."""
    if scorer is None:
        raise ValueError(f"model {model_id}, in force on the date (ml.predictions_in_force), is not in "
                         f"ml.model_registry: materialize ml/daily_predictions for the date again")
    why = unexplained(scorer["model_type"], model_id)
    if why is not None:
        return no_reasons(), why
    if orders.empty:
        return no_reasons(), "no orders"
    model = FittedModel.load(registry_table.artifact(home, scorer["artifact_path"]))
    reasons = trade_reasons(model, features, orders, preds.set_index("ticker")["yhat"], k)
    return reasons, f"{reasons['ticker'].nunique()} of {len(orders)} traded names explained by model {model_id}"


@dg.asset(key=TRADES, deps=[TARGET_WEIGHTS, FCT_PRICES, DAILY_PREDICTIONS, FCT_FEATURES], group_name="trading",
          kinds={"duckdb"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def trades(context: dg.AssetExecutionContext, config: TradesConfig, settings: TradepipeSettings,
           trading: TradingSettings) -> dg.MaterializeResult:
    """trading.trades: whole-share orders from the paper book to the target weights, sells first,
    with cost estimates and liquidity flags; every safety rule and the kill switch are evaluated
    (trading.safety_checks) and the gate marks all orders approved, or all blocked with the reasons.
    trading.trade_reasons: for each order, the features that moved its prediction most (LightGBM's
    SHAP values, from the model in force and the features it scored that day)."""
    spec = trading.spec()
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        model_id, preds = preds_table.predictions_on(con, day, trading.horizon)
        scorer = registry_table.model(con, model_id)
        features = marts.features_on(con, day)
        weights = decisions.weights_on(con, day)
        verdict = decisions.portfolio_on(con, day)
        if verdict is None:
            raise ValueError(f"trading.portfolios has no row for {day.date()}: materialize trading/target_weights first")
        book, _ = decisions.book_before(con, day, spec.capital)
        px = marts.prices_on(con, day)
        history = decisions.book_history_before(con, day)
        sector = marts.sectors(con)
    known = book_returns(history, day, book, px["close"]) if not _unpriced(book, px) else pd.Series(dtype=float)
    weight = weights.set_index("ticker")["weight"] if len(weights) else pd.Series(dtype=float)
    decision = make_trades(weight, CheckResult("portfolio_valid", bool(verdict["valid"]), verdict["detail"]), book,
                           px["close"], px["adv_20d_shares"], known, sector, spec, mode=trading.mode)
    rows = decision.trades.assign(mode=trading.mode)
    checks = pd.DataFrame([{"check": c.name, "passed": c.passed, "detail": c.detail} for c in decision.checks])
    reasons, explained = explain(settings.home_path, model_id, scorer, features, preds, rows,
                                 config.reasons_per_trade)
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "trades", day, {"trading.trades": rows, "trading.safety_checks": checks,
                                                   "trading.trade_reasons": reasons})
    failed = [f"{c.name}: {c.detail}" for c in decision.checks if not c.passed]
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "status": "approved" if decision.approved else "blocked",
        "reason": "; ".join(failed) or "all checks passed", "orders": len(rows),
        "turnover": float(decision.turnover), "estimated_cost": float(decision.costs),
        "book_value": float(decision.value),
        "trades": metadata.table(rows.set_index("ticker")[["side", "shares", "price", "notional", "status"]]
                                 if len(rows) else pd.DataFrame({"orders": []})),
        "safety_checks": metadata.table(checks.set_index("check")[["passed", "detail"]]),
        "reasons": explained,
    }))


def gate_check(name: str, day: pd.Timestamp, checks: pd.DataFrame) -> dg.AssetCheckResult:
    """One blocking check of the gate, judged on ``day``'s safety rules."""
    rules = GATE_CHECKS[name][0]
    mine = checks[checks["check"].isin(rules)]
    missing = sorted(set(rules) - set(mine["check"]))
    failed = mine[~mine["passed"].astype(bool)]
    reason = "; ".join([f"{r.check}: {r.detail}" for r in failed.itertuples()]
                       + [f"{m}: not evaluated" for m in missing])
    return dg.AssetCheckResult(
        check_name=name, passed=failed.empty and not missing, description=reason or "all rules passed",
        metadata=metadata.entries({"date": str(day.date()), "reason": reason or "all rules passed",
                                   "rules": metadata.table(mine.set_index("check")[["passed", "detail"]])}),
    )


@dg.asset(key=TRADE_APPROVAL, deps=[TRADES], group_name="trading", kinds={"duckdb"}, partitions_def=MARKET_DATES,
          check_specs=[dg.AssetCheckSpec(name, asset=TRADE_APPROVAL, blocking=True, description=description)
                       for name, (_, description) in GATE_CHECKS.items()])
def trade_approval(context: dg.AssetExecutionContext, settings: TradepipeSettings):
    """The date's gate decision (trading.trade_approvals): approved only when every safety rule
    passed. Its blocking checks, judged on this date's rules, stop the paper book from moving
    otherwise, with the reason; the date's positions of an earlier decision are removed."""
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        checks = decisions.safety_checks_on(con, day)
        orders = decisions.trades_on(con, day)
    if checks.empty:
        raise ValueError(f"no safety checks for {day.date()}: materialize trading/trades first")
    failed = checks[~checks["passed"].astype(bool)]
    row = pd.DataFrame([{
        "approved": failed.empty, "orders": len(orders),
        "approved_orders": int((orders["status"] == "approved").sum()) if len(orders) else 0,
        "failed_checks": "; ".join(f"{r.check}: {r.detail}" for r in failed.itertuples()),
        "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "approval", day, {"trading.trade_approvals": row})
    yield dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "approved": bool(failed.empty), "orders": len(orders),
        "failed_checks": dg.MetadataValue.json(failed[["check", "detail"]].to_dict("records")),
    }))
    for name in GATE_CHECKS:
        yield gate_check(name, day, checks)


@dg.asset(key=POSITIONS, deps=[TRADE_APPROVAL], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def positions(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """trading.positions and trading.paper_book after the date's approved trades (paper mode:
    filled at the decision close with the estimated costs). Runs only when the gate's blocking
    checks passed."""
    spec = trading.spec()
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        book, last = decisions.book_before(con, day, spec.capital)
        orders = decisions.trades_on(con, day)
        close = marts.prices_on(con, day)["close"]
        prev_equity = decisions.equity_on(con, last) if last is not None else None
    if orders.empty:
        orders = orders.assign(status=pd.Series(dtype=str))
    after = apply_trades(book, orders, mode=trading.mode)
    marked_before = book.cash + book.holdings_value(close)
    holdings = after.holdings_value(close)
    equity = after.cash + holdings
    rows = after.shares.rename("shares").rename_axis("ticker").reset_index()
    rows = rows.assign(price=rows["ticker"].map(close),
                       value=lambda f: f["shares"] * f["price"], weight=lambda f: f["value"] / equity)
    paper = pd.DataFrame([{
        "cash": after.cash, "holdings_value": holdings, "equity": equity,
        "daily_return": (marked_before / prev_equity - 1.0) if prev_equity else float("nan"), "mode": trading.mode,
    }])
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "positions", day, {"trading.positions": rows, "trading.paper_book": paper})
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "names": len(rows), "cash": float(after.cash), "equity": float(equity),
        "positions": metadata.table(rows.set_index("ticker")[["shares", "price", "value", "weight"]]
                                    if len(rows) else pd.DataFrame({"positions": []})),
    }))
