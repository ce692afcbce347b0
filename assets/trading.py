"""Trading for the latest scored date: signals -> target weights -> trades (safety gate) ->
approval -> paper positions. The logic is ml.rebalance, the same functions the backtest calls.

The decision date is the date of the champion's live predictions (the close it was scored at).
Orders are sized at that close (an estimate: they would execute at the next open). Every table
row carries the date, and re-materializing replaces the date's rows, so a re-run is idempotent:
the book a date starts from is always the one of the latest earlier date.
"""

import json

import dagster as dg
import duckdb
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.partitions import MARKET_DATES
from assets.resources import DEFAULT_OPTIMIZER, TradepipeSettings, TradingSettings
from assets.tables import replace_rows, table_exists
from ml.training import registry
from ml.backtest import price_panels
from ml.portfolio import make_weights
from ml.signals import make_signals
from ml.trades import Book, CheckResult, apply_trades, make_trades, portfolio_check

DAILY_PREDICTIONS = dg.AssetKey(["ml", "daily_predictions"])
REGIMES = dg.AssetKey(["ml", "regimes"])
PRICES = dg.AssetKey(["marts", "fct_prices"])
INSTRUMENTS = dg.AssetKey(["marts", "dim_instruments"])
SIGNALS = dg.AssetKey(["trading", "signals"])
TARGET_WEIGHTS = dg.AssetKey(["trading", "target_weights"])
TRADES = dg.AssetKey(["trading", "trades"])
TRADE_APPROVAL = dg.AssetKey(["trading", "trade_approval"])
POSITIONS = dg.AssetKey(["trading", "positions"])

# Which safety rules each blocking check reports (rule names from ml.safety / ml.rebalance).
PORTFOLIO_RULES = ("portfolio_valid", "weights_valid", "max_weight", "max_sector")
TRADE_RULES = ("prices_valid", "turnover", "max_trade_share", "max_cost_share", "max_trades", "liquidity")
KILL_SWITCH_RULES = ("daily_loss", "trailing_sharpe")


def market_date(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """The partition's market date: the close the run decides at."""
    return pd.Timestamp(context.partition_key)


def predictions_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int) -> tuple[str, pd.DataFrame]:
    """The model in force on ``day`` (ml.predictions_in_force) and its predictions for the day."""
    row = (con.execute("select model_id from ml.predictions_in_force where date = ? and horizon = ?",
                       [day.date(), horizon]).fetchone() if table_exists(con, "ml.predictions_in_force") else None)
    if row is None:
        raise ValueError(f"no predictions recorded for {day.date()} (horizon {horizon}): "
                         f"materialize ml/daily_predictions for that date first")
    preds = con.execute("""select ticker, yhat, yhat_std, prob_up from ml.preds
                           where date = ? and horizon = ? and model_id = ?""", [day.date(), horizon, row[0]]).df()
    return row[0], preds


def regime_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> str:
    row = con.execute("select regime from ml.regimes where date = ?", [day.date()]).fetchone()
    if row is None or row[0] is None:
        last = con.execute("select max(date) from ml.regimes").fetchone()[0]
        raise ValueError(f"no regime for {day.date()} in ml.regimes (latest regime date: {last}); "
                         f"materialize ml/regimes with data up to that date")
    return row[0]


def champion_optimizer(con: duckdb.DuckDBPyConnection, trading: TradingSettings) -> str:
    """The optimizer to trade with: ``trading.optimizer``, or for 'champion' the one the model
    comparison recorded with the champion of ``trading.horizon`` (equal_weight when none was)."""
    if trading.optimizer != "champion":
        return trading.optimizer
    if not table_exists(con, "ml.model_registry"):
        return DEFAULT_OPTIMIZER
    columns = {c[0] for c in con.execute("describe ml.model_registry").fetchall()}
    if "optimizer" not in columns:
        return DEFAULT_OPTIMIZER
    row = con.execute("select optimizer from ml.model_registry where status = 'champion' and horizon = ?",
                      [trading.horizon]).fetchone()
    return row[0] if row and isinstance(row[0], str) and row[0] else DEFAULT_OPTIMIZER


def sectors(con: duckdb.DuckDBPyConnection) -> pd.Series:
    return con.execute("select ticker, sector from marts.dim_instruments").df().set_index("ticker")["sector"]


