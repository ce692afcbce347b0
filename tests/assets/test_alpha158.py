"""marts.fct_alpha158 against an independent pandas implementation of Qlib's published Alpha158
formulas (qlib/contrib/data/loader.py, Alpha158DL; operators as qlib/data/ops.py defines them),
on a hand panel: three tickers, about 80 valid bars each, with gaps, ties and a flat stretch.
The model is built alone with dbt (var alpha158 on) on a warehouse holding only
intermediate.int_prices_validated; then the panel grows by a few days and an incremental run must
equal the from-scratch build; and rule 7: bars changed or deleted after a date leave the rows up
to it unchanged."""

import os
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR

WINDOWS = (5, 10, 20, 30, 60)
EPS = 1e-12
# Qlib's column order: k-bar, price, then each rolling operator over the windows.
QLIB_ORDER = (["kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2", "open0", "high0", "low0", "vwap0"]
              + [f"{op}{d}" for op in ("roc", "ma", "std", "beta", "rsqr", "resi", "max", "min", "qtlu", "qtld", "rank",
                                      "rsv", "imax", "imin", "imxd", "corr", "cord", "cntp", "cntn", "cntd", "sump",
                                      "sumn", "sumd", "vma", "vstd", "wvma", "vsump", "vsumn", "vsumd")
                 for d in WINDOWS])


def hand_panel() -> pd.DataFrame:
    """A: smooth trend with waves; B: noisy, with repeated closes (rank and argmax ties) and three
    missing weekdays; C: a flat stretch (R² and correlations are NaN in Qlib) and jumpy volume."""
    days = pd.bdate_range("2021-01-04", periods=84)
    rng = np.random.default_rng(3)
    rows = []
    for ticker in ("A", "B", "C"):
        t = np.arange(len(days))
        if ticker == "A":
            close = 50 * np.exp(0.003 * t + 0.03 * np.sin(t / 3))
            volume = 1e6 + 2e5 * np.cos(t / 2)
        elif ticker == "B":
            close = np.round(20 + np.cumsum(rng.normal(0, 0.4, len(t))), 1)  # rounding makes ties
            volume = rng.integers(1_000, 50_000, len(t)).astype(float)
        else:
            close = 100 + 5 * np.sin(t / 5)
            close[30:45] = 101.25  # 15 equal closes
            volume = rng.integers(10, 5_000_000, len(t)).astype(float)
        open_ = np.r_[close[0], close[:-1]] * (1 + 0.004 * np.cos(t))
        high = np.maximum(open_, close) * (1 + 0.01 * rng.random(len(t)))
        low = np.minimum(open_, close) * (1 - 0.01 * rng.random(len(t)))
        frame = pd.DataFrame({"ticker": ticker, "date": days.date, "open": open_, "high": high, "low": low,
                              "close": close, "volume": volume})
        if ticker == "B":
            frame = frame.drop(index=[12, 40, 41])  # missing bars: windows run over valid bars
        rows.append(frame)
    prices = pd.concat(rows, ignore_index=True)
    prices["history_days"] = prices.groupby("ticker").cumcount() + 1
    prices["close_raw"] = prices["close"]
    prices["dollar_volume"] = prices["close"] * prices["volume"]
    prices["day_index"] = prices["history_days"]
    return prices


