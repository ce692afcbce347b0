"""Helpers that turn frames and charts into Dagster metadata values."""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd


def chart(png: bytes, path: Path) -> dg.MetadataValue:
    """Markdown showing the PNG inline; the file is also written to ``path`` for reports."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![chart](data:image/png;base64,{encoded})\n\n`{path}`")


def table(frame: pd.DataFrame, floatfmt: str = ".4f") -> dg.MetadataValue:
    """A small frame as a markdown table."""
    return dg.MetadataValue.md(frame.to_markdown(floatfmt=floatfmt))