def book_before(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, capital: float) -> tuple[Book, pd.Timestamp | None]:
    """The paper book at the end of the latest date before ``day`` (empty with ``capital`` cash at first)."""
    if not table_exists(con, "trading.paper_book"):
        return Book.empty(capital), None
    last = con.execute("select max(date) from trading.paper_book where date < ?", [day.date()]).fetchone()[0]
    if last is None:
        return Book.empty(capital), None
    cash = con.execute("select cash from trading.paper_book where date = ?", [last]).fetchone()[0]
    held = con.execute("select ticker, shares from trading.positions where date = ? and shares <> 0",
                       [last]).df()
    shares = held.set_index("ticker")["shares"].astype("int64") if len(held) else pd.Series(dtype="int64")
    return Book(shares, float(cash)), pd.Timestamp(last)


def prices_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return con.execute("select ticker, close, adv_20d_shares from marts.fct_prices where date = ?",
                       [day.date()]).df().set_index("ticker")


def trailing_returns(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, window: int) -> pd.DataFrame:
    """Daily close-to-close returns (date x ticker) of the ``window`` trading dates up to ``day``."""
    rows = con.execute("""
        with dates as (select distinct date from marts.fct_prices where date <= ? order by date desc limit ?)
        select ticker, date, open, close, adv_20d_shares from marts.fct_prices where date in (select date from dates)
    """, [day.date(), window + 1]).df()
    return price_panels(rows).returns.iloc[1:]


def book_returns(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, book: Book, close: pd.Series) -> pd.Series:
    """The paper book's daily returns known at the close of ``day``: the recorded ones of earlier
    dates plus the move from the last recorded equity to the book marked at ``day``'s close."""
    if not table_exists(con, "trading.paper_book"):
        return pd.Series(dtype=float)
    past = con.execute("select date, daily_return, equity from trading.paper_book where date < ? order by date",
                       [day.date()]).df()
    if past.empty:
        return pd.Series(dtype=float)
    returns = past.set_index("date")["daily_return"].dropna()
    today = (book.cash + book.holdings_value(close)) / float(past["equity"].iloc[-1]) - 1.0
    return pd.concat([returns, pd.Series({day: today})])


@dg.asset(key=SIGNALS, deps=[DAILY_PREDICTIONS, REGIMES], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def signals(context: dg.AssetExecutionContext, settings: TradepipeSettings,
            trading: TradingSettings) -> dg.MaterializeResult:
    """trading.signals for the decision date: the champion's score combined with its confidence
    (yhat_std, prob_up) and the regime, and the signal of the configured method."""
    spec = trading.spec()
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        model_id, preds = predictions_on(con, day, trading.horizon)
        regime = regime_on(con, day)
    rows = make_signals(preds.assign(date=day), pd.Series({day: regime}), spec).assign(model_id=model_id, horizon=trading.horizon, regime=regime)
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "trading.signals", rows.assign(date=day.date()), "date = ?", [day.date()])
        con.execute("commit")
    top = rows.nlargest(10, "score")[["ticker", "score", "signal"]].set_index("ticker")
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "regime": regime, "model_id": model_id, "method": spec.signal_method,
        "dagster/row_count": len(rows), "buy_signals": int((rows["signal"] > 0).sum()),
        "top_10": metadata.table(top),
    })


