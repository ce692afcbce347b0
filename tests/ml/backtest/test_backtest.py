"""Tests for ml.backtest: hand-computed equity, the same weights as the daily step, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.backtest import BENCH_EQUAL, BENCH_INDEX, STRATEGY, price_panels, run_backtest
from ml.ingest.synthetic import generate_market
from ml.portfolio import OPTIMIZERS, PortfolioSpec, make_weights
from ml.signals import make_signals
from ml.trades import Book, KillSwitchState, TradingSpec, make_trades, portfolio_check, step_kill_switch

DATES = pd.bdate_range("2020-01-06", periods=8)  # two days of history, then d2.. as decisions
SECTORS = pd.Series({"A": "Tech", "B": "Energy", "C": "Health"})

# No costs, no limits in the way: the arithmetic of one name held with all the capital.
FRICTIONLESS = TradingSpec(
    top_pct=1.0, portfolio=PortfolioSpec(top_n=1, max_replace=1, min_names=1, max_weight=1.0,
                                         max_sector=1.0, min_history=2, cov_window=5),
    capital=10_000.0, commission_bps=0.0, slippage_bps=0.0, min_trade_notional=0.0, no_trade_band=0.0,
    max_turnover=1.0, max_trade_share=1.0, sharpe_window_days=1000)


def _prices(opens: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for ticker, values in opens.items():
        for d, o in zip(DATES, values):
            rows.append({"ticker": ticker, "date": d, "open": o, "close": o, "adv_20d_shares": 1e9})
    return pd.DataFrame(rows)


def _preds(dates: pd.DatetimeIndex, order: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"date": d, "ticker": t, "yhat": v} for d in dates for t, v in order.items()])


OPENS = {"A": [100, 100, 100, 100, 110, 121, 108.9, 108.9], "B": [50, 50, 50, 50, 50, 55, 55, 55],
         "C": [20, 20, 20, 20, 19, 19, 19, 20]}
REGIMES = pd.Series("risk_on", index=DATES)


def test_three_asset_backtest_matches_hand_computed_equity() -> None:
    # A always ranks first: decided on d2, bought at the open of d3 (100 shares at 100), held.
    result = run_backtest(_preds(DATES[2:5], {"A": 0.3, "B": 0.2, "C": 0.1}), _prices(OPENS), REGIMES,
                          SECTORS, FRICTIONLESS)
    model = result.daily[result.daily["strategy"] == STRATEGY].set_index("date")
    # rows: d2 (open d3 -> d4: 100 -> 110), d3 (110 -> 121), d4 (121 -> 108.9)
    assert model["net_return"].tolist() == pytest.approx([0.10, 0.10, -0.10])
    assert model["equity"].tolist() == pytest.approx([11_000.0, 12_100.0, 10_890.0])
    assert list(model["trade_date"]) == list(DATES[3:6])
    assert list(model["return_end_date"]) == list(DATES[4:7])
    assert result.positions.query("date == @DATES[2]")[["ticker", "shares"]].values.tolist() == [["A", 100]]
    ew = result.daily[result.daily["strategy"] == BENCH_EQUAL]["net_return"].tolist()
    assert ew == pytest.approx([np.mean([0.10, 0.0, -0.05]), np.mean([0.10, 0.10, 0.0]),
                                np.mean([-0.10, 0.0, 0.0])])


def test_progress_is_logged_by_date() -> None:
    lines: list[str] = []
    run_backtest(_preds(DATES[2:5], {"A": 0.3, "B": 0.2, "C": 0.1}), _prices(OPENS), REGIMES, SECTORS,
                 FRICTIONLESS, log=lines.append)
    assert [line.split(", ")[0] for line in lines] == [
        f"backtest: {k}/3 dates (to {d.date()})" for k, d in enumerate(DATES[2:5], start=1)]


def test_costs_and_whole_shares_on_a_hand_case() -> None:
    # 10 bps total cost: 100 shares would need 10,010 -> 99 shares (9,900) + 9.90 costs; cash 90.10.
    spec = TradingSpec(**{**FRICTIONLESS.__dict__, "commission_bps": 4.0, "slippage_bps": 6.0})
    result = run_backtest(_preds(DATES[2:3], {"A": 0.3, "B": 0.2, "C": 0.1}), _prices(OPENS), REGIMES,
                          SECTORS, spec)
    row = result.daily[result.daily["strategy"] == STRATEGY].iloc[0]
    assert row["cost"] == pytest.approx(9.9)
    assert row["net_return"] == pytest.approx((90.1 + 99 * 110) / 10_000 - 1)
    assert row["gross_return"] == pytest.approx((90.1 + 99 * 110 + 9.9) / 10_000 - 1)
    assert row["turnover"] == pytest.approx(9_900 / 10_000 / 2)


def test_index_benchmark_runs_close_to_close_over_the_same_days() -> None:
    index = pd.Series([990, 995, 1000, 1010, 1020, 1000, 990, 995.0], index=DATES)
    result = run_backtest(_preds(DATES[2:4], {"A": 0.3, "B": 0.2, "C": 0.1}), _prices(OPENS), REGIMES,
                          SECTORS, FRICTIONLESS, index_close=index)
    gspc = result.daily[result.daily["strategy"] == BENCH_INDEX]["net_return"].tolist()
    assert gspc == pytest.approx([1020 / 1010 - 1, 1000 / 1020 - 1])


def test_missing_regime_and_empty_predictions_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="no regime for"):
        run_backtest(_preds(DATES[2:4], {"A": 0.3}), _prices(OPENS), REGIMES.iloc[3:], SECTORS, FRICTIONLESS)
    with pytest.raises(ValueError, match="preds is empty"):
        run_backtest(_preds(DATES[:0], {"A": 0.3}), _prices(OPENS), REGIMES, SECTORS, FRICTIONLESS)
    with pytest.raises(ValueError, match="two later trading days"):
        run_backtest(_preds(DATES[-2:], {"A": 0.3}), _prices(OPENS), REGIMES, SECTORS, FRICTIONLESS)
    twice = pd.concat([REGIMES, REGIMES.iloc[[2]]])
    with pytest.raises(ValueError, match=rf"regimes has duplicated dates \['{DATES[2].date()}'\]"):
        run_backtest(_preds(DATES[2:4], {"A": 0.3}), _prices(OPENS), twice, SECTORS, FRICTIONLESS)


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """A synthetic 40-ticker year with noisy predictions of the next week's return."""
    m = generate_market(n_tickers=40, n_years=1.0, seed=3)
    prices = m.prices.copy()
    prices["date"] = pd.to_datetime(prices["date"])
    prices = prices.sort_values(["ticker", "date"])
    prices["adv_20d_shares"] = prices.groupby("ticker")["volume"].transform(
        lambda v: v.rolling(20, min_periods=10).mean())
    close = prices.pivot(index="date", columns="ticker", values="close")
    fwd = (close.shift(-5) / close - 1).stack().rename("fwd").reset_index()
    rng = np.random.default_rng(0)
    preds = fwd.assign(yhat=fwd["fwd"] + rng.normal(0, 0.05, len(fwd)),
                       yhat_std=rng.uniform(0.01, 0.02, len(fwd)),
                       prob_up=rng.uniform(0.3, 0.7, len(fwd)))
    dates = close.index[130:200]
    preds = preds[preds["date"].isin(dates)].drop(columns="fwd")
    regimes = pd.Series(np.where(np.arange(len(close)) % 40 < 20, "risk_on", "risk_off"), index=close.index)
    sectors = m.sectors.set_index("ticker")["sector"]
    return preds, prices, regimes, sectors


