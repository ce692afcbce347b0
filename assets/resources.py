"""Environment settings for the code location: where data comes from and where results go.

Each setting is fed by an environment variable (see DESIGN.md, "Configuration") and has a
default, so the bundled sample runs with no configuration at all.
"""


import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
from pydantic import Field
import duckdb

from ml.portfolio import PortfolioSpec
from ml.trades import TradingSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


class TradepipeSettings(dg.ConfigurableResource):
    """Paths of the inputs and of the warehouse; read from TRADEPIPE_* variables."""

    home: str = Field(
        default=".tradepipe",
        description="TRADEPIPE_HOME: folder for the warehouse, published DB, models, reports.",
    )
    prices: str = Field(
        default=str(SAMPLE_DIR / "prices.csv.gz"),
        description="TRADEPIPE_PRICES: price file or folder "
        "(date,ticker,open,high,low,close,volume[,adj_close]; CSV, CSV.gz or Parquet).",
    )
    macro: str = Field(
        default=str(SAMPLE_DIR / "macro.csv.gz"),
        description="TRADEPIPE_MACRO: tidy date,series,value file or folder.",
    )
    sectors: str = Field(
        default=str(SAMPLE_DIR / "sectors.csv.gz"),
        description="TRADEPIPE_SECTORS: ticker,sector[,name] file or folder.",
    )

    min_coverage: float = Field(
        default=0.9, description="Share of recently traded tickers that must have a valid bar on the latest date.")
    max_quarantined_share: float = Field(
        default=0.05, description="Largest share of the latest date's bars that may be quarantined.")

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def warehouse_path(self) -> Path:
        return self.home_path / "warehouse.duckdb"

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, closed on exit (DuckDB allows one writer per file)."""
        self.home_path.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.warehouse_path), read_only=read_only)
        con.execute("set enable_progress_bar = false")  # a connection setting: no bar in run logs
        try:
            yield con
        finally:
            con.close()


def settings_from_environment() -> TradepipeSettings:
    """The settings resource, with each TRADEPIPE_* variable that is set bound as a dg.EnvVar."""
    fields = {"home": "TRADEPIPE_HOME", "prices": "TRADEPIPE_PRICES",
              "macro": "TRADEPIPE_MACRO", "sectors": "TRADEPIPE_SECTORS"}
    return TradepipeSettings(**{f: dg.EnvVar(v) for f, v in fields.items() if os.environ.get(v)})


DEFAULT_OPTIMIZER = "equal_weight"


class TradingSettings(dg.ConfigurableResource):
    """How predictions become trades; one resource so the daily run and the backtest agree.

    Set any field in the launchpad's ``resources.trading.config`` (or in Definitions).
    """

    horizon: int = Field(default=5, description="Label horizon of the champion whose predictions are traded.")
    signal_method: str = Field(default="rank", description="rank, threshold or zscore (ml.signals).")
    top_pct: float = Field(default=0.2, description="rank: share of names with a buy signal each day.")
    threshold: float = Field(default=0.0, description="threshold: score at or above which a name is a buy.")
    optimizer: str = Field(default="champion", description="'champion' (the optimizer the model comparison chose with the champion; equal_weight when none was chosen), or equal_weight, inverse_vol, hrp, min_variance.")
    top_n: int = Field(default=20, description="Names held (top-K).")
    max_replace: int = Field(default=2, description="Held names replaced per day at most (dropout buffer; 2 of 20 = 10% a day, the ratio of Qlib's TopkDropout defaults 5 of 50).")
    max_weight: float = Field(default=0.10, description="Largest weight of one name.")
    max_sector: float = Field(default=0.30, description="Largest weight of one sector.")
    min_names: int = Field(default=10, description="Fewer selected names than this blocks the day's trades.")
    cov_window: int = Field(default=126, description="Trailing trading days of returns for volatility and covariance.")
    exposure_risk_on: float = Field(default=1.0, description="Gross exposure in the risk_on regime (rest in cash).")
    exposure_neutral: float = Field(default=0.8, description="Gross exposure in the neutral regime.")
    exposure_risk_off: float = Field(default=0.5, description="Gross exposure in the risk_off regime.")
    capital: float = Field(default=1_000_000.0, description="Starting cash of the paper book and the backtest.")
    commission_bps: float = Field(default=1.0, description="Commission estimate, basis points of notional.")
    slippage_bps: float = Field(default=5.0, description="Slippage estimate, basis points of notional.")
    min_trade_notional: float = Field(default=100.0, description="Smallest order kept (exits always trade).")
    max_adv_share: float = Field(default=0.05, description="An order above this share of 20-day volume is flagged and blocks the day.")
    no_trade_band: float = Field(default=0.005, description="Held names within this weight distance of their target are not traded.")
    max_turnover: float = Field(default=0.5, description="Largest one-way turnover of a day's orders.")
    max_trade_share: float = Field(default=0.10, description="Largest single order as a share of the portfolio.")
    max_cost_share: float = Field(default=0.005, description="Largest estimated cost of a day's orders as a share of the portfolio.")
    max_trades: int = Field(default=100, description="Most orders in a day.")
    max_daily_loss: float = Field(default=0.03, description="Kill switch: a daily loss beyond this blocks trading.")
    sharpe_window_days: int = Field(default=30, description="Kill switch: trailing window (trading days, ~6 weeks) of the Sharpe rule.")
    min_sharpe: float = Field(default=0.5, description="Kill switch: trailing annualised Sharpe below this blocks trading.")
    mode: str = Field(default="paper", description="paper (dry run): approved trades move the paper book only.")

    def spec(self, optimizer: str | None = None) -> TradingSpec:
        """The trading spec; ``optimizer`` replaces a field set to 'champion' (see champion_optimizer)."""
        chosen = optimizer or (DEFAULT_OPTIMIZER if self.optimizer == "champion" else self.optimizer)
        portfolio = PortfolioSpec(
            optimizer=chosen, top_n=self.top_n, max_replace=self.max_replace,
            max_weight=self.max_weight, max_sector=self.max_sector, min_names=self.min_names,
            cov_window=self.cov_window,
            exposure={"risk_on": self.exposure_risk_on, "neutral": self.exposure_neutral,
                      "risk_off": self.exposure_risk_off},
        )
        return TradingSpec(
            signal_method=self.signal_method, top_pct=self.top_pct, threshold=self.threshold,
            portfolio=portfolio, capital=self.capital, commission_bps=self.commission_bps,
            slippage_bps=self.slippage_bps, min_trade_notional=self.min_trade_notional,
            max_adv_share=self.max_adv_share, no_trade_band=self.no_trade_band,
            max_turnover=self.max_turnover, max_trade_share=self.max_trade_share,
            max_cost_share=self.max_cost_share, max_trades=self.max_trades,
            max_daily_loss=self.max_daily_loss, sharpe_window_days=self.sharpe_window_days,
            min_sharpe=self.min_sharpe,
        )
