"""Settings that fit the data (ml.adapt): exact cases of each rule, and the daily steps using them."""

import numpy as np
import pandas as pd
import pytest

from ml import adapt
from ml.portfolio import PortfolioSpec, target_weights
from ml.signals import make_signals
from ml.trades import TradingSpec


def test_training_windows_keep_the_configuration_when_the_panel_has_room():
    assert adapt.training_windows(756 + 4 * 63, 756, 63) == (756, 63, [])


@pytest.mark.parametrize(("n_dates", "train", "test"), [
    (756 + 4 * 63 - 1, 504, 63), (504 + 4 * 63, 504, 63), (506, 252, 63), (378, 126, 63), (377, 252, 21),
    (210, 126, 21),
])
def test_training_windows_step_down_train_days_then_test_days(n_dates, train, test):
    chosen_train, chosen_test, adapted = adapt.training_windows(n_dates, 756, 63)
    assert (chosen_train, chosen_test) == (train, test)
    assert chosen_train + adapt.OOS_FOLDS * chosen_test <= n_dates
    assert {a.key: a.chosen for a in adapted} == {
        k: v for k, v in (("training.train_days", train), ("training.test_days", test)) if v != {
            "training.train_days": 756, "training.test_days": 63}[k]}
    assert all(f"{n_dates} dates" in a.reason for a in adapted)


def test_training_windows_never_raise_a_configured_value():
    assert adapt.training_windows(100, 60, 10) == (60, 10, [])


def test_too_short_a_panel_names_the_setting_and_what_is_needed():
    assert adapt.training_windows(183, 126, 21) == (126, 21, [])  # one partial fold's room: as configured
    assert adapt.training_windows(150, 756, 63)[:2] == (126, 21)
    with pytest.raises(ValueError, match=r"training.train_days: the training panel has 126 dates; .*at least 127"):
        adapt.training_windows(126, 756, 63)


def test_an_empty_panel_names_the_universe_rules():
    with pytest.raises(ValueError, match=r"training panel is empty: .*dbt.universe_min_dollar_volume_20d"):
        adapt.training_windows(0, 756, 63)


def test_regime_min_train_steps_down_not_below_the_detector_minimum():
    assert adapt.regime_min_train(504 + 63, 504, 150) == (504, [])
    days, adapted = adapt.regime_min_train(511, 504, 150)
    assert days == 252 and str(adapted[0]) == (
        "regimes.min_train_days 504 -> 252: 511 usable rows of regime features, fewer than min_train_days + 63")
    assert adapt.regime_min_train(300, 504, 150)[0] == 150  # the 3-state detector's minimum
    with pytest.raises(ValueError, match=r"regimes.min_train_days: .* 212 usable rows; .*at least 213"):
        adapt.regime_min_train(212, 504, 150)


@pytest.mark.parametrize(("n_names", "least"), [(500, 10), (20, 10), (12, 6), (8, 5), (3, 5), (0, 5)])
def test_min_book_is_half_the_names_but_not_below_five(n_names, least):
    assert adapt.min_book(n_names, 10)[0] == least
    assert adapt.min_book(n_names, 3) == (3, [])  # a configured value is never raised


@pytest.mark.parametrize(("n_names", "pct"), [(500, 0.2), (60, 0.2), (45, 10 / 45), (20, 0.5), (4, 1.0)])
def test_buy_share_holds_at_least_min_names(n_names, pct):
    assert adapt.buy_share(n_names, 10, 0.2)[0] == pytest.approx(pct)


def _preds(n_names: int, day: str = "2020-01-02") -> pd.DataFrame:
    tickers = [f"T{i:02d}" for i in range(n_names)]
    return pd.DataFrame({"date": pd.Timestamp(day), "ticker": tickers, "yhat": np.linspace(1, 0, n_names)})


def test_a_narrow_universe_buys_min_names_and_a_wide_one_its_top_pct():
    spec = TradingSpec()
    both = pd.concat([_preds(20, "2020-01-02"), _preds(100, "2020-01-03")])
    rows = make_signals(both, pd.Series({pd.Timestamp("2020-01-02"): "risk_on",
                                         pd.Timestamp("2020-01-03"): "risk_on"}), spec)
    buys = rows[rows["signal"] > 0].groupby("date")["ticker"].apply(list)
    assert buys[pd.Timestamp("2020-01-02")] == [f"T{i:02d}" for i in range(10)]
    assert len(buys[pd.Timestamp("2020-01-03")]) == 20  # 0.2 x 100
    alone = make_signals(_preds(20), pd.Series({pd.Timestamp("2020-01-02"): "risk_on"}), spec)
    pd.testing.assert_frame_equal(alone, rows[rows["date"] == pd.Timestamp("2020-01-02")].reset_index(drop=True))


def test_target_weights_on_twenty_names_hold_ten_and_say_why():
    rng = np.random.default_rng(0)
    tickers = [f"T{i:02d}" for i in range(20)]
    returns = pd.DataFrame(rng.normal(0, 0.01, (60, 20)), columns=tickers,
                           index=pd.bdate_range("2020-01-01", periods=60))
    scores = pd.Series(np.linspace(1, 0, 20), index=tickers)
    result = target_weights(scores, [], returns, pd.Series([f"S{i % 5}" for i in range(20)], index=tickers),
                            "risk_on", PortfolioSpec(), eligible=scores >= scores.iloc[9])
    assert result.valid and len(result.weights) == 10
    assert "portfolio.min_names 10 -> 10" not in " ".join(result.notes)
    few = target_weights(scores.iloc[:4], [], returns[tickers[:4]], pd.Series("S0", index=tickers[:4]),
                         "risk_on", PortfolioSpec())
    assert not few.valid and few.reasons == ("4 names < min_names 5",)
    assert "portfolio.min_names 10 -> 5: 4 scored names on the date" in few.notes
