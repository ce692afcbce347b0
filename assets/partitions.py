"""Daily partitions keyed by market date (YYYY-MM-DD) for the date-stamped outputs.

Weekdays from the first price date of the home's last ingest (kept in
``$TRADEPIPE_HOME/market_span.json``), or from ``[ingest] first_partition`` when set; before any
ingest, from 2000-01-03, so a first run can name any date of its data. A weekday that is not an
NYSE session (a holiday) has no data and its partition fails with a message saying so. The
current day is a partition (end_offset=1) so the daily schedule can run it after the close.
Definitions read the span when they load: after the first ingest, reload the code location
(`make ui` restarts do) to see the partitions start at the data.
"""

import json
import os
from pathlib import Path

import dagster as dg

from ml.common import atomic_write
from ml.config import value

SPAN_FILE = "market_span.json"
BEFORE_ANY_INGEST = "2000-01-03"


def record_span(home: Path, first_date: str, last_date: str) -> None:
    """Keep the price dates of the ingest just made (read by the next definitions load)."""
    atomic_write(Path(home) / SPAN_FILE, json.dumps({"first_date": first_date, "last_date": last_date}).encode())


def first_partition(home: Path) -> str:
    """``[ingest] first_partition``, else the first price date recorded in ``home``, else 2000-01-03."""
    configured = value("ingest.first_partition")
    if configured:
        return configured
    try:
        return str(json.loads((Path(home) / SPAN_FILE).read_text())["first_date"])[:10]
    except (OSError, ValueError, KeyError, TypeError):
        return BEFORE_ANY_INGEST


MARKET_DATES = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5", start=first_partition(Path(os.environ.get("TRADEPIPE_HOME", ".tradepipe"))),
    fmt="%Y-%m-%d", timezone="America/New_York", end_offset=1)
