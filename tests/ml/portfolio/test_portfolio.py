"""Tests for ml.portfolio: hand-computed cases, every error path, seeded property checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ml.portfolio import (
    DEFAULT_EXPOSURE,
    OPTIMIZERS,
    PortfolioSpec,
    Selection,
    apply_caps,
    optimize_weights,
    select_names,
    target_weights,
)


def _s(**kw: float) -> pd.Series:
    return pd.Series(kw, dtype=float)


def _returns(n_days: int, tickers: list[str], seed: int = 0,
             vols: list[float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = np.asarray(vols if vols is not None else [0.01] * len(tickers))
    return pd.DataFrame(rng.normal(0.0, 1.0, (n_days, len(tickers))) * scale, columns=tickers,
                        index=pd.bdate_range("2024-01-01", periods=n_days))


def _check_caps(w: pd.Series, sectors: pd.Series, max_weight: float, max_sector: float,
                total: float) -> None:
    assert (w >= 0).all()
    assert w.sum() <= total + 1e-9
    assert (w <= max_weight + 1e-9).all()
    assert (w.groupby(sectors.reindex(w.index)).sum() <= max_sector + 1e-9).all()


# ---------------------------------------------------------------- select_names


def test_empty_book_takes_the_top_n_best() -> None:
    sel = select_names(_s(A=0.1, B=0.5, C=0.3, D=0.9, E=np.nan), [], top_n=3, max_replace=1)
    assert sel == Selection(names=["B", "C", "D"], kept=[], added=["B", "C", "D"],
                            dropped=[], forced_exits=[])


@pytest.mark.parametrize(("max_replace", "names", "dropped"), [
    (0, ["A", "B", "C"], []),
    (1, ["B", "C", "D"], ["A"]),
    (2, ["C", "D", "E"], ["A", "B"]),
])
def test_at_most_max_replace_held_names_are_replaced(max_replace: int, names: list[str],
                                                     dropped: list[str]) -> None:
    # every candidate beats every held name, yet only max_replace are swapped per day
    scores = _s(A=0.1, B=0.2, C=0.3, D=0.9, E=0.8, F=0.7)
    sel = select_names(scores, ["A", "B", "C"], top_n=3, max_replace=max_replace)
    assert sel.names == names
    assert sel.dropped == dropped
    assert len(sel.added) == len(dropped)


def test_held_name_is_not_sold_for_a_worse_candidate() -> None:
    # the tail of comb (held + today's best) is the candidate E, so nothing is sold
    sel = select_names(_s(A=0.9, B=0.5, C=0.4, E=0.3), ["A", "B", "C"], top_n=3, max_replace=1)
    assert (sel.names, sel.dropped, sel.added) == (["A", "B", "C"], [], [])


def test_forced_exit_is_not_counted_in_max_replace() -> None:
    # A (held) has no score, Z (held) is not in scores at all: both forced out; C is
    # still sold on rank with max_replace=1, and three names are bought back
    scores = _s(A=np.nan, B=0.5, C=0.1, D=0.9, E=0.8, F=0.7)
    sel = select_names(scores, ["A", "B", "C", "Z"], top_n=4, max_replace=1)
    assert sel.forced_exits == ["A", "Z"]
    assert sel.dropped == ["C"]
    assert sel.kept == ["B"]
    assert sel.added == ["D", "E", "F"]
    assert sel.names == ["B", "D", "E", "F"]


def test_scarce_candidates_never_sell_a_held_name_ranked_in_the_top_n() -> None:
    # comb = [D, A, B] is shorter than top_n + max_replace = 5; Qlib would sell B
    # (its last place) and buy nothing better; here the book simply fills up
    sel = select_names(_s(A=0.5, B=0.2, D=0.9), ["A", "B"], top_n=4, max_replace=1)
    assert (sel.names, sel.dropped, sel.added) == (["A", "B", "D"], [], ["D"])


def test_ineligible_candidates_are_never_bought_but_held_ones_are_kept() -> None:
    scores = _s(A=0.2, B=0.9, C=0.8, D=0.7, E=0.1)
    # B ineligible (False), C has NaN, E is missing from eligible: only D may be bought
    eligible = pd.Series({"A": False, "B": False, "C": np.nan, "D": True}, dtype=object)
    sel = select_names(scores, ["A"], top_n=3, max_replace=1, eligible=eligible)
    assert sel.names == ["A", "D"]
    assert sel.kept == ["A"]  # held but ineligible: still kept
    assert not {"B", "C", "E"} & set(sel.names)


def test_ties_are_broken_by_ticker() -> None:
    scores = _s(D=0.5, B=0.5, C=0.5, A=0.5)
    assert select_names(scores, [], top_n=2, max_replace=0).names == ["A", "B"]
    # a held name tied with a candidate ranks after it when its ticker is larger
    sel = select_names(_s(A=0.5, C=0.5), ["C"], top_n=1, max_replace=1)
    assert (sel.names, sel.dropped) == (["A"], ["C"])
    shuffled = scores.sample(frac=1.0, random_state=3)
    assert select_names(shuffled, [], top_n=2, max_replace=0).names == ["A", "B"]


def test_more_held_than_top_n_is_trimmed_to_top_n() -> None:
    scores = _s(A=0.5, B=0.4, C=0.3, D=0.2, E=0.1, F=0.9)
    sel = select_names(scores, list("ABCDE"), top_n=2, max_replace=1)
    assert sel.names == ["A", "B"]
    assert sel.dropped == ["C", "D", "E"]
    assert sel.added == []


def test_select_names_matches_qlib_topk_dropout() -> None:
    """Against a literal port of qlib's TopkDropoutStrategy (no ties, no forced exits)."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(5, 40))
        tickers = [f"T{i:02d}" for i in range(n)]
        scores = pd.Series(rng.normal(size=n), index=tickers)
        n_drop = int(rng.integers(1, 6))
        top_n = int(rng.integers(1, n - n_drop + 1))  # enough candidates: see the next test
        held = list(rng.choice(tickers, size=int(rng.integers(0, top_n + 1)), replace=False))
        last = scores.reindex(held).sort_values(ascending=False).index
        rest = scores[~scores.index.isin(last)].sort_values(ascending=False).index
        today = list(rest)[: n_drop + top_n - len(last)]
        comb = scores.reindex(last.union(pd.Index(today))).sort_values(ascending=False).index
        sell = last[last.isin(list(comb)[-n_drop:])]
        buy = today[: len(sell) + top_n - len(last)]
        expected = sorted((set(last) - set(sell)) | set(buy))
        sel = select_names(scores, held, top_n, n_drop)
        assert sel.names == expected
        assert sel.dropped == sorted(sell)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"top_n": 0}, r"top_n must be >= 1, got top_n=0"),
    ({"max_replace": -1}, r"max_replace must be >= 0, got max_replace=-1"),
    ({"held": "ABC"}, r"held must be an iterable of tickers, not the string 'ABC'"),
    ({"scores": pd.Series([0.1, 0.2], index=["A", "A"])}, r"duplicate tickers: \['A'\]"),
    ({"scores": _s(A=np.inf, B=0.1)}, r"inf for \{'A': inf\}"),
    ({"eligible": pd.Series({"A": 1})}, r"eligible must hold booleans; got \{'A': 1\}"),
])
def test_select_names_errors(kwargs: dict, match: str) -> None:
    args = {"scores": _s(A=0.1, B=0.2), "held": [], "top_n": 1, "max_replace": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        select_names(**args)


def test_non_integer_counts_raise_type_errors() -> None:
    args = {"scores": _s(A=0.1, B=0.2), "held": [], "top_n": 2.5, "max_replace": 1}
    with pytest.raises(TypeError, match=r"top_n must be an integer, got 2.5"):
        select_names(**args)
    with pytest.raises(TypeError, match=r"top_n must be an integer, got True"):
        PortfolioSpec(top_n=True)


# ------------------------------------------------------------ optimize_weights


def test_equal_weight() -> None:
    w = optimize_weights(_returns(10, list("DCBA")), "equal_weight")
    assert w.index.tolist() == list("DCBA")
    assert w.tolist() == [0.25] * 4


def test_inverse_vol_exact() -> None:
    # std(A) = s, std(B) = 2s (ddof=1); C has no data and D is flat: both get the
    # median of the others' vol, 1.5s. 1/vol = 1, 1/2, 2/3, 2/3 -> / (17/6)
    a = [0.01, -0.01, 0.01, -0.01]
    rets = pd.DataFrame({"A": a, "B": [2 * x for x in a], "C": [np.nan] * 4, "D": [0.003] * 4})
    w = optimize_weights(rets, "inverse_vol")
    assert w.to_numpy() == pytest.approx(np.array([6, 3, 4, 4]) / 17, abs=1e-15)
    # NaN-aware: a missing day does not change a std computed on the rest
    rets.loc[0, "B"] = np.nan
    b_std = pd.Series([2 * x for x in a[1:]]).std(ddof=1)
    w = optimize_weights(rets[["A", "B"]], "inverse_vol")
    inv = np.array([1 / pd.Series(a).std(ddof=1), 1 / b_std])
    assert w.to_numpy() == pytest.approx(inv / inv.sum(), abs=1e-15)


@pytest.mark.parametrize("optimizer", ["hrp", "min_variance"])
def test_skfolio_optimizers_are_long_only_budget_one(optimizer: str) -> None:
    tickers = list("ABCDEF")
    rets = _returns(126, tickers, seed=1, vols=[0.01, 0.01, 0.012, 0.009, 0.011, 0.05])
    rets.iloc[:30, 2] = np.nan  # NaN allowed (filled with 0)
    w = optimize_weights(rets, optimizer)
    assert w.index.tolist() == tickers
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w >= 0).all()
    assert w["F"] < 1 / 6  # the high-vol name gets less than equal weight