@pytest.mark.parametrize("optimizer", ["inverse_vol", "min_variance"])
def test_daily_step_gives_the_backtest_weights_for_the_same_date_and_book(market, optimizer) -> None:
    preds, prices, regimes, sectors = market
    spec = TradingSpec(portfolio=PortfolioSpec(optimizer=optimizer, top_n=10, max_replace=2, min_names=5,
                                               max_weight=0.2, max_sector=0.4), sharpe_window_days=1000)
    result = run_backtest(preds, prices, regimes, sectors, spec)
    days = sorted(result.weights["date"].unique())
    for day in days[10:14]:
        prev = days[days.index(day) - 1]
        held = result.positions[result.positions["date"] == prev].set_index("ticker")["shares"]
        # the daily run's inputs for `day`: its predictions alone and prices up to the day only
        signals = make_signals(preds[preds["date"] == day], regimes.loc[[day]], spec)
        up_to = prices[prices["date"] <= day]
        returns = price_panels(up_to).returns.iloc[-spec.portfolio.cov_window:]
        daily = make_weights(signals, Book(held, 0.0), returns, sectors, regimes[day], spec).weights
        backtest = result.weights[result.weights["date"] == day].set_index("ticker")["weight"]
        pd.testing.assert_series_equal(daily.sort_index(), backtest.sort_index(), check_names=False)


