"""Tests for ml.comparison: hand-computed prediction metrics and ensemble ranks, window
boundaries, and the model x optimizer backtest grid on a small synthetic market."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.backtest import performance_summary
from ml.comparison import (
    METRIC_COLUMNS,
    backtest_candidates,
    prediction_metrics,
    rank_ensemble,
    sharpe_matrix,
    window_split,
)
from ml.ingest.synthetic import generate_market
from ml.portfolio import PortfolioSpec
from ml.trades import TradingSpec

D1, D2, D3 = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04")


# --------------------------------------------------------------------------- #
# prediction_metrics
# --------------------------------------------------------------------------- #


def _panel(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "ticker", "yhat", "fwd_excess_return"])


def test_prediction_metrics_hand_computed() -> None:
    panel = _panel([
        # D1: IC = 0.1 / sqrt(2 * 0.02) = 0.5; ranks (1,2,3) vs (1,3,2): rank IC 0.5; signs +++ vs -+0: 1 hit
        (D1, "A", 1.0, -0.1), (D1, "B", 2.0, 0.1), (D1, "C", 3.0, 0.0),
        # D2: perfectly linear: IC = rank IC = 1; signs -0+ vs -0+: 3 hits
        (D2, "A", -1.0, -0.2), (D2, "B", 0.0, 0.0), (D2, "C", 1.0, 0.2),
        # D3: no label yet -> left out
        (D3, "A", 1.0, np.nan), (D3, "B", 2.0, np.nan), (D3, "C", 3.0, np.nan),
    ])
    m = prediction_metrics(panel)
    std = math.sqrt(2 * 0.25**2)  # sample std of (0.5, 1.0)
    assert m["ic"] == pytest.approx(0.75)
    assert m["rank_ic"] == pytest.approx(0.75)
    assert m["icir"] == pytest.approx(0.75 / std)
    assert m["rank_icir"] == pytest.approx(0.75 / std)
    assert m["hit_rate"] == pytest.approx(4 / 6)
    assert m["n_dates"] == 2 and m["n_predictions"] == 6
    assert math.isnan(m["spread_top_bottom"])  # fewer than 10 names a date


def test_prediction_metrics_decile_spread_and_errors() -> None:
    panel = _panel([(D1, f"T{i}", float(i), 0.01 * i) for i in range(10)])
    assert prediction_metrics(panel)["spread_top_bottom"] == pytest.approx(0.09)
    with pytest.raises(ValueError, match="no prediction with both yhat and a known"):
        prediction_metrics(panel.assign(fwd_excess_return=np.nan))
    with pytest.raises(ValueError, match=r"missing columns \['fwd_excess_return'\]"):
        prediction_metrics(panel.drop(columns="fwd_excess_return"))


# --------------------------------------------------------------------------- #
# rank_ensemble
# --------------------------------------------------------------------------- #


def _member(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["date", "ticker", "yhat"])
    key = df["ticker"].map({"X": 1, "Y": 2, "Z": 3}) + 10 * (df["date"] == D2)
    return df.assign(yhat_std=0.1, prob_up=0.5, fold=(df["date"] == D2).astype(int),
                     label_end_date=df["date"].where(df["date"] == D1) + pd.Timedelta(days=7),
                     fwd_return=0.01 * key, fwd_excess_return=0.001 * key)


A = _member([(D1, "X", 0.1), (D1, "Y", 0.3), (D1, "Z", 0.2), (D2, "X", 1.0), (D2, "Y", 1.0)])
B = _member([(D1, "X", 5.0), (D1, "Y", 1.0), (D2, "X", np.nan), (D2, "Y", 2.0)])


def test_rank_ensemble_means_the_members_ranks_over_those_that_scored() -> None:
    out = rank_ensemble({"a": A, "b": B, "unused": B}, ["a", "b"])
    assert out[["date", "ticker"]].values.tolist() == [[D1, "X"], [D1, "Y"], [D1, "Z"], [D2, "X"], [D2, "Y"]]
    # D1: a ranks X,Y,Z = 1/3, 1, 2/3; b ranks X,Y = 1, 1/2; Z only in a.
    # D2: a ties X,Y at 0.75; b has no yhat for X and ranks Y = 1.
    assert out["yhat"].tolist() == pytest.approx([2 / 3, 0.75, 2 / 3, 0.75, 0.875])
    assert out["n_members"].tolist() == [2, 2, 1, 1, 2]
    assert out["yhat_std"].isna().all() and out["prob_up"].isna().all()
    expected = A.set_index(["date", "ticker"])[["fold", "label_end_date", "fwd_return", "fwd_excess_return"]]
    pd.testing.assert_frame_equal(out.set_index(["date", "ticker"])[expected.columns], expected)
    assert out["label_end_date"].isna().tolist() == [False, False, False, True, True]


def test_rank_ensemble_errors() -> None:
    with pytest.raises(ValueError, match="disagree on 'fwd_excess_return'"):
        rank_ensemble({"a": A, "b": B.assign(fwd_excess_return=B["fwd_excess_return"] + [0, 0, 0, 1e-9])},
                      ["a", "b"])
    with pytest.raises(ValueError, match="disagree on 'label_end_date'"):
        rank_ensemble({"a": A, "b": B.assign(label_end_date=pd.NaT)}, ["a", "b"])
    with pytest.raises(ValueError, match="at least two distinct"):
        rank_ensemble({"a": A}, ["a"])
    with pytest.raises(ValueError, match="at least two distinct"):
        rank_ensemble({"a": A, "b": B}, ["a", "a"])
    with pytest.raises(ValueError, match=r"members \['c'\] not in"):
        rank_ensemble({"a": A, "b": B}, ["a", "c"])
    with pytest.raises(ValueError, match=r"'b' is missing columns \['fold'\]"):
        rank_ensemble({"a": A, "b": B.drop(columns="fold")}, ["a", "b"])
    with pytest.raises(ValueError, match="'b' have duplicated"):
        rank_ensemble({"a": A, "b": pd.concat([B, B.iloc[:1]])}, ["a", "b"])


# --------------------------------------------------------------------------- #
# window_split
# --------------------------------------------------------------------------- #


def test_window_split_boundaries_and_errors() -> None:
    days = pd.bdate_range("2024-01-01", periods=10)
    repeated = pd.Series(np.repeat(days, 3)).sample(frac=1.0, random_state=0)  # unsorted, with repeats
    assert window_split(repeated, 3, min_validation_days=7) == days[7]
    assert window_split(days, 1, min_validation_days=9) == days[9]
    with pytest.raises(ValueError, match="10 distinct dates are too few for final_days=3 plus min_validation_days=8"):
        window_split(repeated, 3, min_validation_days=8)
    with pytest.raises(ValueError, match="too few"):
        window_split(days, 3)  # the default 126 validation days
    with pytest.raises(ValueError, match="final_days must be >= 1, got final_days=0"):
        window_split(days, 0)
    with pytest.raises(TypeError, match="final_days must be an integer, got True"):
        window_split(days, True)
    with pytest.raises(ValueError, match="missing values"):
        window_split([days[0], None], 1, min_validation_days=1)


# --------------------------------------------------------------------------- #
# backtest_candidates
# --------------------------------------------------------------------------- #

SPEC = TradingSpec(
    top_pct=0.25, portfolio=PortfolioSpec(top_n=3, max_replace=3, min_names=2, max_weight=0.5,
                                          max_sector=1.0, cov_window=20, min_history=10),
    max_turnover=1.0, max_trade_share=1.0, sharpe_window_days=1000)
OPTIMIZERS = ["equal_weight", "inverse_vol"]


@pytest.fixture(scope="module")
def universe() -> dict:
    """12 tickers, 101 days (70 decisions); a model that knows the next open-to-open return and a random one."""
    m = generate_market(n_tickers=12, n_years=0.4, seed=7)
    prices = m.prices.sort_values(["ticker", "date"]).reset_index(drop=True)
    prices["adv_20d_shares"] = prices.groupby("ticker")["volume"].transform(
        lambda v: v.rolling(20, min_periods=1).mean())
    opens = prices.pivot(index="date", columns="ticker", values="open")
    # a row of date s earns open(s+1) -> open(s+2): the perfect foresight yhat
    future = (opens.shift(-2) / opens.shift(-1) - 1).stack().rename("yhat").reset_index()
    decisions = opens.index[25:95]
    perfect = future[future["date"].isin(decisions)].reset_index(drop=True)
    rng = np.random.default_rng(11)
    noise = perfect.assign(yhat=rng.normal(size=len(perfect)))
    extra = noise[noise["date"] == decisions[-1]].assign(date=opens.index[96])  # not in `perfect`
    regimes = pd.Series(np.array(["risk_on", "neutral", "risk_off"])[(np.arange(len(opens)) // 15) % 3],
                        index=opens.index)
    gspc = m.macro[m.macro["series"] == "^GSPC"].set_index("date")["value"]
    return {"preds": {"perfect": perfect, "random": pd.concat([noise, extra], ignore_index=True)},
            "prices": prices, "regimes": regimes, "sectors": m.sectors.set_index("ticker")["sector"],
            "index_close": gspc, "decisions": decisions,
            "final_start": window_split(decisions, 20, min_validation_days=40)}


@pytest.fixture(scope="module")
def comparison(universe):
    u = universe
    return backtest_candidates(u["preds"], OPTIMIZERS, u["prices"], u["regimes"], u["sectors"], SPEC,
                               index_close=u["index_close"], final_start=u["final_start"])


def test_grid_has_one_row_per_model_optimizer_window(comparison) -> None:
    t = comparison.table
    assert t[["model", "optimizer", "window"]].values.tolist() == [
        [m, o, w] for m in ("perfect", "random") for o in OPTIMIZERS for w in ("validation", "final")]
    assert list(t.columns) == ["model", "optimizer", "window", *METRIC_COLUMNS, "elapsed_s"]
    assert t[[*METRIC_COLUMNS]].drop(columns=["calmar", "sharpe_neutral"]).notna().all().all()
    assert (t["elapsed_s"] > 0).all()
    assert any("random: 1 of 71 prediction dates left out" in n for n in comparison.notes)


def test_every_candidate_is_backtested_on_the_same_dates_split_exactly(comparison, universe) -> None:
    r, fs = comparison.returns, comparison.final_start
    per_combo = r.groupby(["model", "optimizer"])["date"].apply(lambda d: tuple(sorted(d)))
    assert per_combo.nunique() == 1 and len(per_combo) == 4
    decided = list(per_combo.iloc[0])
    assert decided == list(universe["decisions"])  # the extra date of `random` is not common
    assert fs == universe["decisions"][-20]
    assert (r.loc[r["window"] == "validation", "date"] < fs).all()
    assert (r.loc[r["window"] == "final", "date"] >= fs).all()
    n = comparison.table.pivot_table(index=["model", "optimizer"], columns="window", values="n_days")
    assert (n["validation"] == len(decided) - 20).all() and (n["final"] == 20).all()
    assert (n["validation"] + n["final"] == len(decided)).all()
    b = comparison.benchmarks
    assert b[["benchmark", "window", "n_days"]].values.tolist() == [
        ["equal_weight_universe", "validation", 50], ["equal_weight_universe", "final", 20],
        ["gspc", "validation", 50], ["gspc", "final", 20]]
    assert len(comparison.benchmark_returns) == 2 * len(decided)


def test_metrics_are_those_of_each_windows_own_returns(comparison) -> None:
    r = comparison.returns
    for row in comparison.table.itertuples():
        part = r[(r["model"] == row.model) & (r["optimizer"] == row.optimizer) & (r["window"] == row.window)]
        s = performance_summary(part.set_index("date")["net_return"])
        assert row.sharpe == pytest.approx(s["sharpe"])
        assert row.cagr == pytest.approx(s["cagr"])
        assert row.max_drawdown == pytest.approx(s["max_drawdown"])
        assert row.win_rate == pytest.approx((part["net_return"] > 0).mean())


def test_foresight_beats_noise_and_the_sharpe_matrix(comparison) -> None:
    m = sharpe_matrix(comparison.table)
    assert m.shape == (2, 2) and list(m.index) == ["perfect", "random"] and list(m.columns) == OPTIMIZERS
    assert (m.loc["perfect"] > m.loc["random"] + 1.0).all()
    t = comparison.table.set_index(["model", "optimizer", "window"])
    assert m.loc["random", "inverse_vol"] == t.loc[("random", "inverse_vol", "validation"), "sharpe"]
    assert sharpe_matrix(comparison.table, "final").loc["perfect", "equal_weight"] == \
        t.loc[("perfect", "equal_weight", "final"), "sharpe"]
    with pytest.raises(ValueError, match="no row for window='test'"):
        sharpe_matrix(comparison.table, "test")


def test_parallel_run_gives_identical_results(comparison, universe) -> None:
    u = universe
    lines: list[str] = []
    par = backtest_candidates(u["preds"], OPTIMIZERS, u["prices"], u["regimes"], u["sectors"], SPEC,
                              index_close=u["index_close"], final_start=u["final_start"], n_jobs=2,
                              log=lines.append)
    assert [line.split(":")[0] for line in lines] == [  # in combo order, as they finish
        "backtest 1/4 perfect x equal_weight", "backtest 2/4 perfect x inverse_vol",
        "backtest 3/4 random x equal_weight", "backtest 4/4 random x inverse_vol"]
    pd.testing.assert_frame_equal(par.table.drop(columns="elapsed_s"),
                                  comparison.table.drop(columns="elapsed_s"))
    pd.testing.assert_frame_equal(par.returns, comparison.returns)
    pd.testing.assert_frame_equal(par.benchmarks, comparison.benchmarks)
    assert par.notes == comparison.notes


def test_backtest_candidates_errors(universe) -> None:
    u = universe
    args = (u["prices"], u["regimes"], u["sectors"], SPEC)
    with pytest.raises(ValueError, match="optimizers must be distinct names"):
        backtest_candidates(u["preds"], ["equal_weight", "magic"], *args)
    with pytest.raises(ValueError, match="optimizers must be distinct names"):
        backtest_candidates(u["preds"], ["inverse_vol", "inverse_vol"], *args)
    with pytest.raises(ValueError, match="n_jobs must be a non-zero integer"):
        backtest_candidates(u["preds"], OPTIMIZERS, *args, n_jobs=0)
    with pytest.raises(ValueError, match="predictions_by_model is empty"):
        backtest_candidates({}, OPTIMIZERS, *args)
    with pytest.raises(ValueError, match=r"'perfect' is missing columns \['yhat'\]"):
        backtest_candidates({"perfect": u["preds"]["perfect"].drop(columns="yhat")}, OPTIMIZERS, *args)
    late = u["preds"]["perfect"].assign(date=lambda d: d["date"] + pd.Timedelta(days=1000))
    with pytest.raises(ValueError, match="no prediction date in common"):
        backtest_candidates({"a": u["preds"]["perfect"], "b": late}, OPTIMIZERS, *args)
    with pytest.raises(ValueError, match="final_start=2030-01-01 leaves a window empty"):
        backtest_candidates(u["preds"], OPTIMIZERS, *args, final_start="2030-01-01")


def test_covariance_optimizers_start_first_and_the_results_keep_their_order(universe) -> None:
    u = universe
    runs = {}
    for n_jobs in (1, 2):
        lines: list[str] = []
        runs[n_jobs] = backtest_candidates(u["preds"], ["equal_weight", "min_variance"], u["prices"], u["regimes"],
                                           u["sectors"], SPEC, index_close=u["index_close"],
                                           final_start=u["final_start"], n_jobs=n_jobs, log=lines.append)
        assert [line.split(":")[0] for line in lines] == [
            "backtest 1/4 perfect x min_variance", "backtest 2/4 random x min_variance",
            "backtest 3/4 perfect x equal_weight", "backtest 4/4 random x equal_weight"]
    assert runs[1].table[["model", "optimizer"]].drop_duplicates().values.tolist() == [
        ["perfect", "equal_weight"], ["perfect", "min_variance"], ["random", "equal_weight"], ["random", "min_variance"]]
    pd.testing.assert_frame_equal(runs[2].table.drop(columns="elapsed_s"), runs[1].table.drop(columns="elapsed_s"))
    pd.testing.assert_frame_equal(runs[2].returns, runs[1].returns)
