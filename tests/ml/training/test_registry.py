"""Tests for ml.training.registry: content-hash ids, artifacts round trip, champion and retrain rules."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.training import (
    REGISTRY_COLUMNS,
    FittedModel,
    TrainingSpec,
    current_champion,
    data_fingerprint,
    decide_champion,
    model_id,
    register,
    registry_row,
    retrain_due,
    row_hashes,
    train_final,
)
from tests.helpers import planted_panel

FEATURES = ["f0", "f1", "f2"]


def make_panel() -> pd.DataFrame:
    """Small training panel, horizon 5, planted signal in f0; f2 has a NaN warm-up (its first 10 dates)."""
    panel = planted_panel(FEATURES)
    panel.loc[panel["date"] < panel["date"].unique()[10], "f2"] = np.nan
    return panel


LGB = TrainingSpec(
    model_type="lightgbm",
    train_days=100,
    test_days=20,
    early_stopping_days=20,
    early_stopping_rounds=5,
    params={"n_estimators": 20, "num_leaves": 7, "min_child_samples": 10, "n_jobs": 1},
)
RIDGE = TrainingSpec(model_type="ridge", train_days=100, test_days=20)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def models(panel: pd.DataFrame) -> dict[str, FittedModel]:
    return {"lightgbm": train_final(panel, LGB), "ridge": train_final(panel, RIDGE)}


def train_frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["A", "B", "C"] * (n // 3),
            "date": np.repeat(pd.bdate_range("2024-01-01", periods=n // 3), 3),
            "target": np.linspace(-0.5, 0.5, n),
            "x": np.arange(n, dtype=float),
            "y": np.tile([np.nan, 1.0], n)[:n],
        }
    )


# --------------------------------------------------------------------------- #
# ids and fingerprints
# --------------------------------------------------------------------------- #


def test_model_id_is_a_deterministic_content_hash() -> None:
    frame = train_frame()
    params = {"alpha": 1.0, "random_state": 0}
    first = model_id("ridge", params, ["x", "y"], frame)
    assert len(first) == 16 and int(first, 16) >= 0
    assert model_id("ridge", dict(reversed(params.items())), ["x", "y"], frame.iloc[::-1]) == first
    # thread counts and verbosity do not make a different model
    assert model_id("ridge", {**params, "n_jobs": 8, "verbose": 1}, ["x", "y"], frame) == first
    changed = frame.copy()
    changed.loc[3, "x"] += 1e-3
    # a last-bit difference (as parallel SQL aggregates produce) is below model precision
    jittered = frame.assign(x=frame["x"] * (1 + 1e-15))
    assert model_id("ridge", params, ["x", "y"], jittered) == first
    others = {
        model_id("lasso", params, ["x", "y"], frame),
        model_id("ridge", {**params, "alpha": 2.0}, ["x", "y"], frame),
        model_id("ridge", params, ["y", "x"], frame),
        model_id("ridge", params, ["x"], frame),
        model_id("ridge", params, ["x", "y"], changed),
        model_id("ridge", params, ["x", "y"], frame.iloc[:3]),
        model_id("ridge", params, ["x", "y"], frame, settings={"target": "zscore"}),
        model_id("ridge", params, ["x", "y"], frame.assign(target=frame["target"] * 2)),
    }
    assert first not in others and len(others) == 8


def test_row_hashes_are_per_row_and_dtype_canonical() -> None:
    frame = train_frame(9)
    full = row_hashes(frame, ["x", "y"])
    assert full.dtype == np.uint64 and len(np.unique(full)) == 9
    np.testing.assert_array_equal(row_hashes(frame.iloc[[1, 4, 8]], ["x", "y"]), full[[1, 4, 8]])
    other_types = frame.assign(
        date=frame["date"].astype("datetime64[us]"),
        ticker=frame["ticker"].astype("string"),
        x=frame["x"].astype("float32"),  # integers: exact in float32
    )
    np.testing.assert_array_equal(row_hashes(other_types, ["x", "y"]), full)
    assert data_fingerprint(other_types, ["x", "y"]) == data_fingerprint(frame, ["x", "y"])
    with pytest.raises(ValueError, match=r"columns \['z'\] not in the training frame"):
        row_hashes(frame, ["x", "z"])


def test_final_model_id_matches_its_training_rows(panel: pd.DataFrame, models: dict) -> None:
    from ml.training import make_target

    model = models["ridge"]
    rows = panel[panel["label_end_date"] <= model.as_of].copy()
    rows = rows[rows["date"] >= model.train_start]
    rows["target"] = make_target(rows["fwd_excess_return"], rows["date"], "rank")
    expected = model_id("ridge", RIDGE.resolved_params(), FEATURES, rows, RIDGE.id_settings())
    assert model.model_id == expected
    assert model.data_fingerprint == data_fingerprint(rows, FEATURES)
    assert model.n_train == len(rows) == 100 * 20


# --------------------------------------------------------------------------- #
# artifacts
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["lightgbm", "ridge"])
def test_save_load_round_trip(tmp_path, panel: pd.DataFrame, models: dict, name: str) -> None:
    model = models[name]
    folder = model.save(tmp_path / "models")
    assert folder == tmp_path / "models" / model.model_id
    artifact = "model.txt" if name == "lightgbm" else "model.joblib"
    assert sorted(p.name for p in folder.iterdir()) == sorted([artifact, "model.json"])
    sidecar = json.loads((folder / "model.json").read_text())
    assert sidecar["model_id"] == model.model_id
    assert sidecar["artifact_format"] == ("lightgbm-text" if name == "lightgbm" else "joblib")
    assert {"python", "numpy", "pandas", "scikit-learn", "lightgbm"} <= set(sidecar["library_versions"])

    loaded = FittedModel.load(folder)
    probe = panel.tail(200)
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))
    assert loaded.metadata() == model.metadata()
    assert FittedModel.load(folder / "model.json").model_id == model.model_id
    # saving again is idempotent: same bytes
    before = (folder / artifact).read_bytes()
    model.save(tmp_path / "models")
    assert (folder / artifact).read_bytes() == before


def test_load_detects_a_changed_artifact(tmp_path, models: dict) -> None:
    folder = models["lightgbm"].save(tmp_path)
    with (folder / "model.txt").open("a") as handle:
        handle.write("\n")
    with pytest.raises(ValueError, match="was changed after it was saved"):
        FittedModel.load(folder)
    with pytest.raises(FileNotFoundError, match="no model sidecar"):
        FittedModel.load(tmp_path / "nope")


def test_predict_errors(models: dict) -> None:
    model = models["ridge"]
    with pytest.raises(ValueError, match=r"needs feature columns \['f1'\]"):
        model.predict(pd.DataFrame({"f0": [1.0], "f2": [0.0]}))
    with pytest.raises(ValueError, match="expects a 2-D array with 3 feature columns"):
        model.predict(np.zeros((2, 2)))
    assert model.predict(np.zeros((0, 3))).shape == (0,)


# --------------------------------------------------------------------------- #
# registry rows, champion/challenger, retrain-if-needed
# --------------------------------------------------------------------------- #


def test_registry_row_has_the_contract_columns(models: dict) -> None:
    model = models["lightgbm"]
    when = pd.Timestamp("2024-05-01 12:00")
    row = registry_row(model, "champion", {"rank_ic": 0.03, "ic": np.float64(0.02)}, "/m/x",
                       "abc123", reason="first", created_at=when)
    assert list(row) == list(REGISTRY_COLUMNS)
    assert row["model_id"] == model.model_id and row["created_at"] == when
    assert json.loads(row["features"]) == FEATURES
    assert json.loads(row["params"])["num_leaves"] == 7
    assert json.loads(row["cv_metrics"]) == {"ic": 0.02, "rank_ic": 0.03}
    assert (row["train_start"], row["train_end"], row["as_of"]) == (model.train_start, model.train_end, model.as_of)
    assert (row["data_fingerprint"], row["code_version"], row["horizon"]) == (model.data_fingerprint, "abc123", 5)
    assert registry_row(model, "champion", {}, "/m/x", "abc123", created_at=when) == {
        **row, "cv_metrics": "{}", "reason": ""}
    with pytest.raises(ValueError, match="status must be one of"):
        registry_row(model, "best", {}, "/m/x", "abc123")


CHAMPION = {"model_id": "champ", "horizon": 5, "status": "champion",
            "cv_metrics": '{"rank_ic": 0.040, "ic": 0.03}',
            "train_end": pd.Timestamp("2024-03-01"), "as_of": pd.Timestamp("2024-03-08")}


@pytest.mark.parametrize(
    ("candidate", "champion", "tolerance", "status", "reason"),
    [
        (0.010, None, 0.005, "champion", "no current champion (candidate rank IC 0.0100)"),
        (0.050, CHAMPION, 0.005, "champion", "rank IC 0.0500 >= champion champ rank IC 0.0400 - tolerance 0.0050"),
        (0.036, CHAMPION, 0.005, "champion", "rank IC 0.0360 >= champion champ"),
        (0.035, CHAMPION, 0.005, "champion", "rank IC 0.0350 >= "),  # exactly at the tolerance
        (0.034, CHAMPION, 0.005, "challenger", "rank IC 0.0340 < champion champ rank IC 0.0400 - tolerance 0.0050"),
        (0.039, CHAMPION, 0.0, "challenger", "rank IC 0.0390 < champion champ"),
        (0.030, {**CHAMPION, "cv_metrics": {"rank_ic": 0.02}}, 0.005, "champion", "rank IC 0.0300 >="),
        (0.030, {**CHAMPION, "cv_metrics": "{}"}, 0.005, "champion", "champion champ has no recorded rank IC"),
        (float("nan"), CHAMPION, 0.005, "challenger", "candidate has no walk-forward rank IC"),
        (0.030, pd.Series(CHAMPION), 0.005, "challenger", "rank IC 0.0300 < champion champ"),
    ],
)
def test_decide_champion(candidate, champion, tolerance, status, reason) -> None:
    got_status, got_reason = decide_champion(candidate, champion, tolerance)
    assert got_status == status
    assert got_reason.startswith(reason)


def test_decide_champion_rejects_bad_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerance must be a finite number >= 0, got -0.1"):
        decide_champion(0.1, CHAMPION, -0.1)


def test_retrain_due() -> None:
    ends = pd.to_datetime(["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12", None, "2024-03-13"])
    assert retrain_due(CHAMPION, ends, min_new_rows=3) == (
        True, "3 new labelled rows after 2024-03-08 (need 3)")
    assert retrain_due(CHAMPION, ends, min_new_rows=4) == (
        False, "3 new labelled rows after 2024-03-08 (need 4)")
    assert retrain_due(CHAMPION, ends, min_new_rows=4, force=True) == (True, "forced")
    assert retrain_due(None, ends, min_new_rows=4) == (True, "no champion yet")
    # a row without as_of falls back to train_end
    legacy = {k: v for k, v in CHAMPION.items() if k != "as_of"}
    assert retrain_due(legacy, ends, min_new_rows=5) == (
        True, "5 new labelled rows after 2024-03-01 (need 5)")
    with pytest.raises(ValueError, match="min_new_rows must be >= 1"):
        retrain_due(CHAMPION, ends, min_new_rows=0)
    with pytest.raises(ValueError, match="neither 'as_of' nor 'train_end'"):
        retrain_due({"model_id": "x"}, ends, min_new_rows=1)


def _hand_registry() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model_id": "old", "created_at": pd.Timestamp("2023-01-01"), "horizon": 5, "status": "retired",
             "cv_metrics": '{"rank_ic": 0.05}', "reason": "replaced by champ"},
            {"model_id": "champ", "created_at": pd.Timestamp("2024-01-01"), "horizon": 5, "status": "champion",
             "cv_metrics": '{"rank_ic": 0.04}', "reason": ""},
            {"model_id": "h20", "created_at": pd.Timestamp("2024-01-01"), "horizon": 20, "status": "champion",
             "cv_metrics": '{"rank_ic": 0.02}', "reason": ""},
        ]
    )


def test_current_champion_and_register(models: dict) -> None:
    registry = _hand_registry()
    assert current_champion(registry, 5)["model_id"] == "champ"
    assert current_champion(registry, 1) is None
    assert current_champion(pd.DataFrame(), 5) is None

    model = models["ridge"]
    status, reason = decide_champion(0.036, current_champion(registry, 5))
    row = registry_row(model, status, {"rank_ic": 0.036}, "/m", "v1", reason,
                       created_at=pd.Timestamp("2024-06-01"))
    updated = register(registry, row)
    assert len(registry) == 3  # input untouched
    assert updated.set_index("model_id")["status"].to_dict() == {
        "old": "retired", "champ": "retired", "h20": "champion", model.model_id: "champion"}
    assert updated.set_index("model_id").loc["champ", "reason"] == f"replaced by {model.model_id}"
    assert current_champion(updated, 5)["model_id"] == model.model_id

    # registering the same model again (a re-run) keeps its first created_at: idempotent
    again = register(updated, {**row, "created_at": pd.Timestamp("2024-07-01")})
    pd.testing.assert_frame_equal(again, updated)

    # a challenger leaves the champion alone
    lower = registry_row(models["lightgbm"], "challenger", {"rank_ic": 0.0}, "/m", "v1", "worse")
    with_challenger = register(updated, lower)
    assert current_champion(with_challenger, 5)["model_id"] == model.model_id
    assert len(with_challenger) == 5

    # fold models are registered without touching the champion
    fold = registry_row(models["lightgbm"], "fold", {"rank_ic": 0.2}, "/m", "v1")
    assert current_champion(register(updated, fold), 5)["model_id"] == model.model_id

    broken = pd.concat([registry, registry.iloc[[1]].assign(model_id="champ2")])
    with pytest.raises(ValueError, match=r"2 champions for horizon 5: \['champ', 'champ2'\]"):
        current_champion(broken, 5)
    assert list(register(None, row)["model_id"]) == [model.model_id]
    with pytest.raises(ValueError, match="status must be one of"):
        register(registry, {**row, "status": "gold"})


def test_extra_columns_survive_rows_without_them(models: dict) -> None:
    """A champion's optimizer (added by the model comparison) outlives a later retrain's rows."""
    champion = {**registry_row(models["ridge"], "champion", {"rank_ic": 0.03}, "/m", "v1"),
                "optimizer": "hrp", "selection": '{"weights": {}}'}
    registry = register(None, champion)
    fold = registry_row(models["lightgbm"], "fold", {}, "/m", "v1")
    challenger = registry_row(models["lightgbm"], "challenger", {"rank_ic": 0.0}, "/m", "v1", "worse")
    after = register(register(registry, fold), challenger)
    kept = current_champion(after, 5)
    assert (kept["optimizer"], kept["selection"]) == ("hrp", '{"weights": {}}')
    assert pd.isna(after.set_index("model_id").loc[challenger["model_id"], "optimizer"])


def test_a_champion_judged_on_another_label_does_not_block_the_candidate():
    champion = {"model_id": "abc", "cv_metrics": {"rank_ic": 0.05}, "label_price": None}  # an older row: open
    assert decide_champion(0.01, champion, label_price="open")[0] == "challenger"
    status, reason = decide_champion(0.01, champion, label_price="close")
    assert status == "champion" and "judged on the open label" in reason
    assert decide_champion(0.01, {**champion, "label_price": "close"}, label_price="close")[0] == "challenger"
