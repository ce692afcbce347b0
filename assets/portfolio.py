"""Target weights for a market date: top-K names with a dropout buffer against the paper book,
weighted by the optimizer under the name and sector caps, scaled to the regime's exposure
(ml.portfolio.make_weights, the same function the backtest calls)."""

import json

import dagster as dg
import duckdb
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.dbt import DIM_INSTRUMENTS, FCT_PRICES
from assets.partitions import MARKET_DATES
from assets.resources import DEFAULT_OPTIMIZER, TradepipeSettings, TradingSettings
from assets.signals import SIGNALS, market_date
from assets.warehouse import marts, regimes
from assets.warehouse import registry as registry_table
from assets.warehouse import trading as decisions
from assets.warehouse.connection import transaction
from ml.backtest import price_panels
from ml.portfolio import make_weights
from ml.trades import portfolio_check

TARGET_WEIGHTS = dg.AssetKey(["trading", "target_weights"])


def champion_optimizer(con: duckdb.DuckDBPyConnection, trading: TradingSettings) -> str:
    """The optimizer to trade with: ``trading.optimizer``, or for 'champion' the one the model
    comparison recorded with the champion of ``trading.horizon`` (equal_weight when none was)."""
    if trading.optimizer != "champion":
        return trading.optimizer
    return registry_table.champion_optimizer(con, trading.horizon) or DEFAULT_OPTIMIZER


def trailing_returns(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, window: int) -> pd.DataFrame:
    """Daily close-to-close returns (date x ticker) of the ``window`` trading dates up to ``day``."""
    return price_panels(marts.trailing_prices(con, day, window + 1)).returns.iloc[1:]


@dg.asset(key=TARGET_WEIGHTS, deps=[SIGNALS, FCT_PRICES, DIM_INSTRUMENTS], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def target_weights(context: dg.AssetExecutionContext, settings: TradepipeSettings,
                   trading: TradingSettings) -> dg.MaterializeResult:
    """trading.target_weights: top-K names with a dropout buffer against the paper book, weighted
    by the optimizer under the name and sector caps, scaled to the regime's gross exposure.
    trading.portfolios keeps the date's verdict (valid, reasons, exposure, cash)."""
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        spec = trading.spec(champion_optimizer(con, trading))
        sig = decisions.signals_on(con, day)
        if sig.empty:
            raise ValueError(f"trading.signals has no rows for {day.date()}: materialize trading/signals first")
        regime = regimes.regime_on(con, day)
        book, _ = decisions.book_before(con, day, spec.capital)
        returns = trailing_returns(con, day, spec.portfolio.cov_window)
        sector = marts.sectors(con)
    result = make_weights(sig[["ticker", "score", "signal"]], book, returns, sector, regime, spec)
    weights = result.weights.rename("weight").rename_axis("ticker").reset_index()
    weights = weights.assign(optimizer=result.optimizer, regime=regime, sector=weights["ticker"].map(sector),
                             score=weights["ticker"].map(sig.set_index("ticker")["score"]))
    check = portfolio_check(result)
    verdict = pd.DataFrame([{
        "optimizer": result.optimizer, "regime": regime, "exposure": result.exposure,
        "cash_weight": result.cash, "n_names": len(result.weights), "valid": check.passed, "detail": check.detail,
        "kept": json.dumps(list(result.selection.kept)), "added": json.dumps(list(result.selection.added)),
        "dropped": json.dumps(list(result.selection.dropped)), "notes": json.dumps(list(result.notes)),
    }])
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "weights", day, {"trading.target_weights": weights,
                                                    "trading.portfolios": verdict})
    by_sector = weights.groupby("sector")["weight"].sum().sort_values(ascending=False)
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "optimizer": result.optimizer, "regime": regime,
        "exposure": float(result.exposure), "names": len(weights), "valid": check.passed, "detail": check.detail,
        "added": dg.MetadataValue.json(list(result.selection.added)),
        "dropped": dg.MetadataValue.json(list(result.selection.dropped)),
        "notes": dg.MetadataValue.json(list(result.notes)),
        "weights": metadata.table(weights.set_index("ticker")[["weight", "sector", "score"]].sort_values(
            "weight", ascending=False)),
        "sector_weights": metadata.table(by_sector.to_frame("weight")),
    }))
