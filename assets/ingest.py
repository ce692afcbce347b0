"""Ingest: the raw.prices, raw.macro and raw.instruments tables from files or the generator."""


from pathlib import Path
from typing import Literal

import dagster as dg

from assets import metadata
from assets.partitions import record_span
from assets.resources import TradepipeSettings
from assets.warehouse import raw
from ml import ingest
from ml.config import setting
from ml.ingest import synthetic

RAW_PRICES = dg.AssetKey(["raw", "prices"])
RAW_MACRO = dg.AssetKey(["raw", "macro"])
RAW_INSTRUMENTS = dg.AssetKey(["raw", "instruments"])


class IngestConfig(dg.Config):
    """Where the raw tables come from."""

    source: Literal["files", "synthetic"] = setting("ingest.source")
    synthetic_tickers: int = setting("ingest.synthetic_tickers")
    synthetic_years: float = setting("ingest.synthetic_years")
    synthetic_seed: int = setting("ingest.synthetic_seed")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(RAW_PRICES, group_name="ingest", kinds={"duckdb"},
                     description="Daily bars as read from the price files, typed; duplicates kept."),
        dg.AssetSpec(RAW_MACRO, group_name="ingest", kinds={"duckdb"},
                     description="Macro series (date, series, value) as read from the macro file."),
        dg.AssetSpec(RAW_INSTRUMENTS, group_name="ingest", kinds={"duckdb"},
                     description="Tickers with their sector, as read from the sectors file."),
    ],
)
def raw_tables(context: dg.AssetExecutionContext, config: IngestConfig, settings: TradepipeSettings):
    """Check every input file, then replace the three raw tables together in one transaction.

    A file of any input that fails a check raises before anything is written, so the warehouse
    keeps all its previous tables.
    """
    paths = _input_paths(config, settings)
    with settings.warehouse() as con:
        staged = [ingest.stage_prices(con, paths["prices"]), ingest.stage_macro(con, paths["macro"]),
                  ingest.stage_instruments(con, paths["sectors"])]
        raw.swap(con, staged)
    prices, macro, instruments = (s.summary for s in staged)
    record_span(settings.home_path, prices["first_date"], prices["last_date"])
    context.log.info(f"loaded {prices['rows']} price rows for {prices['tickers']} tickers")
    yield dg.MaterializeResult(asset_key=RAW_PRICES, metadata=metadata.entries({
        "dagster/row_count": prices["rows"],
        "tickers": prices["tickers"],
        "first_date": prices["first_date"],
        "last_date": prices["last_date"],
        "has_adj_close": prices["has_adj_close"],
        "files": dg.MetadataValue.json(prices["files"]),
    }))
    yield dg.MaterializeResult(asset_key=RAW_MACRO, metadata=metadata.entries({
        "dagster/row_count": macro["rows"],
        "series": dg.MetadataValue.json(macro["series"]),
        "first_date": macro["first_date"],
        "last_date": macro["last_date"],
    }))
    yield dg.MaterializeResult(asset_key=RAW_INSTRUMENTS, metadata=metadata.entries({
        "dagster/row_count": instruments["rows"],
        "sectors": instruments["sectors"],
    }))
    missing, unknown = macro["missing_series"], macro["unknown_series"]
    if missing or unknown:
        context.log.warning(f"macro series missing: {missing or 'none'}; not read by the pipeline: {unknown or 'none'}")


def _input_paths(config: IngestConfig, settings: TradepipeSettings) -> dict[str, Path | str]:
    if config.source == "files":
        return {"prices": settings.prices, "macro": settings.macro, "sectors": settings.sectors}
    folder = settings.home_path / "synthetic" / (
        f"{config.synthetic_tickers}x{config.synthetic_years:g}y_seed{config.synthetic_seed}"
    )
    if not all((folder / f"{name}.parquet").exists() for name in ("prices", "macro", "sectors")):
        market = synthetic.generate_market(
            config.synthetic_tickers, config.synthetic_years, seed=config.synthetic_seed
        )
        synthetic.write_market(market, folder)
    return {"prices": folder / "prices.parquet", "macro": folder / "macro.parquet",
            "sectors": folder / "sectors.parquet"}
