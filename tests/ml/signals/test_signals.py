"""Tests for ml.signals on hand-computed tiny cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.signals import combine_scores, predictions_to_signals, signals_table

DATES = pd.to_datetime(["2024-01-02", "2024-01-03"])


def _wide() -> pd.DataFrame:
    return pd.DataFrame(
        {"A": [0.3, -0.1], "B": [0.1, 0.2], "C": [0.2, 0.05], "D": [0.0, 0.0]},
        index=DATES,
    )


def test_rank_top_quarter_of_four_names_selects_one_per_date() -> None:
    out = predictions_to_signals(_wide(), method="rank", top_pct=0.25)
    assert out.loc[DATES[0]].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out.loc[DATES[1]].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert out.sum(axis=1).tolist() == [1.0, 1.0]


def test_rank_uses_ceil_and_at_least_one() -> None:
    wide = pd.DataFrame({t: [float(i)] for i, t in enumerate("ABCDEFGHIJ")})
    # 0.1 * 10 = 1 (not 2 from a floating-point ceil); 0.15 * 10 = 1.5 -> 2; 0.01 -> 1
    assert predictions_to_signals(wide, top_pct=0.1).sum(axis=1).item() == 1.0
    assert predictions_to_signals(wide, top_pct=0.15).sum(axis=1).item() == 2.0
    assert predictions_to_signals(wide, top_pct=0.01).iloc[0]["J"] == 1.0


def test_threshold_is_inclusive_at_the_boundary() -> None:
    wide = pd.DataFrame({"A": [0.05], "B": [0.0499], "C": [0.06]})
    out = predictions_to_signals(wide, method="threshold", threshold=0.05)
    assert out.iloc[0].tolist() == [1.0, 0.0, 1.0]


def test_zscore_rows_have_mean_zero_and_unit_std() -> None:
    out = predictions_to_signals(_wide(), method="zscore")
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1, ddof=0), 1.0)
    # hand case: [1, 3] -> mean 2, std 1 -> [-1, 1]
    two = predictions_to_signals(pd.DataFrame({"A": [1.0], "B": [3.0]}), method="zscore")
    assert two.iloc[0].tolist() == [-1.0, 1.0]


def test_zscore_all_equal_row_is_zero_not_nan() -> None:
    wide = pd.DataFrame({"A": [0.1, 0.2], "B": [0.1, np.nan]})
    out = predictions_to_signals(wide, method="zscore")
    assert out.iloc[0].tolist() == [0.0, 0.0]
    assert out.iloc[1, 0] == 0.0 and np.isnan(out.iloc[1, 1])


def test_nan_predictions_stay_nan_and_are_not_counted() -> None:
    wide = pd.DataFrame({"A": [np.nan], "B": [0.3], "C": [0.1], "D": [0.2], "E": [0.0]})
    for method in ("rank", "threshold", "zscore"):
        out = predictions_to_signals(wide, method=method, top_pct=0.25)
        assert np.isnan(out.iloc[0]["A"])
    # 4 non-NaN names at 25% -> exactly one long
    assert predictions_to_signals(wide, top_pct=0.25).iloc[0].tolist()[1:] == [1.0, 0, 0, 0]


def test_unknown_method_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'top'.*'rank', 'threshold', 'zscore'"):
        predictions_to_signals(_wide(), method="top")


@pytest.mark.parametrize("top_pct", [0.0, 1.5])
def test_bad_top_pct_raises(top_pct: float) -> None:
    with pytest.raises(ValueError, match=rf"top_pct must be in \(0, 1\], got {top_pct}"):
        predictions_to_signals(_wide(), top_pct=top_pct)


def test_empty_frame_raises() -> None:
    with pytest.raises(ValueError, match="predictions is empty"):
        predictions_to_signals(pd.DataFrame())


def test_combine_scores_hand_case() -> None:
    # t = 0.02/0.01 = 2 -> *0.75 (prob up) * 1.0 = 1.5
    # t = -2 -> *(1 - 0.75) * 0.5 (risk_off) = -0.25
    # t = 0.01/0.02 = 0.5 -> *0.4 * 0.8 (neutral) = 0.16
    out = combine_scores(
        pd.Series([0.02, -0.02, 0.01, np.nan]),
        pd.Series([0.01, 0.01, 0.02, 0.01]),
        pd.Series([0.75, 0.75, 0.4, 0.5]),
        pd.Series(["risk_on", "risk_off", "neutral", "risk_on"]),
        eps=0.0,
    )
    np.testing.assert_allclose(out.to_numpy()[:3], [1.5, -0.25, 0.16])
    assert np.isnan(out.iloc[3])


def test_combine_scores_yhat_only_is_identity() -> None:
    assert combine_scores(pd.Series([0.1, -0.2])).tolist() == [0.1, -0.2]


def test_combine_scores_rejects_bad_inputs() -> None:
    y = pd.Series([0.1, 0.2])
    with pytest.raises(ValueError, match=r"negative values: \[-0.1\]"):
        combine_scores(y, yhat_std=pd.Series([0.1, -0.1]))
    with pytest.raises(ValueError, match=r"prob_up must be in \[0, 1\]; got \[1.2\]"):
        combine_scores(y, prob_up=pd.Series([0.5, 1.2]))
    with pytest.raises(ValueError, match=r"unknown regime labels \['crash'\]"):
        combine_scores(y, regime=pd.Series(["risk_on", "crash"]))
    with pytest.raises(ValueError, match="yhat is empty"):
        combine_scores(pd.Series([], dtype=float))


def _long() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [DATES[0]] * 4 + [DATES[1]] * 4,
            "ticker": list("ABCD") * 2,
            "yhat": [0.3, 0.1, 0.2, 0.0, -0.1, 0.2, 0.05, np.nan],
        }
    )


def test_signals_table_rows_for_trading_signals() -> None:
    regimes = pd.Series(["risk_on", "risk_off"], index=DATES)
    out = signals_table(_long(), regimes, method="rank", top_pct=0.25)
    assert list(out.columns) == ["date", "ticker", "score", "signal", "method"]
    assert out["signal"].tolist()[:4] == [1.0, 0.0, 0.0, 0.0]
    # day 2: scores halved by risk_off, B still top of 3 names; D has no prediction
    assert out["score"].tolist()[4:7] == pytest.approx([-0.05, 0.1, 0.025])
    assert out["signal"].tolist()[4:7] == [0.0, 1.0, 0.0]
    assert np.isnan(out["signal"].iloc[7])
    assert set(out["method"]) == {"rank"}


def test_signals_table_missing_regime_names_the_date() -> None:
    regimes = pd.Series(["risk_on"], index=DATES[:1])
    with pytest.raises(ValueError, match="no regime for dates.*2024-01-03"):
        signals_table(_long(), regimes)


def test_signals_table_rejects_empty_and_duplicates() -> None:
    with pytest.raises(ValueError, match="preds is empty"):
        signals_table(_long().iloc[:0])
    with pytest.raises(ValueError, match=r"duplicate \(date, ticker\)"):
        signals_table(pd.concat([_long(), _long().iloc[:1]]))