def reference(prices: pd.DataFrame) -> pd.DataFrame:
    """The 158 columns per ticker with pandas, formula by formula from Qlib's config; a rolling
    operator is NaN until its window is full (min_periods = window)."""
    out = []
    for ticker, p in prices.groupby("ticker", sort=True):
        o, h, lo, c, v = (p[k].reset_index(drop=True).astype(float) for k in ("open", "high", "low", "close", "volume"))
        f = {"ticker": ticker, "date": p["date"].to_numpy()}
        f["kmid"], f["klen"] = (c - o) / o, (h - lo) / o
        f["kmid2"] = (c - o) / (h - lo + EPS)
        f["kup"], f["kup2"] = (h - np.maximum(o, c)) / o, (h - np.maximum(o, c)) / (h - lo + EPS)
        f["klow"], f["klow2"] = (np.minimum(o, c) - lo) / o, (np.minimum(o, c) - lo) / (h - lo + EPS)
        f["ksft"], f["ksft2"] = (2 * c - h - lo) / o, (2 * c - h - lo) / (h - lo + EPS)
        f["open0"], f["high0"], f["low0"], f["vwap0"] = o / c, h / c, lo / c, (h + lo + c) / 3 / c
        pc, pv = c.shift(1), v.shift(1)
        up, down = (c > pc).where(pc.notna()), (c < pc).where(pc.notna())

        def ret(x):  # a series of one-bar terms, NaN on the first bar
            return x.where(pc.notna())

        def fit(w):
            x = np.arange(1, len(w) + 1)
            slope, intercept = np.polyfit(x, w, 1)
            return slope, intercept, w[-1] - (slope * x[-1] + intercept), np.corrcoef(x, w)[0, 1] ** 2

        def std(x, d):  # two-pass per window: pandas' online rolling std leaves ~1e-9 on a flat stretch
            return x.rolling(d).apply(lambda w: np.std(w, ddof=1), raw=True)

        def corr(a, b, d):
            r = a.rolling(d).corr(b)
            flat = (std(a, d) <= 2e-5) | (std(b, d) <= 2e-5)
            return r.mask(flat)

        for d in WINDOWS:
            roll = c.rolling(d)
            f[f"roc{d}"] = c.shift(d) / c
            f[f"ma{d}"] = roll.mean() / c
            f[f"std{d}"] = std(c, d) / c
            fits = [fit(c.to_numpy()[i - d + 1:i + 1]) if i >= d - 1 else (np.nan,) * 4 for i in range(len(c))]
            f[f"beta{d}"] = pd.Series([x[0] for x in fits]) / c
            f[f"rsqr{d}"] = pd.Series([x[3] for x in fits]).mask(std(c, d) <= 2e-5)
            f[f"resi{d}"] = pd.Series([x[2] for x in fits]) / c
            f[f"max{d}"] = h.rolling(d).max() / c
            f[f"min{d}"] = lo.rolling(d).min() / c
            f[f"qtlu{d}"] = roll.quantile(0.8) / c
            f[f"qtld{d}"] = roll.quantile(0.2) / c
            f[f"rank{d}"] = roll.rank(pct=True)
            f[f"rsv{d}"] = (c - lo.rolling(d).min()) / (h.rolling(d).max() - lo.rolling(d).min() + EPS)
            imax = h.rolling(d).apply(lambda w: np.argmax(w) + 1, raw=True)
            imin = lo.rolling(d).apply(lambda w: np.argmin(w) + 1, raw=True)
            f[f"imax{d}"], f[f"imin{d}"], f[f"imxd{d}"] = imax / d, imin / d, (imax - imin) / d
            f[f"corr{d}"] = corr(c, np.log(v + 1), d)
            f[f"cord{d}"] = corr(c / pc, np.log(v / pv + 1), d)
            f[f"cntp{d}"] = up.rolling(d).mean()
            f[f"cntn{d}"] = down.rolling(d).mean()
            f[f"cntd{d}"] = up.rolling(d).mean() - down.rolling(d).mean()
            for prefix, x, px in (("sum", c, pc), ("vsum", v, pv)):
                total = ret((x - px).abs()).rolling(d).sum() + EPS
                gain = ret(np.maximum(x - px, 0)).rolling(d).sum()
                loss = ret(np.maximum(px - x, 0)).rolling(d).sum()
                f[f"{prefix}p{d}"], f[f"{prefix}n{d}"], f[f"{prefix}d{d}"] = gain / total, loss / total, (gain - loss) / total
            f[f"vma{d}"] = v.rolling(d).mean() / (v + EPS)
            f[f"vstd{d}"] = std(v, d) / (v + EPS)
            move = ret(np.abs(c / pc - 1) * v)
            f[f"wvma{d}"] = std(move, d) / (move.rolling(d).mean() + EPS)
        frame = pd.DataFrame({k: (f[k].to_numpy() if isinstance(f[k], pd.Series) else f[k])
                              for k in ["ticker", "date", *QLIB_ORDER]})
        out.append(frame.rename(columns={k: f"a158_{k}" for k in frame.columns if k not in ("ticker", "date")}))
    return pd.concat(out, ignore_index=True)


