"""The model comparison end to end on a copy of the sample pipeline: the comparison table, one
champion per horizon with its optimizer, the selection report, the daily weights built with the
champion's optimizer, and the no-candidate case keeping the champion."""

import json
import shutil

import dagster as dg
import pandas as pd
import pytest

from assets.comparison import _deployable, _final_start
from ml.comparison import SelectionSpec, select_champion
from tests.helpers import SAMPLE_LAST_DATE, materialize_pipeline, query

COMPARISON = dg.AssetSelection.assets(["ml", "model_comparison"])
WEIGHTS = dg.AssetSelection.assets(["trading", "target_weights"])


def _config(**overrides):
    config = {"candidates": ["ridge", "lightgbm", "ensemble"], "optimizers": ["equal_weight"],
              "compare_days": 200, "final_days": 63, "ensemble_size": 2, "n_jobs": 1,
              "min_sharpe": None, "min_max_drawdown": None, "min_calmar": None, "max_turnover": None}
    return {"ops": {"ml__model_comparison": {"config": {**config, **overrides}}}}


def _champions(home):
    return query(home, "select model_id, model_type, optimizer, selection from ml.model_registry "
                       "where status = 'champion' and horizon = 5")


@pytest.fixture(scope="module")
def compared(sample_home, tmp_path_factory):
    home = tmp_path_factory.mktemp("comparison") / "home"
    shutil.copytree(sample_home, home)
    materialize_pipeline(home, selection=COMPARISON, run_config=_config())
    return home


def test_comparison_table_covers_every_candidate_optimizer_and_window(compared):
    table = query(compared, "select * from ml.model_comparison")
    assert len(table) == 3 * 1 * 2
    assert set(table["window"]) == {"validation", "final"}
    validation = table[table["window"] == "validation"]
    assert validation["score"].notna().all() and validation["passes"].all()
    assert sorted(validation["rank"].astype(int)) == [1, 2, 3]
    assert table[table["window"] == "final"]["score"].isna().all()  # the final window never chooses
    for column in ("sharpe", "cagr", "max_drawdown", "calmar", "turnover", "win_rate",
                   "sharpe_risk_on", "sharpe_neutral", "sharpe_risk_off", "regime_consistency"):
        assert column in table
    predictions = query(compared, "select * from ml.model_comparison_predictions")
    assert {"ic", "rank_ic", "icir", "rank_icir", "spread_top_bottom", "hit_rate"} <= set(predictions)


def test_one_champion_with_its_optimizer_and_the_reason(compared):
    champions = _champions(compared)
    assert len(champions) == 1
    selection = query(compared, "select * from ml.model_selection").iloc[-1]
    if selection["winner_model"] == "ensemble":  # not deployable: the best single model instead
        assert selection["promoted_model"] in ("ridge", "lightgbm") and "cannot be promoted" in selection["reason"]
    else:
        assert (selection["promoted_model"], selection["promoted_optimizer"]) == (
            selection["winner_model"], selection["winner_optimizer"])
    champion = champions.iloc[0]
    assert champion["model_id"] == selection["promoted_model_id"]
    assert champion["model_type"] == selection["promoted_model"]
    assert champion["optimizer"] == selection["promoted_optimizer"]
    record = json.loads(champion["selection"])
    assert record["weights"]["sharpe"] == pytest.approx(0.30)
    assert 0.0 <= selection["deflated_sharpe"] <= 1.0 and selection["n_trials"] == 3


def test_selection_report_is_written(compared):
    folder = next((compared / "reports" / "model_selection").iterdir())
    assert {"report.html", "comparison.csv", "sharpe_matrix.csv", "selection.json"} <= {p.name for p in folder.iterdir()}
    html = (folder / "report.html").read_text()
    assert "Deflated Sharpe Ratio" in html and "final window" in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_daily_weights_use_the_champions_optimizer(compared):
    materialize_pipeline(compared, selection=WEIGHTS)
    used = query(compared, f"select distinct optimizer from trading.target_weights where date = '{SAMPLE_LAST_DATE}'")
    assert used["optimizer"].tolist() == [_champions(compared)["optimizer"].iloc[0]]


def test_no_candidate_passing_keeps_the_champion(compared):
    before = _champions(compared)
    result = materialize_pipeline(compared, selection=COMPARISON, run_config=_config(
        candidates=["ridge"], optimizers=["equal_weight"], compare_days=190, min_sharpe=100.0))
    assert result.success
    after = _champions(compared)
    assert after["model_id"].tolist() == before["model_id"].tolist()
    assert after["optimizer"].tolist() == before["optimizer"].tolist()  # recorded, unchanged
    assert json.loads(after["selection"].iloc[0])["kept"] is True
    last = query(compared, "select * from ml.model_selection order by selected_at").iloc[-1]
    assert last["winner_model"] is None or last["winner_model"] != last["winner_model"]
    assert "no candidate passes the thresholds" in last["reason"] and "champion stays" in last["reason"]


def test_an_ensemble_winner_is_not_deployed_but_said_so():
    rows = pd.DataFrame({"model": ["ensemble", "ridge", "lightgbm"], "optimizer": ["hrp", "equal_weight", "hrp"],
                         "sharpe": [2.0, 1.5, 1.2], "max_drawdown": [-0.1, -0.1, -0.1], "calmar": [2.0, 1.0, 0.6],
                         "turnover": [0.05, 0.05, 0.05], "regime_consistency": [1.0, 1.0, 1.0]})
    spec = SelectionSpec()
    promoted, why = _deployable(select_champion(rows, spec), rows, spec)
    assert (promoted["model"], promoted["optimizer"]) == ("ridge", "equal_weight")
    assert "rank ensemble (hrp, score 1.000), which cannot be promoted" in why and "ridge x equal_weight" in why
    weak = rows.assign(sharpe=[2.0, 0.5, 0.4])
    promoted, why = _deployable(select_champion(weak, spec), weak, spec)
    assert promoted is None and "no single model passes the thresholds" in why
    promoted, why = _deployable(select_champion(rows.iloc[1:], spec), rows.iloc[1:], spec)
    assert promoted["model"] == "ridge" and why == ""


def test_too_short_a_history_says_what_to_change():
    dates = pd.bdate_range("2017-01-02", periods=212).to_numpy()
    with pytest.raises(ValueError, match=r"212 dates with a regime \(2017-01-02\.\.2017-10-24\), fewer than the "
                                         r"final window \(\[comparison\] final_days = 126\) plus 126 dates"):
        _final_start(dates, 126)
    assert _final_start(dates, 63) == pd.Timestamp(dates[-63])
    with pytest.raises(ValueError, match="no date of the training panel has a regime"):
        _final_start(dates[:0], 126)
