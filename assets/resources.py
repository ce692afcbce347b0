"""Environment settings for the code location: where data comes from and where results go.

Each setting is fed by an environment variable (see DESIGN.md, "Configuration") and has a
default, so the bundled sample runs with no configuration at all.
"""


import os
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import duckdb
from pydantic import Field

from assets.warehouse.connection import connect
from assets.warehouse.lock import home_lock
from ml.config import setting
from ml.portfolio import REGIMES, PortfolioSpec
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

    min_coverage: float = setting("quality.min_coverage")
    max_quarantined_share: float = setting("quality.max_quarantined_share")
    max_repeated_share: float = setting("quality.max_repeated_share")

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
        with connect(self.warehouse_path, read_only=read_only) as con:
            yield con

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["TradepipeSettings"]:
        """A run holds the home's run lock from its first step to its end (assets/warehouse/lock.py):
        a second run on the same home fails at once, naming the holder. Sensors and schedules,
        which only read paths, take no lock."""
        if context.dagster_run is None:
            yield self
            return
        with home_lock(self.home_path, holder=f"Dagster run {context.run_id}"):
            yield self


def settings_from_environment() -> TradepipeSettings:
    """The settings resource, with each TRADEPIPE_* variable that is set bound as a dg.EnvVar."""
    fields = {"home": "TRADEPIPE_HOME", "prices": "TRADEPIPE_PRICES",
              "macro": "TRADEPIPE_MACRO", "sectors": "TRADEPIPE_SECTORS"}
    return TradepipeSettings(**{f: dg.EnvVar(v) for f, v in fields.items() if os.environ.get(v)})


DEFAULT_OPTIMIZER = "equal_weight"


class TradingSettings(dg.ConfigurableResource):
    """How predictions become trades; one resource so the daily run and the backtest agree.

    Every field's default and description come from the project config (tradepipe.toml: the
    top-level horizon and [signals], [portfolio], [trades], [costs], [limits], [kill_switch]);
    each field is the ml spec field of the same name (TradingSpec, PortfolioSpec). Set any field in the launchpad's ``resources.trading.config`` (or in Definitions).
    """

    horizon: int = setting("horizon")
    signal_method: str = setting("signals.signal_method")
    top_pct: float = setting("signals.top_pct")
    threshold: float = setting("signals.threshold")
    optimizer: str = setting("portfolio.optimizer")
    top_n: int = setting("portfolio.top_n")
    max_replace: int = setting("portfolio.max_replace")
    max_weight: float = setting("portfolio.max_weight")
    max_sector: float = setting("portfolio.max_sector")
    min_names: int = setting("portfolio.min_names")
    cov_window: int = setting("portfolio.cov_window")
    min_history: int = setting("portfolio.min_history")
    exposure_risk_on: float = setting("portfolio.exposure_risk_on")
    exposure_neutral: float = setting("portfolio.exposure_neutral")
    exposure_risk_off: float = setting("portfolio.exposure_risk_off")
    capital: float = setting("trades.capital")
    commission_bps: float = setting("costs.commission_bps")
    slippage_bps: float = setting("costs.slippage_bps")
    min_trade_notional: float = setting("trades.min_trade_notional")
    max_adv_share: float = setting("limits.max_adv_share")
    no_trade_band: float = setting("trades.no_trade_band")
    max_turnover: float = setting("limits.max_turnover")
    max_trade_share: float = setting("limits.max_trade_share")
    max_cost_share: float = setting("limits.max_cost_share")
    max_trades: int = setting("limits.max_trades")
    weight_tolerance: float = setting("limits.weight_tolerance")
    max_daily_loss: float = setting("kill_switch.max_daily_loss")
    sharpe_window_days: int = setting("kill_switch.sharpe_window_days")
    min_sharpe: float = setting("kill_switch.min_sharpe")
    kill_switch_mode: str = setting("kill_switch.mode")
    cooldown_days: int = setting("kill_switch.cooldown_days")
    rearm_sharpe: float = setting("kill_switch.rearm_sharpe")
    max_halt_days: int = setting("kill_switch.max_halt_days")
    rearm_grace_days: int = setting("kill_switch.rearm_grace_days")
    mode: str = setting("trades.mode")

    def spec(self, optimizer: str | None = None) -> TradingSpec:
        """The trading spec; ``optimizer`` replaces a field set to 'champion' (see champion_optimizer)."""
        chosen = optimizer or (DEFAULT_OPTIMIZER if self.optimizer == "champion" else self.optimizer)
        exposure = {regime: getattr(self, f"exposure_{regime}") for regime in REGIMES}
        portfolio = PortfolioSpec(**self._spec_fields(PortfolioSpec, optimizer=chosen, exposure=exposure))
        return TradingSpec(**self._spec_fields(TradingSpec, portfolio=portfolio))

    def _spec_fields(self, spec_class: type, **given: Any) -> dict[str, Any]:
        """Every field of the ml spec dataclass: ``given``, else this resource's field of the same
        name (a spec field without one is an error, so the two cannot drift apart)."""
        return {f.name: given[f.name] if f.name in given else getattr(self, f.name) for f in fields(spec_class)}
