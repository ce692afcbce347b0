"""Tests for ml.comparison.selection on hand-computed tiny cases and the DSR paper's worked example."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from ml.comparison import (
    DEFAULT_WEIGHTS,
    DeflatedSharpe,
    SelectionSpec,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_stats,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    regime_consistency,
    score_candidates,
    select_champion,
)

PHI = NormalDist().cdf
NAN = math.nan
COLUMNS = ["model", "optimizer", "sharpe", "max_drawdown", "calmar", "turnover", "regime_consistency"]
# a row that passes every default threshold
GOOD = {"model": "m", "optimizer": "o", "sharpe": 1.5, "max_drawdown": -0.10, "calmar": 1.0,
        "turnover": 0.05, "regime_consistency": 0.3}


def _table(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def _three_passing() -> pd.DataFrame:
    # every metric is evenly spaced, so each normalises to 0, 0.5, 1 (or 1, 0.5, 0)
    return _table(
        ("ridge", "equal", 1.2, -0.10, 1.0, 0.10, 0.2),
        ("lgbm", "inverse_vol", 1.4, -0.15, 1.5, 0.20, 0.4),
        ("mlp", "min_var", 1.6, -0.20, 2.0, 0.30, 0.6),  # drawdown exactly at the -20% limit passes
    )


# --------------------------------------------------------------------------- #
# SelectionSpec
# --------------------------------------------------------------------------- #


def test_spec_defaults() -> None:
    spec = SelectionSpec()
    assert dict(spec.weights) == dict(DEFAULT_WEIGHTS) == {
        "sharpe": 0.30, "max_drawdown": 0.25, "calmar": 0.20, "turnover": 0.15, "regime_consistency": 0.10}
    assert (spec.min_sharpe, spec.min_max_drawdown, spec.min_calmar, spec.max_turnover) == (1.0, -0.20, 0.5, 0.40)


def test_spec_is_frozen_and_weights_read_only() -> None:
    spec = SelectionSpec()
    with pytest.raises(AttributeError):
        spec.min_sharpe = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.weights["sharpe"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"sharpe": 1.0, "alpha": 1.0}, r"unknown metrics in weights: \['alpha'\]"),
        ({"sharpe": 1.0, "turnover": -0.1}, r"weights must be finite numbers >= 0, got \{'turnover': -0.1\}"),
        ({"sharpe": NAN}, "weights must be finite numbers >= 0"),
        ({"sharpe": True}, "weights must be finite numbers >= 0"),
        ({"sharpe": 0.0, "calmar": 0.0}, "weights must sum to more than 0"),
        ({}, "weights must sum to more than 0"),
    ],
)
def test_spec_rejects_bad_weights(weights: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SelectionSpec(weights=weights)


@pytest.mark.parametrize("name", ["min_sharpe", "min_max_drawdown", "min_calmar", "max_turnover"])
def test_spec_rejects_non_finite_thresholds(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number or None, got inf"):
        SelectionSpec(**{name: math.inf})


# --------------------------------------------------------------------------- #
# regime_consistency
# --------------------------------------------------------------------------- #


def test_regime_consistency_is_the_worst_finite_regime() -> None:
    assert regime_consistency({"risk_on": 1.8, "neutral": 0.9, "risk_off": -0.4}) == -0.4
    assert regime_consistency({"risk_on": 1.8, "neutral": NAN, "risk_off": 0.7}) == 0.7
    assert math.isnan(regime_consistency({"risk_on": NAN}))
    assert math.isnan(regime_consistency({}))


# --------------------------------------------------------------------------- #
# score_candidates
# --------------------------------------------------------------------------- #


def test_scores_hand_computed_with_default_weights() -> None:
    out = score_candidates(_three_passing())
    # normalised (sharpe, drawdown, calmar, turnover, regime):
    #   ridge (0, 1, 0, 1, 0)    -> 0.25 + 0.15 = 0.40
    #   lgbm  all 0.5            -> 0.50
    #   mlp   (1, 0, 1, 0, 1)    -> 0.30 + 0.20 + 0.10 = 0.60
    assert out["score"].tolist() == pytest.approx([0.40, 0.50, 0.60])
    assert out["rank"].tolist() == [3, 2, 1]
    assert out["passes"].tolist() == [True, True, True]
    assert out["failed"].tolist() == ["", "", ""]


def test_weights_are_normalised_by_their_sum() -> None:
    spec = SelectionSpec(weights={"sharpe": 2.0, "turnover": 1.0})
    out = score_candidates(_three_passing(), spec)
    # ridge: (2*0 + 1*1)/3, lgbm: (2*0.5 + 1*0.5)/3, mlp: (2*1 + 1*0)/3
    assert out["score"].tolist() == pytest.approx([1 / 3, 0.5, 2 / 3])


def test_score_returns_a_copy_in_input_order() -> None:
    table = _three_passing().set_index(pd.Index([10, 20, 30]))
    out = score_candidates(table)
    assert list(out.index) == [10, 20, 30]
    assert list(out.columns) == [*COLUMNS, "failed", "passes", "score", "rank"]
    assert "score" not in table.columns
    assert str(out["rank"].dtype) == "Int64"


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        ("sharpe", 0.84, "sharpe 0.84 < 1.00"),
        ("max_drawdown", -0.231, "max_drawdown -23.1% < -20.0%"),
        ("calmar", 0.42, "calmar 0.42 < 0.50"),
        ("turnover", 0.452, "turnover 0.452 > 0.400"),
        ("sharpe", NAN, "sharpe is NaN (needs >= 1.00)"),
        ("max_drawdown", NAN, "max_drawdown is NaN (needs >= -20.0%)"),
        ("turnover", NAN, "turnover is NaN (needs <= 0.400)"),
    ],
)
def test_each_threshold_alone_fails_a_row(metric: str, value: float, message: str) -> None:
    bad = {**GOOD, "model": "bad", metric: value}
    out = score_candidates(pd.DataFrame([GOOD, bad]))
    assert out["failed"].tolist() == ["", message]
    assert out["passes"].tolist() == [True, False]
    assert math.isnan(out["score"].iloc[1]) and out["rank"].iloc[1] is pd.NA
    # the lone passing row is best on everything it is compared with
    assert out["score"].iloc[0] == 1.0 and out["rank"].iloc[0] == 1


def test_all_failures_listed_in_order() -> None:
    row = {**GOOD, "sharpe": 0.84, "max_drawdown": -0.231, "calmar": 0.2, "turnover": 0.5}
    out = score_candidates(pd.DataFrame([row]))
    assert out["failed"].iloc[0] == (
        "sharpe 0.84 < 1.00; max_drawdown -23.1% < -20.0%; calmar 0.20 < 0.50; turnover 0.500 > 0.400"
    )


def test_failure_message_shows_enough_decimals_to_differ() -> None:
    out = score_candidates(pd.DataFrame([{**GOOD, "sharpe": 0.999}]))
    assert out["failed"].iloc[0] == "sharpe 0.999 < 1.000"


def test_none_thresholds_are_not_applied() -> None:
    table = pd.DataFrame([{**GOOD, "sharpe": 0.2, "max_drawdown": -0.6, "calmar": 0.1, "turnover": 2.0}])
    spec = SelectionSpec(min_sharpe=None, min_max_drawdown=None, min_calmar=None, max_turnover=None)
    out = score_candidates(table, spec)
    assert out["passes"].tolist() == [True] and out["failed"].tolist() == [""]
    assert out["score"].tolist() == [1.0]


def test_nan_metric_without_threshold_scores_zero_on_it() -> None:
    table = _three_passing()
    table.loc[2, "regime_consistency"] = NAN
    out = score_candidates(table)
    # regime normalised over ridge 0.2 / lgbm 0.4 only: ridge 0, lgbm 1, mlp (NaN) 0
    assert out["passes"].all()
    assert out["score"].tolist() == pytest.approx([0.40, 0.45 + 0.10, 0.50])
    assert out["rank"].tolist() == [3, 1, 2]


def test_nan_sharpe_passes_when_its_threshold_is_off_and_scores_zero() -> None:
    table = _three_passing()
    table.loc[0, "sharpe"] = NAN
    out = score_candidates(table, SelectionSpec(weights={"sharpe": 1.0}, min_sharpe=None))
    assert out["score"].tolist() == pytest.approx([0.0, 0.0, 1.0])  # lgbm 1.4 is now the worst finite
    assert out["rank"].tolist() == [3, 2, 1]  # equal scores: the NaN Sharpe sorts last


def test_equal_metric_scores_one_for_all() -> None:
    table = _three_passing().assign(calmar=1.0)
    out = score_candidates(table, SelectionSpec(weights={"calmar": 1.0}))
    assert out["score"].tolist() == [1.0, 1.0, 1.0]


def test_normalisation_uses_passing_rows_only() -> None:
    table = _three_passing()
    failing = ("zzz", "equal", 9.0, -0.5, 9.0, 0.0, 9.0)  # best on everything but fails drawdown
    out = score_candidates(pd.concat([table, _table(failing)], ignore_index=True))
    assert out["score"].iloc[:3].tolist() == pytest.approx([0.40, 0.50, 0.60])
    assert out["failed"].iloc[3] == "max_drawdown -50.0% < -20.0%"


def test_ties_broken_by_sharpe_then_model_then_optimizer() -> None:
    table = _table(
        ("b", "y", 1.5, -0.1, 1.0, 0.1, 0.3),
        ("b", "x", 1.5, -0.1, 1.0, 0.1, 0.3),
        ("a", "z", 1.5, -0.1, 1.0, 0.1, 0.3),
        ("c", "x", 1.9, -0.1, 1.0, 0.1, 0.3),
    )
    out = score_candidates(table, SelectionSpec(weights={"turnover": 1.0}))  # every score is 1.0
    assert out["score"].tolist() == [1.0] * 4
    assert out["rank"].tolist() == [4, 3, 2, 1]
    # and the order does not depend on the input order
    again = score_candidates(table.iloc[::-1], SelectionSpec(weights={"turnover": 1.0}))
    assert again["rank"].sort_index().tolist() == [4, 3, 2, 1]


def test_missing_columns_are_named() -> None:
    table = _three_passing().drop(columns=["calmar", "turnover"])
    with pytest.raises(ValueError, match=r"missing columns \['calmar', 'turnover'\]"):
        score_candidates(table)


def test_empty_table_raises() -> None:
    with pytest.raises(ValueError, match="comparison table is empty"):
        select_champion(pd.DataFrame(columns=COLUMNS))


def test_duplicated_candidates_raise() -> None:
    table = pd.concat([_three_passing(), _three_passing().iloc[[1]]])
    with pytest.raises(ValueError, match=r"duplicated \(model, optimizer\) rows: \['lgbm x inverse_vol'\]"):
        score_candidates(table)


def test_infinite_metric_raises() -> None:
    with pytest.raises(ValueError, match=r"metric columns \['calmar'\] have infinite values"):
        score_candidates(pd.DataFrame([{**GOOD, "calmar": math.inf}]))


# --------------------------------------------------------------------------- #
# select_champion
# --------------------------------------------------------------------------- #


def test_select_champion_picks_the_best_and_explains() -> None:
    failing = ("zzz", "equal", 0.84, -0.231, 0.4, 0.1, 0.1)
    sel = select_champion(pd.concat([_three_passing(), _table(failing)], ignore_index=True))
    assert sel.winner is not None
    assert (sel.winner["model"], sel.winner["optimizer"], sel.winner["rank"]) == ("mlp", "min_var", 1)
    assert sel.reason == (
        "mlp x min_var: score 0.60, best of 3 passing of 4 "
        "(sharpe 1.60, max drawdown -20.0%, calmar 2.00, turnover 0.300/day)"
    )
    assert sel.table["model"].tolist() == ["mlp", "lgbm", "ridge", "zzz"]
    assert sel.table["rank"].iloc[:3].tolist() == [1, 2, 3] and sel.table["rank"].iloc[3] is pd.NA


def test_a_failing_row_listed_before_the_one_passing_row_never_wins() -> None:
    # The ranks were once taken by position from the rows sorted by score: the failing first row
    # got rank 1 and was promoted (seen on the sample: Sharpe 0.03 "won" over a passing 1.00).
    table = _table(("lgbm", "equal", 0.03, -0.17, -0.02, 0.047, 0.1),
                   ("ensemble", "min_var", 1.3, -0.075, 1.16, 0.08, 0.4))
    sel = select_champion(table)
    assert (sel.winner["model"], sel.winner["optimizer"], sel.winner["rank"]) == ("ensemble", "min_var", 1)
    scored = score_candidates(table)
    assert scored["rank"].tolist() == [pd.NA, 1] and scored["passes"].tolist() == [False, True]


def test_no_candidate_passes_keeps_the_champion() -> None:
    table = _table(
        ("ridge", "equal", 0.84, -0.231, 0.6, 0.1, 0.2),
        ("lgbm", "inverse_vol", 0.95, -0.12, 0.4, 0.1, 0.2),
        ("mlp", "min_var", NAN, -0.1, 1.0, 0.1, 0.2),
    )
    sel = select_champion(table)
    assert sel.winner is None
    assert sel.reason == (
        "no candidate passes the thresholds (3 evaluated); the current champion stays. "
        "Closest: lgbm x inverse_vol (sharpe 0.95) fails sharpe 0.95 < 1.00; calmar 0.40 < 0.50"
    )
    assert sel.table["model"].tolist() == ["lgbm", "ridge", "mlp"]  # by Sharpe, NaN last
    assert sel.table["score"].isna().all() and sel.table["rank"].isna().all()


# --------------------------------------------------------------------------- #
# Deflated Sharpe Ratio
# --------------------------------------------------------------------------- #

PAPER_SR = 2.5 / math.sqrt(250)  # annualised 2.5, 250 observations a year
PAPER_V = 0.5 / 250  # variance of the annualised trial Sharpe ratios, 0.5, per observation


def test_dsr_reproduces_the_published_numerical_example() -> None:
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection
    Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5), numerical
    example: annualised SR 2.5 over T = 1250 daily observations (5 years x 250), skewness -3,
    kurtosis 10, N = 100 independent trials whose annualised Sharpe ratios have variance 1/2.
    Published: E[max SR] = 0.1132 (per day) and DSR = 0.9004; with N = 46 trials DSR = 0.9505,
    and with normal moments (skew 0, kurtosis 3) it takes N = 88 trials to reach 0.9505.
    """
    out = deflated_sharpe_ratio_from_stats(PAPER_SR, 1250, -3.0, 10.0, 100, PAPER_V)
    assert isinstance(out, DeflatedSharpe)
    assert round(out.benchmark_sharpe, 4) == 0.1132
    assert round(out.dsr, 4) == 0.9004
    assert (out.sharpe, out.n_obs, out.skew, out.kurtosis, out.n_trials) == (PAPER_SR, 1250, -3.0, 10.0, 100)
    assert round(deflated_sharpe_ratio_from_stats(PAPER_SR, 1250, -3.0, 10.0, 46, PAPER_V).dsr, 4) == 0.9505
    assert round(deflated_sharpe_ratio_from_stats(PAPER_SR, 1250, 0.0, 3.0, 88, PAPER_V).dsr, 4) == 0.9505


