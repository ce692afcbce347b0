"""The regime assets on the bundled sample: ml.regimes, the model in force, today's regime."""

import json

import numpy as np
import pandas as pd
import pytest

from assets.regimes import _usable_features
from tests.helpers import query


def test_regime_history_fills_the_contract_table(sample_home):
    regimes = query(sample_home, "select * from ml.regimes order by date")
    assert {"date", "model_id", "regime", "prob_risk_on", "prob_neutral", "prob_risk_off"} <= set(regimes.columns)
    assert set(regimes.regime) == {"risk_on", "neutral", "risk_off"}
    probs = regimes[["prob_risk_on", "prob_neutral", "prob_risk_off"]].sum(axis=1)
    assert np.allclose(probs, 1.0, atol=1e-6)
    assert query(sample_home, "select data_type from information_schema.columns where table_name = 'regimes' "
                              "and column_name = 'date'").data_type.iloc[0] == "DATE"


def test_each_date_uses_the_model_fitted_before_it(sample_home):
    joined = query(sample_home, """
        select r.date, m.train_end from ml.regimes r join ml.regime_models m using (model_id)
    """)
    assert (pd.to_datetime(joined.train_end) < pd.to_datetime(joined.date)).all()


def test_current_regime_is_the_last_date(sample_home):
    record = json.loads((sample_home / "regime" / "current.json").read_text())
    last = query(sample_home, "select max(date) as d from ml.regimes").d.iloc[0]
    assert record["date"] == str(pd.Timestamp(last).date())
    assert record["regime"] in {"risk_on", "neutral", "risk_off"}
    assert record["confidence"] == pytest.approx(max(record["probabilities"].values()))


class _Log:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


class _Context:
    def __init__(self):
        self.log = _Log()


def test_a_series_absent_from_the_inputs_reduces_the_feature_set_loudly():
    frame = pd.DataFrame({"vix": [1.0, 2.0], "gspc_vol_20d": [0.1, 0.2], "hy_spread": [np.nan, np.nan]})
    context = _Context()
    assert _usable_features(frame, context, span=10) == ["vix", "gspc_vol_20d"]
    assert "hy_spread" in context.log.warnings[0]


def test_a_series_that_starts_late_does_not_change_the_feature_set():
    # Decided on the first rows only: data arriving after them cannot change earlier regimes.
    frame = pd.DataFrame({"vix": [1.0, 2.0, 3.0], "gspc_vol_20d": [0.1, 0.2, 0.3],
                          "hy_spread": [np.nan, np.nan, 4.0]})
    assert _usable_features(frame, _Context(), span=2) == ["vix", "gspc_vol_20d"]


def test_too_few_features_with_data_is_an_error():
    frame = pd.DataFrame({"vix": [1.0, 2.0], "gspc_vol_20d": [np.nan, np.nan]})
    with pytest.raises(ValueError, match=r"at least 2 features with data; only \['vix'\] have any in the first 10 dates"):
        _usable_features(frame, _Context(), span=10)
