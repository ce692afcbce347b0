"""ml.preds: a date's live predictions are replaced as a whole; out-of-sample rows by their fold models."""

import duckdb
import pandas as pd

from assets.warehouse import preds, trading
from assets.warehouse.connection import transaction

DAY = pd.Timestamp("2020-01-02")


def _preds(tickers, model_id, day=DAY):
    return pd.DataFrame({"ticker": tickers, "date": day, "horizon": 5, "model_id": model_id,
                         "yhat": 0.1, "yhat_std": 0.01, "prob_up": 0.5})


def test_a_rescored_date_keeps_no_prediction_of_a_ticker_no_longer_scored():
    con = duckdb.connect()
    with transaction(con):
        preds.write_live(con, DAY, 5, "m1", "scored", _preds(["A", "B", "C"], "m1"))
    with transaction(con):  # C lost its bar; and the champion changed
        preds.write_live(con, DAY, 5, "m2", "scored", _preds(["A", "B"], "m2"))
    live = con.execute("select ticker, model_id from ml.preds where kind = 'live' order by ticker").fetchall()
    assert live == [("A", "m2"), ("B", "m2")]
    model_id, scored = preds.predictions_on(con, DAY, 5)
    assert model_id == "m2" and list(scored["ticker"]) == ["A", "B"]
    assert preds.in_force(con, DAY, 5)["n_predictions"] == 2


def test_a_replayed_date_drops_earlier_live_rows_and_the_dates_decisions():
    con = duckdb.connect()
    with transaction(con):
        preds.write_oos(con, _preds(["A", "B"], "fold1"))
        preds.write_live(con, DAY, 5, "m1", "scored", _preds(["A", "B", "C"], "m1"))
        trading.write_stage(con, "signals", DAY, {"trading.signals": pd.DataFrame({"ticker": ["A"], "score": [1.0]})})
    with transaction(con):
        preds.write_live(con, DAY, 5, "fold1", "walk_forward", None)
    assert con.execute("select count(*) from ml.preds where kind = 'live'").fetchone()[0] == 0
    assert preds.in_force(con, DAY, 5)["n_predictions"] == 2
    assert con.execute("select count(*) from trading.signals").fetchone()[0] == 0


def test_out_of_sample_rows_are_replaced_per_fold_model():
    con = duckdb.connect()
    with transaction(con):
        preds.write_oos(con, pd.concat([_preds(["A", "B"], "f1"), _preds(["A"], "f2", DAY + pd.Timedelta(days=1))]))
    with transaction(con):
        preds.write_oos(con, _preds(["A"], "f1"))
    rows = con.execute("select model_id, ticker from ml.preds order by all").fetchall()
    assert rows == [("f1", "A"), ("f2", "A")]


def test_the_in_force_view_shows_each_date_by_its_model_only():
    con = duckdb.connect()
    later = DAY + pd.Timedelta(days=1)
    with transaction(con):
        preds.write_oos(con, pd.concat([_preds(["A", "B"], "fold1"), _preds(["A", "B"], "fold1", later)]))
        preds.write_live(con, DAY, 5, "fold1", "walk_forward", None)
        preds.write_live(con, later, 5, "retired", "scored", _preds(["A", "B", "C"], "retired", later))
    with transaction(con):  # the date re-scored by the new champion
        preds.write_live(con, later, 5, "champion", "scored", _preds(["A", "B"], "champion", later))
    rows = con.execute("select date, model_id, source, count(*) from ml.preds_in_force group by all order by all").fetchall()
    assert rows == [(DAY.date(), "fold1", "walk_forward", 2), (later.date(), "champion", "scored", 2)]