def test_psr_is_one_half_at_the_benchmark() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 250, -1.0, 6.0) == 0.5
    assert probabilistic_sharpe_ratio(0.0, 0.0, 2, 0.0, 3.0) == 0.5


def test_psr_normal_returns_reduce_to_the_textbook_formula() -> None:
    # skew 0, kurtosis 3: sigma(SR)^2 = (1 + SR^2 / 2) / (T - 1)
    sr, bench, t = 0.08, 0.02, 500
    want = PHI((sr - bench) * math.sqrt(t - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe_ratio(sr, bench, t, 0.0, 3.0) == pytest.approx(want, rel=1e-14)


def test_negative_skew_and_fat_tails_lower_the_psr() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.0, 500, -2.0, 9.0) < probabilistic_sharpe_ratio(0.1, 0.0, 500, 0.0, 3.0)


def test_expected_max_sharpe_one_trial_is_zero_and_grows_with_n() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    bars = [expected_max_sharpe(n, 0.04) for n in (1, 2, 3, 10, 100, 1000, 10_000)]
    assert all(b > a for a, b in zip(bars, bars[1:]))
    # scales with the standard deviation of the trial Sharpe ratios
    assert expected_max_sharpe(100, 0.16) == pytest.approx(2 * expected_max_sharpe(100, 0.04))


def test_expected_max_sharpe_closed_form() -> None:
    inv, g = NormalDist().inv_cdf, 0.5772156649
    want = 0.2 * ((1 - g) * inv(1 - 1 / 10) + g * inv(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(10, 0.04) == pytest.approx(want, rel=1e-9)


def test_dsr_from_returns_uses_ddof1_sharpe_and_population_moments() -> None:
    r = [0.01, -0.02, 0.03, 0.0, 0.005]
    n, mean = len(r), sum(r) / len(r)
    m2, m3, m4 = (sum((x - mean) ** k for x in r) / n for k in (2, 3, 4))
    sr = mean / math.sqrt(m2 * n / (n - 1))
    out = deflated_sharpe_ratio(pd.Series(r), n_trials=10, sharpe_variance=0.01)
    assert out.sharpe == pytest.approx(sr, rel=1e-12)
    assert out.skew == pytest.approx(m3 / m2**1.5, rel=1e-12)
    assert out.kurtosis == pytest.approx(m4 / m2**2, rel=1e-12)
    assert out.n_obs == 5 and out.n_trials == 10
    assert out == deflated_sharpe_ratio_from_stats(out.sharpe, 5, out.skew, out.kurtosis, 10, 0.01)


def test_dsr_of_normal_returns_has_normal_moments() -> None:
    r = np.random.default_rng(7).normal(0.001, 0.01, 20_000)
    out = deflated_sharpe_ratio(r, n_trials=1, sharpe_variance=0.0)
    assert out.skew == pytest.approx(0.0, abs=0.05) and out.kurtosis == pytest.approx(3.0, abs=0.1)
    assert out.benchmark_sharpe == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0), "n_obs must be >= 2, got n_obs=1"),
        (lambda: probabilistic_sharpe_ratio(NAN, 0.0, 10, 0.0, 3.0), "sharpe must be a finite number"),
        (lambda: probabilistic_sharpe_ratio(0.5, 0.0, 10, 2.0, 0.0), r"variance term .* is <= 0"),
        (lambda: expected_max_sharpe(0, 0.1), "n_trials must be >= 1, got n_trials=0"),
        (lambda: expected_max_sharpe(10, -0.1), "sharpe_variance must be a finite number >= 0, got -0.1"),
        (lambda: deflated_sharpe_ratio([0.01], 10, 0.1), "at least 2 values"),
        (lambda: deflated_sharpe_ratio([0.01, NAN, 0.02], 10, 0.1), "1 NaN or infinite values"),
        (lambda: deflated_sharpe_ratio([0.01, 0.01, 0.01], 10, 0.1), "returns are constant"),
        (lambda: deflated_sharpe_ratio_from_stats(0.1, 1, 0.0, 3.0, 10, 0.1), "n_obs must be >= 2"),
    ],
)
def test_dsr_input_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_non_integer_n_obs_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"n_obs must be an integer, got 10.5"):
        probabilistic_sharpe_ratio(0.1, 0.0, 10.5, 0.0, 3.0)
