"""The Dagster pipeline on a case's data, in-process: every asset once (training included), then
`daily_job` (no retraining) for the same market date, timed step by step.

    python -m bench.daily HOME PRICES MACRO SECTORS OUT_JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _steps(result) -> dict[str, float]:
    """Seconds per successful step of a run (checks left out)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" and "check" not in event.step_key:
            out[event.step_key] = event.event_specific_data.duration_ms / 1000
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main() -> None:
    home, prices, macro, sectors, out = sys.argv[1:6]
    os.environ.update(TRADEPIPE_HOME=home, TRADEPIPE_PRICES=prices, TRADEPIPE_MACRO=macro,
                      TRADEPIPE_SECTORS=sectors, TRADEPIPE_WAREHOUSE=str(Path(home) / "warehouse.duckdb"))
    import dagster as dg

    from assets.definitions import defs
    from ml.ingest import latest_date, resolve_files

    day = latest_date(resolve_files(prices))
    instance = dg.DagsterInstance.ephemeral()
    figures: dict = {"market_date": day}
    for name, job in (("full", defs.resolve_implicit_global_asset_job_def()),
                      ("daily_job", defs.resolve_job_def("daily_job"))):
        start = time.perf_counter()
        result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
        figures[name] = {"seconds": time.perf_counter() - start, "success": result.success,
                         "steps": _steps(result)}
    Path(out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