def test_min_variance_underweights_the_high_vol_name() -> None:
    rets = _returns(126, list("ABCDE"), seed=2, vols=[0.01, 0.01, 0.01, 0.01, 0.04])
    w = optimize_weights(rets, "min_variance")
    assert w["E"] < 0.5 * (1 / 5)
    assert w.drop("E").min() > 0.15


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_one_name_gets_everything(optimizer: str) -> None:
    w = optimize_weights(_returns(50, ["A"]), optimizer)
    assert w.to_dict() == {"A": 1.0}


@pytest.mark.parametrize("optimizer", ["hrp", "min_variance"])
def test_flat_name_gets_the_median_weight(optimizer: str) -> None:
    rets = _returns(126, list("ABCD"), seed=3)
    rets["E"] = np.nan  # no data at all: zero variance once filled
    w = optimize_weights(rets, optimizer)
    core = optimize_weights(rets[list("ABCD")], optimizer)
    assert w["E"] == pytest.approx(core.median() / (1 + core.median()), rel=1e-9)
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("returns", "optimizer", "match"), [
    (_returns(5, ["A"]), "max_sharpe",
     r"unknown optimizer 'max_sharpe'; valid optimizers are \['equal_weight', 'inverse_vol', "
     r"'hrp', 'min_variance'\]"),
    (pd.DataFrame(index=range(3)), "hrp", r"returns has no columns"),
    (pd.DataFrame([[0.1, 0.2]], columns=["A", "A"]), "hrp", r"duplicate tickers: \['A'\]"),
    (pd.DataFrame({"A": [0.1, np.inf], "B": [0.0, 0.1]}), "inverse_vol",
     r"returns contain inf for tickers \['A'\]"),
])
def test_optimize_weights_errors(returns: pd.DataFrame, optimizer: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        optimize_weights(returns, optimizer)


# ------------------------------------------------------------------ apply_caps


def test_name_cap_redistributes_proportionally() -> None:
    w = apply_caps(_s(A=0.5, B=0.3, C=0.2), pd.Series({"A": "x", "B": "y", "C": "z"}), 0.4, 1.0)
    assert w.to_numpy() == pytest.approx([0.4, 0.36, 0.24], abs=1e-15)


def test_sector_cap_exact() -> None:
    # sector X (A, B) = 0.6 -> scaled by 0.5/0.6: A 1/3, B 1/6; the 0.1 removed goes to
    # C and D in proportion 0.25 : 0.15 -> 0.3125, 0.1875 (sector Y = 0.5, at its cap)
    sectors = pd.Series({"A": "X", "B": "X", "C": "Y", "D": "Y"})
    w = apply_caps(_s(A=0.4, B=0.2, C=0.25, D=0.15), sectors, 1.0, 0.5)
    assert w.to_numpy() == pytest.approx([1 / 3, 1 / 6, 0.3125, 0.1875], abs=1e-15)


def test_name_and_sector_caps_cascade() -> None:
    # A capped at 0.3 (+0.1 to B, C, D: B 0.3333 breaks its cap too), then sector X
    # (A, B) capped at 0.5; everything left goes to C and D (sector Y), which hits 0.5
    sectors = pd.Series({"A": "X", "B": "X", "C": "Y", "D": "Y"})
    w = apply_caps(_s(A=0.4, B=0.3, C=0.2, D=0.1), sectors, 0.3, 0.5)
    _check_caps(w, sectors, 0.3, 0.5, 1.0)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w[["A", "B"]].sum() == pytest.approx(0.5, abs=1e-12)
    assert w["C"] == pytest.approx(0.3, abs=1e-12) and w["D"] == pytest.approx(0.2, abs=1e-12)


def test_infeasible_caps_leave_cash() -> None:
    sectors = pd.Series({"A": "x", "B": "y", "C": "z"})
    w = apply_caps(_s(A=0.5, B=0.3, C=0.2), sectors, 0.25, 1.0)
    assert w.tolist() == [0.25, 0.25, 0.25]
    # two sectors capped at 0.3 can hold 0.6 at most
    two = pd.Series({"A": "x", "B": "x", "C": "y"})
    w = apply_caps(_s(A=0.5, B=0.3, C=0.2), two, 1.0, 0.3)
    assert w.to_numpy() == pytest.approx([0.1875, 0.1125, 0.3], abs=1e-15)
    assert w.sum() == pytest.approx(0.6, abs=1e-15)


def test_caps_keep_the_input_total_zero_weights_and_are_order_free() -> None:
    sectors = pd.Series({"A": "x", "B": "y", "C": "z", "D": "z"})
    w = apply_caps(_s(A=0.3, B=0.1, C=0.0, D=0.1), sectors, 0.2, 1.0)
    assert w.to_dict() == pytest.approx({"A": 0.2, "B": 0.15, "C": 0.0, "D": 0.15}, abs=1e-15)
    rng = np.random.default_rng(4)
    raw = pd.Series(rng.dirichlet(np.ones(12)), index=[f"T{i}" for i in range(12)])
    sec = pd.Series([f"S{i % 3}" for i in range(12)], index=raw.index)
    a = apply_caps(raw, sec, 0.12, 0.4)
    b = apply_caps(raw.iloc[::-1], sec.sample(frac=1.0, random_state=1), 0.12, 0.4)
    pd.testing.assert_series_equal(a, b.reindex(a.index), atol=1e-15, rtol=0)


@pytest.mark.parametrize(("weights", "sectors", "caps", "match"), [
    (_s(A=0.5, B=0.5, C=0.1), pd.Series({"A": "x", "B": np.nan}), (0.5, 1.0),
     r"no sector for tickers \['B', 'C'\]"),
    (_s(A=0.5, B=-0.1), pd.Series({"A": "x", "B": "x"}), (0.5, 1.0),
     r"weights must be finite and >= 0 \(long only\); bad: \{'B': -0.1\}"),
    (_s(A=np.nan), pd.Series({"A": "x"}), (0.5, 1.0), r"bad: \{'A': nan\}"),
    (pd.Series([0.1, 0.2], index=["A", "A"]), pd.Series({"A": "x"}), (0.5, 1.0),
     r"weights has duplicate tickers: \['A'\]"),
    (_s(A=0.5), pd.Series(["x", "y"], index=["A", "A"]), (0.5, 1.0),
     r"sectors has duplicate tickers: \['A'\]"),
    (_s(A=0.5), pd.Series({"A": "x"}), (0.0, 1.0), r"max_weight must be in \(0, 1\], got 0.0"),
    (_s(A=0.5), pd.Series({"A": "x"}), (0.5, 1.5), r"max_sector must be in \(0, 1\], got 1.5"),
])
def test_apply_caps_errors(weights: pd.Series, sectors: pd.Series, caps: tuple[float, float],
                           match: str) -> None:
    with pytest.raises(ValueError, match=match):
        apply_caps(weights, sectors, *caps)


# --------------------------------------------------------------- target_weights

TICKERS = [f"T{i:02d}" for i in range(12)]
SECTORS = pd.Series([f"S{i % 4}" for i in range(12)], index=TICKERS)
RETURNS = _returns(150, TICKERS, seed=5)
SCORES = pd.Series(np.linspace(1.0, 0.0, 12), index=TICKERS)
LOOSE = dict(top_n=10, min_names=5, max_weight=0.2, max_sector=0.5)  # caps never bind at 1/10


@pytest.mark.parametrize(("regime", "total"), [("risk_on", 1.0), ("neutral", 0.8),
                                               ("risk_off", 0.5)])
def test_regime_scales_gross_exposure(regime: str, total: float) -> None:
    res = target_weights(SCORES, [], RETURNS, SECTORS, regime, PortfolioSpec(**LOOSE))
    assert res.valid and res.reasons == ()
    assert res.weights.sum() == pytest.approx(total, abs=1e-12)
    assert res.cash == pytest.approx(1.0 - total, abs=1e-12)
    assert res.exposure == total and res.regime == regime
    assert res.weights.index.tolist() == TICKERS[:10]  # the 10 best, sorted by ticker


@pytest.mark.parametrize(("regime", "match"), [
    (None, r"no regime for the date 2024-07-26 00:00:00: regime is None; "
           r"expected one of \['neutral', 'risk_off', 'risk_on'\]"),
    ("boom", r"unknown regime 'boom' for the date .*; valid labels are \['neutral', "),
])
def test_missing_or_unknown_regime_raises(regime: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        target_weights(SCORES, [], RETURNS, SECTORS, regime, PortfolioSpec())


def test_custom_exposure_map() -> None:
    spec = PortfolioSpec(**LOOSE, exposure={"risk_on": 0.9, "neutral": 0.6, "risk_off": 0.0})
    res = target_weights(SCORES, [], RETURNS, SECTORS, "risk_off", spec)
    assert res.weights.empty and res.cash == 1.0 and res.exposure == 0.0
    assert len(res.selection.names) == 10 and res.valid


def test_no_scored_names_is_invalid_not_an_error() -> None:
    scores = pd.Series(np.nan, index=TICKERS)
    res = target_weights(scores, ["T01"], RETURNS, SECTORS, "neutral", PortfolioSpec())
    assert not res.valid
    assert res.reasons == ("no scored names",)
    assert res.weights.empty and res.cash == 1.0
    assert res.selection.forced_exits == ["T01"]
    empty = target_weights(pd.Series(dtype=float), [], RETURNS, SECTORS, "neutral",
                           PortfolioSpec())
    assert empty.reasons == ("no scored names",) and empty.weights.empty


def test_too_few_names_is_invalid_with_a_reason() -> None:
    scores = SCORES.where(SCORES.index.isin(TICKERS[:3]))
    res = target_weights(scores, [], RETURNS, SECTORS, "risk_on", PortfolioSpec(**LOOSE))
    assert not res.valid
    assert res.reasons == ("3 names < min_names 5",)
    assert res.weights.index.tolist() == TICKERS[:3]  # still filled in, capped
    assert (res.weights <= 0.2 + 1e-12).all() and res.cash == pytest.approx(0.4)


def test_short_history_cannot_be_bought_but_can_be_kept() -> None:
    rets = RETURNS.copy()
    rets.iloc[:-30, [0, 1]] = np.nan  # T00 and T01 (the best scores): 30 < 40 returns
    res = target_weights(SCORES, ["T01"], rets, SECTORS, "risk_on", PortfolioSpec(**LOOSE))
    assert "T00" not in res.selection.names
    assert "T01" in res.selection.kept
    assert any("kept with < 40 returns" in n and "T01" in n for n in res.notes)


def test_only_the_last_cov_window_rows_are_used() -> None:
    spec = PortfolioSpec(**LOOSE, optimizer="inverse_vol", cov_window=60)
    base = target_weights(SCORES, [], RETURNS, SECTORS, "risk_on", spec)
    changed = RETURNS.copy()
    changed.iloc[:-60] = changed.iloc[:-60] * 5.0
    again = target_weights(SCORES, [], changed, SECTORS, "risk_on", spec)
    pd.testing.assert_series_equal(base.weights, again.weights, check_exact=True)


def test_eligible_restricts_buying() -> None:
    eligible = pd.Series(True, index=TICKERS).where(~SCORES.index.isin(["T00"]), False)
    res = target_weights(SCORES, [], RETURNS, SECTORS, "risk_on", PortfolioSpec(**LOOSE),
                         eligible=eligible)
    assert res.selection.names == TICKERS[1:11]


def test_min_variance_uses_native_caps_or_falls_back_with_a_note() -> None:
    vols = [0.005] * 3 + [0.02] * 9  # the low-vol names all sit in sectors S0..S2
    rets = _returns(130, TICKERS, seed=6, vols=vols)
    spec = PortfolioSpec(optimizer="min_variance", top_n=12, min_names=5, max_weight=0.15,
                         max_sector=0.3)
    res = target_weights(SCORES, [], rets, SECTORS, "risk_on", spec)
    _check_caps(res.weights, SECTORS, 0.15, 0.3, 1.0)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert not any("infeasible" in n for n in res.notes)
    # 4 names in 2 sectors can hold 2 * 0.3 = 0.6 < 1: the solver cannot take the caps
    few = SCORES.where(SCORES.index.isin(["T00", "T01", "T04", "T05"]))
    res = target_weights(few, [], rets, SECTORS, "risk_on", dataclasses.replace(spec, min_names=1))
    assert any("min_variance: caps infeasible" in n for n in res.notes)
    _check_caps(res.weights, SECTORS, 0.15, 0.3, 1.0)
    assert res.cash == pytest.approx(0.4, abs=1e-9)
    assert any("caps left 0.4000" in n for n in res.notes)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_deterministic(optimizer: str) -> None:
    spec = PortfolioSpec(optimizer=optimizer, top_n=8, min_names=2, max_weight=0.2)
    held = ["T03", "T11", "T07"]
    first = target_weights(SCORES, held, RETURNS, SECTORS, "neutral", spec)
    second = target_weights(SCORES.copy(), list(reversed(held)), RETURNS.copy(), SECTORS,
                            "neutral", spec)
    pd.testing.assert_series_equal(first.weights, second.weights, check_exact=True)
    assert first.selection == second.selection and first.notes == second.notes


@pytest.mark.parametrize(("change", "match"), [
    ({"returns": RETURNS.iloc[::-1]}, r"returns index must be unique, increasing dates"),
    ({"sectors": SECTORS.drop(["T02", "T05"])}, r"no sector for tickers \['T02', 'T05'\]"),
    ({"spec": "equal_weight"}, r"spec must be a PortfolioSpec, got str"),
])
def test_target_weights_errors(change: dict, match: str) -> None:
    args = {"scores": SCORES, "held": [], "returns": RETURNS, "sectors": SECTORS,
            "regime": "risk_on", "spec": PortfolioSpec(**LOOSE)} | change
    with pytest.raises(ValueError, match=match):
        target_weights(**args)


# ---------------------------------------------------------------- PortfolioSpec


def test_spec_defaults() -> None:
    spec = PortfolioSpec()
    assert spec.exposure == DEFAULT_EXPOSURE == {"risk_on": 1.0, "neutral": 0.8, "risk_off": 0.5}
    assert dataclasses.asdict(spec)["exposure"] == dict(DEFAULT_EXPOSURE)
    assert hash(spec) == hash(PortfolioSpec())
    mine = {"risk_on": 1.0, "neutral": 0.5, "risk_off": 0.0}
    spec = PortfolioSpec(exposure=mine)
    mine["risk_on"] = 0.1  # the spec keeps its own copy
    assert spec.exposure["risk_on"] == 1.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"optimizer": "mvo"}, r"unknown optimizer 'mvo'; valid optimizers are \['equal_weight', "),
    ({"top_n": 0}, r"top_n must be >= 1, got top_n=0"),
    ({"max_replace": -1}, r"max_replace must be >= 0, got max_replace=-1"),
    ({"max_weight": 0.0}, r"max_weight must be in \(0, 1\], got 0.0"),
    ({"max_weight": 1.1}, r"max_weight must be in \(0, 1\], got 1.1"),
    ({"max_sector": np.nan}, r"max_sector must be in \(0, 1\], got nan"),
    ({"min_names": 0}, r"min_names must be >= 1, got min_names=0"),
    ({"min_names": 21}, r"min_names \(21\) must be <= top_n \(20\)"),
    ({"cov_window": 1}, r"cov_window must be >= 2, got cov_window=1"),
    ({"min_history": 1}, r"min_history must be >= 2, got min_history=1"),
    ({"min_history": 130}, r"min_history \(130\) must be <= cov_window \(126\)"),
    ({"exposure": {"risk_on": 1.0, "neutral": 0.8}},
     r"exactly the keys \['neutral', 'risk_off', 'risk_on'\]; missing \['risk_off'\]"),
    ({"exposure": {"risk_on": 1.0, "neutral": 0.8, "risk_off": 0.5, "crash": 0.0}},
     r"unexpected \['crash'\]"),
    ({"exposure": {"risk_on": 1.2, "neutral": 0.8, "risk_off": -0.1}},
     r"exposure values must be in \[0, 1\]; bad: \{'risk_on': 1.2, 'risk_off': -0.1\}"),
    ({"exposure": [1.0, 0.8, 0.5]}, r"exposure must be a mapping regime -> exposure"),
])
def test_spec_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PortfolioSpec(**kwargs)


