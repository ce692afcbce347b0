"""Ingest: raw price, macro and instrument files read and checked with DuckDB, and the synthetic market.

Modules: ``files`` (:func:`stage_prices`, :func:`stage_macro`, :func:`stage_instruments`,
:func:`resolve_files`: read and check; the warehouse layer swaps the raw tables) and ``synthetic`` (:func:`generate_market`, :func:`write_market`).
"""

from ml.ingest.files import (
    INSTRUMENTS,
    MACRO,
    MACRO_SERIES,
    PRICES,
    InputError,
    StagedInput,
    TableSpec,
    latest_date,
    resolve_files,
    stage_instruments,
    stage_macro,
    stage_prices,
)

__all__ = [
    "InputError",
    "INSTRUMENTS",
    "latest_date",
    "MACRO",
    "MACRO_SERIES",
    "PRICES",
    "resolve_files",
    "stage_instruments",
    "stage_macro",
    "stage_prices",
    "StagedInput",
    "TableSpec",
]
