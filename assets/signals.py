"""Signals for a market date: the champion's score combined with its confidence and the regime
(ml.signals.make_signals, the same function the backtest calls)."""

import dagster as dg
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.partitions import MARKET_DATES
from assets.predictions import DAILY_PREDICTIONS
from assets.regimes import REGIMES
from assets.resources import TradepipeSettings, TradingSettings
from assets.warehouse import preds, regimes
from assets.warehouse import trading as decisions
from assets.warehouse.connection import transaction
from ml.adapt import buy_share
from ml.signals import make_signals

SIGNALS = dg.AssetKey(["trading", "signals"])


def market_date(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """The partition's market date: the close the run decides at."""
    return pd.Timestamp(context.partition_key)


@dg.asset(key=SIGNALS, deps=[DAILY_PREDICTIONS, REGIMES], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def signals(context: dg.AssetExecutionContext, settings: TradepipeSettings,
            trading: TradingSettings) -> dg.MaterializeResult:
    """trading.signals for the decision date: the champion's score combined with its confidence
    (yhat_std, prob_up) and the regime, and the signal of the configured method. The date's
    decision is replaced from here on (weights, trades, approval and positions of an earlier
    run of the date go)."""
    spec = trading.spec()
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        model_id, scored = preds.predictions_on(con, day, trading.horizon)
        regime = regimes.regime_on(con, day)
    rows = make_signals(scored.assign(date=day), pd.Series({day: regime}), spec).assign(
        model_id=model_id, horizon=trading.horizon, regime=regime)
    adapted = []
    if spec.signal_method == "rank":  # the rule make_signals applied, said here (ml.adapt.buy_share)
        adapted = buy_share(int(scored["yhat"].count()), spec.portfolio.min_names, spec.top_pct)[1]
    for a in adapted:
        context.log.info(f"adapted to the data: {a}")
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "signals", day, {"trading.signals": rows})
    top = rows.nlargest(10, "score")[["ticker", "score", "signal"]].set_index("ticker")
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "regime": regime, "model_id": model_id, "method": spec.signal_method,
        "dagster/row_count": len(rows), "buy_signals": int((rows["signal"] > 0).sum()),
        "adapted_settings": dg.MetadataValue.json([str(a) for a in adapted]),
        "top_10": metadata.table(top),
    }))