@dg.asset(key=TARGET_WEIGHTS, deps=[SIGNALS, PRICES, INSTRUMENTS], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def target_weights(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """trading.target_weights: top-K names with a dropout buffer against the paper book, weighted
    by the optimizer under the name and sector caps, scaled to the regime's gross exposure.
    trading.portfolios keeps the date's verdict (valid, reasons, exposure, cash)."""
    with settings.warehouse(read_only=True) as con:
        spec = trading.spec(champion_optimizer(con, trading))
        day = market_date(context)
        sig = con.execute("select ticker, score, signal from trading.signals where date = ?", [day.date()]).df()
        if sig.empty:
            raise ValueError(f"trading.signals has no rows for {day.date()}: materialize trading/signals first")
        regime = regime_on(con, day)
        book, _ = book_before(con, day, spec.capital)
        returns = trailing_returns(con, day, spec.portfolio.cov_window)
        sector = sectors(con)
    result = make_weights(sig, book, returns, sector, regime, spec)
    weights = result.weights.rename("weight").rename_axis("ticker").reset_index()
    weights = weights.assign(date=day.date(), optimizer=result.optimizer, regime=regime,
                             sector=weights["ticker"].map(sector),
                             score=weights["ticker"].map(sig.set_index("ticker")["score"]))
    check = portfolio_check(result)
    verdict = pd.DataFrame([{
        "date": day.date(), "optimizer": result.optimizer, "regime": regime, "exposure": result.exposure,
        "cash_weight": result.cash, "n_names": len(result.weights), "valid": check.passed, "detail": check.detail,
        "kept": json.dumps(list(result.selection.kept)), "added": json.dumps(list(result.selection.added)),
        "dropped": json.dumps(list(result.selection.dropped)), "notes": json.dumps(list(result.notes)),
    }])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "trading.target_weights", weights, "date = ?", [day.date()])
        replace_rows(con, "trading.portfolios", verdict, "date = ?", [day.date()])
        con.execute("commit")
    by_sector = weights.groupby("sector")["weight"].sum().sort_values(ascending=False)
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "optimizer": result.optimizer, "regime": regime,
        "exposure": float(result.exposure), "names": len(weights), "valid": check.passed, "detail": check.detail,
        "added": dg.MetadataValue.json(list(result.selection.added)),
        "dropped": dg.MetadataValue.json(list(result.selection.dropped)),
        "weights": metadata.table(weights.set_index("ticker")[["weight", "sector", "score"]].sort_values(
            "weight", ascending=False)),
        "sector_weights": metadata.table(by_sector.to_frame("weight")),
    })


@dg.asset(key=TRADES, deps=[TARGET_WEIGHTS, PRICES], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def trades(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """trading.trades: whole-share orders from the paper book to the target weights, sells first,
    with cost estimates and liquidity flags; every safety rule and the kill switch are evaluated
    (trading.safety_checks) and the gate marks all orders approved, or all blocked with the reasons."""
    spec = trading.spec()
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        weights = con.execute("select ticker, weight from trading.target_weights where date = ?",
                              [day.date()]).df().set_index("ticker")["weight"]
        verdict = con.execute("select valid, detail from trading.portfolios where date = ?", [day.date()]).fetchone()
        if verdict is None:
            raise ValueError(f"trading.portfolios has no row for {day.date()}: materialize trading/target_weights first")
        book, _ = book_before(con, day, spec.capital)
        px = prices_on(con, day)
        known = book_returns(con, day, book, px["close"]) if not _unpriced(book, px) else pd.Series(dtype=float)
        sector = sectors(con)
    decision = make_trades(weights, CheckResult("portfolio_valid", bool(verdict[0]), verdict[1]), book,
                           px["close"], px["adv_20d_shares"], known, sector, spec, mode=trading.mode)
    rows = decision.trades.assign(date=day.date(), mode=trading.mode)
    checks = pd.DataFrame([{"date": day.date(), "check": c.name, "passed": c.passed, "detail": c.detail}
                           for c in decision.checks])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "trading.trades", rows, "date = ?", [day.date()])
        replace_rows(con, "trading.safety_checks", checks, "date = ?", [day.date()])
        con.execute("commit")
    failed = [f"{c.name}: {c.detail}" for c in decision.checks if not c.passed]
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "status": "approved" if decision.approved else "blocked",
        "reason": "; ".join(failed) or "all checks passed", "orders": len(rows),
        "turnover": float(decision.turnover), "estimated_cost": float(decision.costs),
        "book_value": float(decision.value),
        "trades": metadata.table(rows.set_index("ticker")[["side", "shares", "price", "notional", "status"]]
                                 if len(rows) else pd.DataFrame({"orders": []})),
        "safety_checks": metadata.table(checks.set_index("check")[["passed", "detail"]]),
    })


def _unpriced(book: Book, px: pd.DataFrame) -> list[str]:
    return [t for t in book.shares.index if not px["close"].get(t, float("nan")) > 0]