# ------------------------------------------------------------------ properties


def test_random_books_respect_every_limit() -> None:
    """Seeded random markets: weights, caps, exposure and name count always hold."""
    rng = np.random.default_rng(2024)
    regimes = ("risk_on", "neutral", "risk_off")
    for i in range(48):
        n = int(rng.integers(5, 61))
        tickers = [f"N{j:02d}" for j in range(n)]
        n_sectors = int(rng.integers(3, 12))
        sectors = pd.Series(rng.integers(0, n_sectors, n), index=tickers).map(lambda s: f"S{s}")
        vols = rng.uniform(0.005, 0.04, n)
        rets = _returns(int(rng.integers(60, 160)), tickers, seed=i, vols=list(vols))
        rets = rets.mask(rng.random(rets.shape) < 0.05)  # scattered gaps
        late = rng.random(n) < 0.1
        rets.iloc[: len(rets) - 15, late] = np.nan  # late listings: < min_history, never bought
        scores = pd.Series(rng.normal(size=n), index=tickers).mask(rng.random(n) < 0.1)
        held = [str(t) for t in rng.choice(tickers, size=int(rng.integers(0, n // 2 + 1)),
                                           replace=False)]
        # hrp / min_variance (skfolio, ~20 ms a call) on every 4th draw only
        optimizers = OPTIMIZERS if i % 4 == 0 else ("equal_weight", "inverse_vol")
        for optimizer in optimizers:
            spec = PortfolioSpec(optimizer=optimizer, top_n=int(rng.integers(1, 31)),
                                 max_replace=int(rng.integers(0, 6)),
                                 max_weight=float(rng.uniform(0.05, 0.5)),
                                 max_sector=float(rng.uniform(0.15, 0.6)), min_names=1,
                                 cov_window=int(rng.integers(40, 127)), min_history=20)
            regime = regimes[int(rng.integers(0, 3))]
            res = target_weights(scores, held, rets, sectors, regime, spec)
            w = res.weights
            _check_caps(w, sectors, spec.max_weight, spec.max_sector, spec.exposure[regime])
            assert (w > 0).all() and w.index.is_monotonic_increasing
            assert res.cash == pytest.approx(1.0 - w.sum(), abs=1e-12)
            sel = res.selection
            assert len(w) <= len(sel.names) <= spec.top_n
            assert set(w.index) <= set(sel.names)
            assert set(sel.added).isdisjoint(rets.columns[late])
            assert set(sel.forced_exits) == set(held) - set(scores.dropna().index)
            if len(held) - len(sel.forced_exits) <= spec.top_n:
                assert len(sel.dropped) <= spec.max_replace
