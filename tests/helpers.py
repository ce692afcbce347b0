"""Test helpers: materialize the pipeline into a temporary warehouse; small input sets."""

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from assets.dbt import dbt_resource
from assets.definitions import defs
from assets.resources import SAMPLE_DIR, TradepipeSettings, TradingSettings

PIPELINE = [*defs.assets, *defs.asset_checks]
SAMPLE_LAST_DATE = "2017-11-10"  # the bundled sample's last market date: the partition the tests trade


def materialize_pipeline(
    home: Path,
    prices: Path = SAMPLE_DIR / "prices.csv.gz",
    macro: Path = SAMPLE_DIR / "macro.csv.gz",
    sectors: Path = SAMPLE_DIR / "sectors.csv.gz",
    run_config: dict | None = None,
    raise_on_error: bool = True,
    selection: dg.AssetSelection | None = None,
    trading: TradingSettings | None = None,
    settings_overrides: dict | None = None,
    partition_key: str = SAMPLE_LAST_DATE,
) -> dg.ExecuteInProcessResult:
    """Materialize the pipeline (default: every asset but the model comparison, and every check)
    into ``home``/warehouse.duckdb."""
    settings = TradepipeSettings(home=str(home), prices=str(prices), macro=str(macro), sectors=str(sectors),
                                 **(settings_overrides or {}))
    graph = defs.resolve_asset_graph()
    selection = selection or PIPELINE_WITHOUT_COMPARISON
    keys = selection.resolve(graph)
    partitioned = any(graph.get(k).partitions_def is not None for k in keys)
    return dg.materialize(
        PIPELINE,
        partition_key=partition_key if partitioned else None,
        resources={"settings": settings, "trading": trading or TradingSettings(),
                   "dbt": dbt_resource()},
        run_config=run_config,
        raise_on_error=raise_on_error,
        selection=selection,
    )


# What `make demo` materializes: everything but the model comparison (tests/assets/test_comparison.py).
PIPELINE_WITHOUT_COMPARISON = dg.AssetSelection.all() - dg.AssetSelection.groups("selection")

# Everything but trading, monitoring and reports: for inputs too small a universe to trade.
UP_TO_PREDICTIONS = (dg.AssetSelection.all() - dg.AssetSelection.groups("trading", "monitoring", "reports", "publish",
                                                                      "selection")
                     - dg.AssetSelection.assets(["ml", "daily_predictions"]))

# Ingest and dbt only: for inputs too short for the regime model's two years of warm-up.
WAREHOUSE_ONLY = dg.AssetSelection.groups("ingest", "staging", "intermediate", "marts")