@dg.asset(key=TRADE_APPROVAL, deps=[TRADES], group_name="trading", kinds={"duckdb"}, partitions_def=MARKET_DATES)
def trade_approval(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """The date's gate decision (trading.trade_approvals): approved only when every safety rule
    passed. Its blocking checks stop the paper book from moving otherwise, with the reason."""
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        checks = con.execute("select * from trading.safety_checks where date = ?", [day.date()]).df()
        orders = con.execute("select status from trading.trades where date = ?", [day.date()]).df()
    if checks.empty:
        raise ValueError(f"no safety checks for {day.date()}: materialize trading/trades first")
    failed = checks[~checks["passed"]]
    row = pd.DataFrame([{
        "date": day.date(), "approved": failed.empty, "orders": len(orders),
        "approved_orders": int((orders["status"] == "approved").sum()),
        "failed_checks": "; ".join(f"{r.check}: {r.detail}" for r in failed.itertuples()),
        "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "trading.trade_approvals", row, "date = ?", [day.date()])
        con.execute("commit")
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "approved": bool(failed.empty), "orders": len(orders),
        "failed_checks": dg.MetadataValue.json(failed[["check", "detail"]].to_dict("records")),
    })


def _rule_check(settings: TradepipeSettings, trading: TradingSettings, rules: tuple[str, ...]) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        # the date the gate decided last (the partition just materialized)
        day = pd.Timestamp(con.execute("select date from trading.trade_approvals order by decided_at desc limit 1")
                           .fetchone()[0])
        checks = con.execute("select * from trading.safety_checks where date = ?", [day.date()]).df()
    mine = checks[checks["check"].isin(rules)]
    missing = sorted(set(rules) - set(mine["check"]))
    failed = mine[~mine["passed"]]
    reason = "; ".join([f"{r.check}: {r.detail}" for r in failed.itertuples()]
                       + [f"{m}: not evaluated" for m in missing])
    return dg.AssetCheckResult(
        passed=failed.empty and not missing,
        description=reason or "all rules passed",
        metadata={"date": str(day.date()), "reason": reason or "all rules passed",
                  "rules": metadata.table(mine.set_index("check")[["passed", "detail"]])},
    )


@dg.asset_check(asset=TRADE_APPROVAL, blocking=True,
                description="Target weights valid: enough names, weights >= 0 summing to <= 1, name and sector caps.")
def portfolio_within_limits(settings: TradepipeSettings, trading: TradingSettings) -> dg.AssetCheckResult:
    return _rule_check(settings, trading, PORTFOLIO_RULES)


@dg.asset_check(asset=TRADE_APPROVAL, blocking=True,
                description="Orders pass safety: valid prices, turnover, single-order size, total cost, count, liquidity.")
def trades_within_limits(settings: TradepipeSettings, trading: TradingSettings) -> dg.AssetCheckResult:
    return _rule_check(settings, trading, TRADE_RULES)


@dg.asset_check(asset=TRADE_APPROVAL, blocking=True,
                description="Kill switch not triggered: no daily loss beyond the limit, trailing Sharpe above the floor.")
def kill_switch_clear(settings: TradepipeSettings, trading: TradingSettings) -> dg.AssetCheckResult:
    return _rule_check(settings, trading, KILL_SWITCH_RULES)


@dg.asset(key=POSITIONS, deps=[TRADE_APPROVAL], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def positions(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """trading.positions and trading.paper_book after the date's approved trades (paper mode:
    filled at the decision close with the estimated costs). Runs only when the gate's blocking
    checks passed."""
    spec = trading.spec()
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        book, last = book_before(con, day, spec.capital)
        orders = con.execute("select * from trading.trades where date = ?", [day.date()]).df()
        close = prices_on(con, day)["close"]
        prev_equity = (con.execute("select equity from trading.paper_book where date = ?", [last.date()]).fetchone()[0]
                       if last is not None else None)
    if orders.empty:
        orders = orders.assign(status=pd.Series(dtype=str))
    after = apply_trades(book, orders, mode=trading.mode)
    marked_before = book.cash + book.holdings_value(close)
    holdings = after.holdings_value(close)
    equity = after.cash + holdings
    rows = after.shares.rename("shares").rename_axis("ticker").reset_index()
    rows = rows.assign(date=day.date(), price=rows["ticker"].map(close),
                       value=lambda f: f["shares"] * f["price"], weight=lambda f: f["value"] / equity)
    paper = pd.DataFrame([{
        "date": day.date(), "cash": after.cash, "holdings_value": holdings, "equity": equity,
        "daily_return": (marked_before / prev_equity - 1.0) if prev_equity else float("nan"), "mode": trading.mode,
    }])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "trading.positions", rows, "date = ?", [day.date()])
        replace_rows(con, "trading.paper_book", paper, "date = ?", [day.date()])
        con.execute("commit")
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "names": len(rows), "cash": float(after.cash), "equity": float(equity),
        "positions": metadata.table(rows.set_index("ticker")[["shares", "price", "value", "weight"]]
                                    if len(rows) else pd.DataFrame({"positions": []})),
    })