def test_daily_step_gives_the_backtest_trades_and_kill_switch_on_halted_days(market) -> None:
    """The daily run's trade step, given the previous date's book and kill-switch state (as the
    daily run reads them from its tables) and the returns known by the date, decides what the
    backtest decided on halted days: the same state, the sells approved and the buys blocked."""
    preds, prices, regimes, sectors = market
    spec = TradingSpec(portfolio=PortfolioSpec(optimizer="inverse_vol", top_n=10, max_replace=2, min_names=5,
                                               max_weight=0.2, max_sector=0.4),
                       sharpe_window_days=10, min_sharpe=2.0, cooldown_days=3, max_halt_days=6, rearm_grace_days=2)
    result = run_backtest(preds, prices, regimes, sectors, spec)
    model = result.daily[result.daily["strategy"] == STRATEGY].reset_index(drop=True)
    assert model["kill_switch_halted"].any() and (~model["kill_switch_halted"].astype(bool)).any()
    panels = price_panels(prices)
    checked = 0
    for i in model.index[model["kill_switch_halted"].astype(bool)][:8]:
        row, prev = model.loc[i], model.loc[i - 1]
        day = row["date"]
        held = result.positions[result.positions["date"] == prev["date"]].set_index("ticker")["shares"]
        book = Book(held.astype("int64"), float(prev["cash"]))
        signals = make_signals(preds[preds["date"] == day], regimes.loc[[day]], spec)
        returns = price_panels(prices[prices["date"] <= day]).returns.iloc[-spec.portfolio.cov_window:]
        portfolio = make_weights(signals, book, returns, sectors, regimes[day], spec)
        known = model[model["return_end_date"] <= day].set_index("date")["net_return"]
        state = KillSwitchState.from_record(prev, prefix="kill_switch_")
        decision = make_trades(portfolio.weights, portfolio_check(portfolio), book,
                               panels.open.loc[row["trade_date"]], panels.adv.loc[day], known, sectors, spec,
                               kill_switch=state, scored=signals.loc[signals["score"].notna(), "ticker"])
        assert decision.kill_switch == KillSwitchState.from_record(row, prefix="kill_switch_")
        assert decision.kill_switch == step_kill_switch(state, known, spec)[0]
        backtest = result.trades[result.trades["date"] == day].drop(columns="date").reset_index(drop=True)
        pd.testing.assert_frame_equal(decision.trades.reset_index(drop=True)[backtest.columns], backtest,
                                      check_dtype=False)
        assert set(backtest.loc[backtest["side"] == "BUY", "status"]) <= {"blocked"}
        checked += int((backtest.loc[backtest["side"] == "SELL", "status"] == "approved").any())
    assert checked > 0  # some halted day had a de-risking sell


