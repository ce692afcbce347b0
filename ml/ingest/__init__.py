"""Ingest: raw price, macro and instrument files into DuckDB, and the synthetic market.

Modules: ``files`` (:func:`load_prices`, :func:`load_macro`, :func:`load_instruments`,
:func:`resolve_files`) and ``synthetic`` (:func:`generate_market`, :func:`write_market`).
"""

from ml.ingest.files import (
    InputError,
    TableSpec,
    PRICES,
    MACRO,
    INSTRUMENTS,
    resolve_files,
    load_prices,
    load_macro,
    load_instruments,
    latest_date,
)

__all__ = [
    "InputError",
    "INSTRUMENTS",
    "latest_date",
    "load_instruments",
    "load_macro",
    "load_prices",
    "MACRO",
    "PRICES",
    "resolve_files",
    "TableSpec",
]