def query(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def sample_slice(folder: Path, tickers: list[str], start: str, end: str) -> dict[str, Path]:
    """Cut a slice of the bundled sample into CSV files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(f"'{t}'" for t in tickers)
    paths = {"prices": folder / "prices.csv", "macro": folder / "macro.csv", "sectors": folder / "sectors.csv"}
    with duckdb.connect() as con:
        con.execute(f"""copy (select * from read_csv('{SAMPLE_DIR / "prices.csv.gz"}', all_varchar=true)
                     where ticker in ({names}) and date between '{start}' and '{end}')
                     to '{paths["prices"]}' (header)""")
        con.execute(f"""copy (select * from read_csv('{SAMPLE_DIR / "macro.csv.gz"}', all_varchar=true)
                     where date <= '{end}') to '{paths["macro"]}' (header)""")
        con.execute(f"""copy (select * from read_csv('{SAMPLE_DIR / "sectors.csv.gz"}', all_varchar=true)
                     where ticker in ({names})) to '{paths["sectors"]}' (header)""")
    return paths


def tiny_market(folder: Path) -> dict[str, Path]:
    """Four tickers x 120 weekdays with exact, smooth prices; BAD carries crafted glitches.

    BAD's glitches (by weekday index): 100 open and low 0 (nonpositive_price), 102 high below close
    (ohlc_inconsistent), 104 volume 0 (nonpositive_volume), 106 two different rows
    (duplicate_conflict), 108 empty close (missing_value), 110 every price x0.01 but consistent
    (close_jump); 111 is back to normal and must not be quarantined.
    """
    folder.mkdir(parents=True, exist_ok=True)
    days = pd.bdate_range("2020-01-01", periods=120)
    t = np.arange(len(days))
    rows = []
    shapes = {"A": (100, 0.004, 0.02), "B": (50, -0.002, 0.03), "C": (20, 0.001, 0.01), "BAD": (80, 0.003, 0.015)}
    for ticker, (level, drift, wiggle) in shapes.items():
        close = level * np.exp(drift * t + wiggle * np.sin(t * (1 + len(ticker) / 3)))
        open_ = np.r_[close[0], close[:-1]] * (1 + 0.002 * np.cos(t))
        high = np.maximum(open_, close) * 1.01
        low = np.minimum(open_, close) * 0.99
        volume = 1000 + 10 * t + 100 * (t % 7)
        for i, day in enumerate(days):
            rows.append([day.date().isoformat(), ticker, open_[i], high[i], low[i], close[i], volume[i]])
    frame = pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "volume"])
    bad = frame.ticker == "BAD"

    def at(i):
        return bad & (frame.date == days[i].date().isoformat())

    frame.loc[at(100), ["open", "low"]] = 0.0
    frame.loc[at(102), "high"] = frame.loc[at(102), "close"] * 0.5
    frame.loc[at(104), "volume"] = 0
    frame.loc[at(110), ["open", "high", "low", "close"]] *= 0.01
    frame["close"] = frame["close"].astype(object)
    frame.loc[at(108), "close"] = ""
    conflict = frame.loc[at(106)].copy()
    conflict["volume"] = 999_999
    frame = pd.concat([frame, conflict], ignore_index=True)
    paths = {"prices": folder / "prices.csv", "macro": folder / "macro.csv", "sectors": folder / "sectors.csv"}
    frame.to_csv(paths["prices"], index=False)

    macro_days = pd.bdate_range("2019-12-02", periods=140)
    m = np.arange(len(macro_days))
    series = {"VIXCLS": 15 + 0.1 * m, "DGS2": 1.5 + 0.01 * m, "DGS10": 2.0 + 0.005 * m,
              "BAMLH0A0HYM2": 4 + 0.02 * np.sin(m), "^GSPC": 3000 * np.exp(0.001 * m)}
    macro = pd.concat([pd.DataFrame({"date": macro_days.date.astype(str), "series": s, "value": v})
                       for s, v in series.items()])
    macro.to_csv(paths["macro"], index=False)
    pd.DataFrame({"ticker": ["A", "B", "C", "BAD"], "sector": ["Energy", "Energy", "Utilities", "Utilities"],
                  "name": ["Alpha", "Beta", "Gamma", "Broken"]}).to_csv(paths["sectors"], index=False)
    return paths


def planted_panel(features: list[str], n_tickers: int = 20, n_days: int = 160, seed: int = 0) -> pd.DataFrame:
    """A small horizon-5 training panel (ticker, date, label_end_date, fwd_return,
    fwd_excess_return and ``features`` of standard normal noise) whose excess return carries a
    planted signal in the first feature."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-01", periods=n_days + 6)
    pos = np.repeat(np.arange(n_days), n_tickers)
    f = rng.normal(size=(pos.size, len(features)))
    excess = 0.01 * f[:, 0] + rng.normal(scale=0.03, size=pos.size)
    panel = pd.DataFrame({"ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_days), "date": days[pos],
                          "label_end_date": days[pos + 6], "fwd_return": excess + 0.001, "fwd_excess_return": excess})
    for j, name in enumerate(features):
        panel[name] = f[:, j]
    return panel