def test_rows_known_by_a_date_do_not_change_when_later_data_changes(market) -> None:
    """Rule 7 for the backtest: perturb every price and prediction after T; every row whose
    return_end_date <= T is unchanged (and so are its weights and trades)."""
    preds, prices, regimes, sectors = market
    spec = TradingSpec(portfolio=PortfolioSpec(optimizer="inverse_vol", top_n=10, min_names=5,
                                               max_weight=0.2, max_sector=0.4))
    base = run_backtest(preds, prices, regimes, sectors, spec)
    cut = sorted(preds["date"].unique())[40]
    later_p = prices["date"] > cut
    noisy = prices.copy()
    noisy.loc[later_p, ["open", "close"]] *= np.random.default_rng(1).uniform(0.5, 2.0, (later_p.sum(), 1))
    changed = preds.copy()
    changed.loc[changed["date"] > cut, "yhat"] *= -1
    other = run_backtest(changed, noisy, regimes, sectors, spec)
    known = base.daily["return_end_date"] <= cut
    assert known.sum() > 30
    pd.testing.assert_frame_equal(base.daily[known].reset_index(drop=True),
                                  other.daily[other.daily["return_end_date"] <= cut].reset_index(drop=True))
    decided = base.weights["date"] <= cut
    pd.testing.assert_frame_equal(base.weights[decided].reset_index(drop=True),
                                  other.weights[other.weights["date"] <= cut].reset_index(drop=True))
    assert not base.daily[~known]["net_return"].equals(other.daily[other.daily["return_end_date"] > cut]["net_return"])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_engine_and_the_daily_functions_agree_day_by_day(market, optimizer) -> None:
    """Four weeks replayed through the daily run's pandas functions (make_signals, make_weights,
    make_trades), the book carried from day to day as the daily run carries it, give the engine's
    weights, orders with their gate status, checks, book and returns on every day. A short Sharpe
    window makes the kill switch fire inside the span, so blocked days are covered too."""
    preds, prices, regimes, sectors = market
    spec = TradingSpec(portfolio=PortfolioSpec(optimizer=optimizer, top_n=10, max_replace=2, min_names=5,
                                               max_weight=0.1, max_sector=0.4), sharpe_window_days=5,
                       max_turnover=1.0, max_adv_share=1.0)
    span = sorted(preds["date"].unique())[:20]
    preds = preds[preds["date"].isin(span)]
    result = run_backtest(preds, prices, regimes, sectors, spec)
    panels = price_panels(prices)
    calendar = panels.open.index
    model = result.daily[result.daily["strategy"] == STRATEGY].set_index("date")
    book, known, switch = Book.empty(spec.capital), [], KillSwitchState()
    for day in span:
        i = calendar.get_loc(day)
        signals = make_signals(preds[preds["date"] == day], regimes.loc[[day]], spec)
        returns = price_panels(prices[prices["date"] <= day]).returns.iloc[-spec.portfolio.cov_window:]
        portfolio = make_weights(signals, book, returns, sectors, regimes[day], spec)
        ended = [(d, r) for end, d, r in known if end <= day]
        book_returns = pd.Series([r for _, r in ended], index=[d for d, _ in ended], dtype=float)
        decision = make_trades(portfolio.weights, portfolio_check(portfolio), book, panels.open.loc[calendar[i + 1]],
                               panels.adv.loc[day], book_returns, sectors, spec, kill_switch=switch,
                               scored=signals.loc[signals["score"].notna(), "ticker"])
        weights = result.weights[result.weights["date"] == day].set_index("ticker")["weight"]
        pd.testing.assert_series_equal(portfolio.weights, weights, check_names=False, check_exact=True,
                                       check_index_type=False)
        trades = result.trades[result.trades["date"] == day].drop(columns="date").reset_index(drop=True)
        pd.testing.assert_frame_equal(decision.trades.reset_index(drop=True), trades, check_exact=True)
        checks = result.checks[result.checks["date"] == day]
        assert [(c.name, c.passed, c.detail) for c in decision.checks] == list(
            zip(checks["check"], checks["passed"], checks["detail"]))
        held = result.positions[result.positions["date"] == day].set_index("ticker")["shares"]
        pd.testing.assert_series_equal(decision.book_after.shares, held, check_names=False, check_index_type=False)
        value_next = decision.book_after.cash + decision.book_after.holdings_value(panels.open.loc[calendar[i + 2]])
        net = value_next / decision.value - 1.0
        assert model.loc[day, "net_return"] == net and model.loc[day, "approved"] == decision.approved
        known.append((calendar[i + 2], day, net))
        book, switch = decision.book_after, decision.kill_switch
    assert not model["approved"].all() and model["approved"].any()  # both kinds of day were replayed
