"""The examples in examples/ run on the sample pipeline's warehouse and print what they promise.

Each runs as a script (runpy, as `python examples/<name>.py`) in this process, against the
session's sample home, with small settings where the example offers them.
"""

import math
import re
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan"


def run_example(name: str, args: list[str], monkeypatch, capsys) -> str:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_regime_detector(sample_home, monkeypatch, capsys):
    out = run_example("regime_detector.py", ["--home", str(sample_home), "--days", "5"], monkeypatch, capsys)
    rows = re.findall(rf"^(\d{{4}}-\d\d-\d\d)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(risk_on|neutral|risk_off)$",
                      out, flags=re.MULTILINE)
    assert len(rows) == 5
    for _, *probs, _ in rows:
        assert abs(sum(float(p) for p in probs) - 1.0) < 1e-3
    assert rows[-1][0] == "2017-11-10"
    assert "rows sum to 1: True" in out
    assert re.search(r"point in time: \d{4}-\d\d-\d\d filtered without the later rows is identical: True", out)
    assert re.search(r"identical probabilities: True", out)
    aic, bic = (float(x) for x in re.search(rf"AIC ({NUMBER}), BIC ({NUMBER})", out).groups())
    assert math.isfinite(aic) and math.isfinite(bic) and bic > aic
    assert "transition matrix" in out and "state means" in out


def test_walk_forward(sample_home, monkeypatch, capsys):
    out = run_example("walk_forward.py", ["--home", str(sample_home), "--model", "ridge", "--test-from", "2017-07-01"],
                      monkeypatch, capsys)
    n_folds = int(re.search(r"^(\d+) folds", out, flags=re.MULTILINE).group(1))
    date = r"\d{4}-\d\d-\d\d"
    folds = re.findall(rf"^\s*\d+\s+{date}\s+{date}\s+({date})\s+({date})\s+\d+\s+\d+\s+({NUMBER})\s+({NUMBER})$",
                       out, flags=re.MULTILINE)
    assert 2 <= n_folds == len(folds)
    assert all(math.isfinite(float(ic)) and math.isfinite(float(rank_ic)) for *_, ic, rank_ic in folds)
    assert folds[0][1] >= "2017-07-01"  # only the folds whose test window ends on or after --test-from
    overall = float(re.search(rf"mean rank IC ({NUMBER})", out).group(1))
    assert math.isfinite(overall) and -1 <= overall <= 1
    assert "out-of-sample predictions on" in out


def test_backtest(sample_home, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "report"
    out = run_example("backtest.py", ["--home", str(sample_home), "--days", "40", "--out", str(folder)],
                      monkeypatch, capsys)
    assert re.search(r"champion \w+: 40 prediction dates", out)
    sharpe = re.search(rf"^sharpe\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})$", out, flags=re.MULTILINE)
    assert sharpe and all(math.isfinite(float(x)) for x in sharpe.groups())
    html = (folder / "report.html").read_text()
    for name in ("Sharpe", "max drawdown", "CAGR", "Equity", "Safety checks", "data:image/png;base64"):
        assert name in html
    summary = pd.read_csv(folder / "summary.csv").set_index("strategy")
    assert set(summary.index) == {"model", "equal_weight_universe", "gspc"}
    assert {"cagr", "sharpe", "max_drawdown", "turnover"} <= set(summary.columns)
    assert summary.loc["model", "n_days"] == 40
    assert {"trades.csv", "portfolio_weights.csv", "regimes.csv"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_is_tested_and_documents_how_to_run_it(name):
    text = (EXAMPLES / name).read_text()
    assert f"def test_{name.removesuffix('.py')}(" in Path(__file__).read_text()
    assert f"examples/{name}" in text and "make demo" in text
