"""Why a trade: the features that moved the model's prediction for each name bought or sold.

For a LightGBM model, LightGBM's own SHAP values (TreeSHAP, ``Booster.predict(X,
pred_contrib=True)``) split one prediction into a contribution per feature plus the expected
value (the bias, the model's mean prediction over its training rows)::

    prediction = bias + sum of every feature's contribution

A traded name's reasons are its ``k`` largest contributions by absolute value, with the
feature's value; ``others`` is the summed contribution of the remaining features, so
``bias + sum(contribution) + others = prediction`` for each name.

Point in time: the contributions are those of the prediction the date's trades were decided
on -- the model in force that day on that day's features -- and :func:`trade_reasons` checks
it: each name's contributions must add up to the prediction recorded for it, or it raises
(the features or the model changed after the date was scored).

Other model types (ridge, random forest, MLP, ensembles) have no exact per-prediction
contributions here: the date gets no reasons and :func:`unexplained` says why.

Examples
--------
>>> import lightgbm as lgb, numpy as np, pandas as pd
>>> from ml.training import FittedModel
>>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]] * 5)
>>> booster = lgb.train({"verbosity": -1, "min_data_in_leaf": 2, "min_data_in_bin": 1},
...                     lgb.Dataset(X, X[:, 0] - X[:, 1]), num_boost_round=3)
>>> model = FittedModel("m1", "lightgbm", 5, "raw", {}, ("a", "b"), pd.Timestamp("2017-01-02"),
...                     pd.Timestamp("2017-01-02"), pd.Timestamp("2017-01-02"), 20, "f", booster)
>>> features = pd.DataFrame({"ticker": ["AAA"], "a": [3.0], "b": [0.0]})
>>> orders = pd.DataFrame({"ticker": ["AAA"], "side": ["BUY"]})
>>> recorded = pd.Series(model.predict(features), index=["AAA"])
>>> trade_reasons(model, features, orders, recorded, k=1)[["ticker", "rank", "feature"]]
  ticker  rank feature
0    AAA     1       a
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.training import FittedModel, to_model_precision

#: Columns of ``trading.trade_reasons`` (without the date): one row per (ticker, rank).
REASON_COLUMNS: tuple[str, ...] = (
    "ticker", "side", "model_id", "rank", "feature", "value", "contribution", "bias", "others", "prediction",
)

#: Model types whose predictions get contributions (LightGBM's TreeSHAP).
EXPLAINED_MODEL_TYPES: frozenset[str] = frozenset({"lightgbm"})

#: How far (absolute, scaled by max(1, |prediction|)) the contributions may add up from the
#: recorded prediction: float rounding is ~1e-15, a changed feature or model far more.
TOLERANCE = 1e-9


def unexplained(model_type: str, model_id: str) -> str | None:
    """Why trades decided on predictions of ``model_id`` (a ``model_type``) get no reasons;
    None when they get them."""
    if model_type in EXPLAINED_MODEL_TYPES:
        return None
    return (f"no feature contributions: the model that scored the day ({model_id}) is {model_type}; "
            f"they are computed for LightGBM models only")


def trade_reasons(model: FittedModel, features: pd.DataFrame, orders: pd.DataFrame, recorded: pd.Series,
                  k: int) -> pd.DataFrame:
    """The top ``k`` feature contributions of each traded name's prediction.

    Parameters
    ----------
    model : FittedModel
        The LightGBM model that scored the date (the model in force).
    features : DataFrame
        The date's features (``marts.fct_features``): ``ticker``, ``date`` (for a model that
        normalizes per date) and the model's features, one row per ticker; with an
        ``in_universe`` column only its true rows count, as in scoring.
    orders : DataFrame
        The date's orders (``trading.trades``): ``ticker``, ``side``; any status (a blocked
        order is explained like an approved one).
    recorded : Series
        ticker -> the prediction (``yhat``) recorded for the date by ``model``. A traded name
        without one (sold because it left the universe) gets no rows.
    k : int
        Reasons per name (at most the number of features).

    Returns
    -------
    DataFrame
        :data:`REASON_COLUMNS`, ordered by ticker then rank; rank 1 is the largest absolute
        contribution, ties in the model's feature order. ``value`` is the feature as the model
        read it (float32 precision, NaN where missing); ``prediction`` the recorded one.

    Raises
    ------
    ValueError
        ``k`` < 1, a model that is not LightGBM, duplicated tickers in ``features`` or
        ``orders``, a predicted traded name without features, or contributions that do not
        add up to the recorded prediction (the date's features or model changed after scoring).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (reasons per trade) must be an integer >= 1, got {k!r}")
    for what, frame in (("features", features), ("orders", orders)):
        dupes = frame.loc[frame["ticker"].duplicated(), "ticker"].astype(str).tolist()
        if dupes:
            raise ValueError(f"duplicate tickers in the {what}: {dupes[:5]}")
    traded = orders[orders["ticker"].isin(recorded.index)].sort_values("ticker", kind="stable")
    if traded.empty:
        return no_reasons()
    scored = features  # the rows the date was scored on: a per-date normalization is across them
    if "in_universe" in scored.columns:
        scored = scored[scored["in_universe"].fillna(False).astype(bool).to_numpy()]
    absent = traded.loc[~traded["ticker"].isin(scored["ticker"]), "ticker"].astype(str).tolist()
    if absent:
        raise ValueError(f"no features for {absent[:5]}, traded and predicted by model {model.model_id}")
    position = pd.Series(np.arange(len(scored)), index=scored["ticker"].astype(str).to_numpy())
    # what the model reads (normalized across the day's rows when it normalizes): the values reported
    X = to_model_precision(model.day_matrix(scored))[position.loc[traded["ticker"].astype(str)].to_numpy()]
    contrib = model.contributions(X)
    bias, parts = contrib[:, -1], contrib[:, :-1]
    prediction = contrib.sum(axis=1)
    expected = recorded.reindex(traded["ticker"]).to_numpy(dtype=np.float64)
    off = np.abs(prediction - expected) > TOLERANCE * np.maximum(1.0, np.abs(expected))
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"contributions of model {model.model_id} add up to {prediction[i]!r} for "
            f"{traded['ticker'].iloc[i]}, not the recorded prediction {expected[i]!r} "
            f"({int(off.sum())} of {len(off)} names): the date's features or model changed after it was "
            f"scored; re-materialize ml/daily_predictions for the date")
    n = min(int(k), parts.shape[1])
    order = np.argsort(-np.abs(parts), axis=1, kind="stable")[:, :n]
    top = np.take_along_axis(parts, order, axis=1)
    names = np.asarray(model.features, dtype=object)
    return pd.DataFrame({
        "ticker": np.repeat(traded["ticker"].astype(str).to_numpy(), n),
        "side": np.repeat(traded["side"].astype(str).to_numpy(), n),
        "model_id": model.model_id,
        "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), len(traded)),
        "feature": names[order].ravel(),
        "value": np.take_along_axis(X, order, axis=1).ravel(),
        "contribution": top.ravel(),
        "bias": np.repeat(bias, n),
        "others": np.repeat(parts.sum(axis=1) - top.sum(axis=1), n),
        "prediction": np.repeat(expected, n),
    }, columns=list(REASON_COLUMNS))


def no_reasons() -> pd.DataFrame:
    """An empty frame of :data:`REASON_COLUMNS` with their dtypes (a date without reasons)."""
    numeric = {"rank": "int64", "value": "float64", "contribution": "float64", "bias": "float64",
               "others": "float64", "prediction": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=numeric.get(c, "object")) for c in REASON_COLUMNS})