def build(home: Path, prices: pd.DataFrame) -> pd.DataFrame:
    """Write ``prices`` as intermediate.int_prices_validated and run dbt on marts.fct_alpha158."""
    warehouse = home / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists intermediate")
        con.register("p", prices)
        con.execute("create or replace table intermediate.int_prices_validated as "
                    "select ticker, cast(date as date) as date, open, high, low, close, close_raw, volume, "
                    "day_index, history_days, dollar_volume from p")
    env = {**os.environ, "TRADEPIPE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([DBT_EXECUTABLE, "run", "--select", "fct_alpha158", "--target-path", str(home / "target"),
                           "--log-path", str(home / "logs"), "--vars", '{"alpha158": true}'], cwd=DBT_PROJECT_DIR, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select * from marts.fct_alpha158 order by ticker, date").df()


@pytest.fixture(scope="module")
def panel():
    return hand_panel()


@pytest.fixture(scope="module")
def built(tmp_path_factory, panel):
    return build(tmp_path_factory.mktemp("alpha158"), panel)


def test_every_operator_matches_the_published_formula(built, panel):
    expected = reference(panel)
    assert list(built.columns) == list(expected.columns)
    assert len(built.columns) == 2 + 158
    assert len(built) == len(panel)
    assert (built["date"].astype(str).to_numpy() == expected["date"].astype(str).to_numpy()).all()
    for column in expected.columns[2:]:
        got, want = built[column].to_numpy(float), expected[column].to_numpy(float)
        assert (np.isnan(got) == np.isnan(want)).all(), f"{column}: NULL where pandas gives NaN, and only there"
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=column)


def test_windows_are_null_until_full_and_the_flat_stretch_has_no_r2(built):
    a = built[built.ticker == "A"].reset_index(drop=True)
    assert a["a158_ma60"].isna().sum() == 59 and a["a158_ma60"].notna().iloc[59]
    assert a["a158_sump60"].isna().sum() == 60  # 60 one-bar changes need 61 bars
    assert a["a158_roc60"].isna().sum() == 60
    c = built[built.ticker == "C"].reset_index(drop=True)
    assert c.loc[40:44, "a158_rsqr5"].isna().all() and c.loc[40:44, "a158_corr5"].isna().all()


def test_incremental_run_equals_the_full_build(tmp_path, panel, built):
    cut = sorted(panel["date"].unique())[-4]
    build(tmp_path, panel[panel["date"] < cut])
    grown = build(tmp_path, panel)  # the table exists: an incremental run adds the last four dates
    pd.testing.assert_frame_equal(grown, built, check_exact=False, rtol=1e-12, atol=1e-12)


def test_rows_up_to_a_date_ignore_every_later_bar(tmp_path, panel, built):
    """DESIGN.md rule 7 (tests/assets/test_point_in_time.py builds the pipeline with the default
    feature set, without this table): change or delete every bar after T, rebuild from scratch."""
    cut = sorted(panel["date"].unique())[-15]
    later = panel["date"] > cut
    perturbed = panel.copy()
    scale = np.random.default_rng(3).uniform(0.3, 3.0, later.sum())
    for column in ("open", "high", "low", "close"):
        perturbed.loc[later, column] = perturbed.loc[later, column] * scale
    perturbed.loc[later, "volume"] = (perturbed.loc[later, "volume"] * scale[::-1]).round()
    before = built[pd.to_datetime(built["date"]) <= pd.Timestamp(cut)].reset_index(drop=True)
    for variant, prices in (("perturbed", perturbed), ("deleted", panel[~later])):
        (tmp_path / variant).mkdir()
        rebuilt = build(tmp_path / variant, prices)
        rebuilt = rebuilt[pd.to_datetime(rebuilt["date"]) <= pd.Timestamp(cut)].reset_index(drop=True)
        pd.testing.assert_frame_equal(rebuilt, before, check_exact=False, rtol=1e-12, atol=1e-12, obj=variant)


def test_a_build_without_the_alpha158_var_drops_the_stale_table(tmp_path):
    from assets.warehouse import marts

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema marts; create table marts.fct_alpha158 as select 1 as a158_kmid")
        assert marts.has_alpha158(con)
        assert marts.drop_stale_alpha158(con)
        assert not marts.has_alpha158(con)
        assert not marts.drop_stale_alpha158(con)
