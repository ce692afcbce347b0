"""The Dagster pipeline on a case's data, in-process, as it runs in production: every asset once
(training included) on the prices up to the day before the last market date, then the last day's
prices arrive and `daily_job` (no retraining; incremental dbt build) runs for that date. Timed
step by step.

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
    import duckdb

    from assets.definitions import defs
    from ml.ingest import latest_date, resolve_files

    day = latest_date(resolve_files(prices))
    files = [str(f) for f in resolve_files(prices)]
    Path(home).mkdir(parents=True, exist_ok=True)
    earlier = Path(home) / "prices_before_last_day.csv.gz"
    with duckdb.connect() as con:  # the same text, one day shorter: only the last day is new
        con.execute(f"copy (select * from read_csv({files}, all_varchar=true) where date < '{day}') "
                    f"to '{earlier}' (header, compression gzip)")
        previous = str(con.execute(f"select max(date) from read_csv('{earlier}')").fetchone()[0])
    instance = dg.DagsterInstance.ephemeral()
    # every asset but the model comparison (bench.models times the candidates separately)
    keys = list((dg.AssetSelection.all() - dg.AssetSelection.groups("selection")).resolve(defs.resolve_asset_graph()))
    figures: dict = {"market_date": day, "previous_date": previous}
    for name, job, partition, price_path in (
            ("full", defs.resolve_implicit_global_asset_job_def(), previous, str(earlier)),
            ("daily_job", defs.resolve_job_def("daily_job"), day, prices)):
        os.environ["TRADEPIPE_PRICES"] = price_path
        start = time.perf_counter()
        result = job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False,
                                        asset_selection=keys if name == "full" else None)
        figures[name] = {"seconds": time.perf_counter() - start, "success": result.success,
                         "steps": _steps(result)}
    with duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True) as con:
        figures["dbt_builds"] = con.execute(
            "select mode, reason, status from ops.dbt_builds order by build_id").df().to_dict("records")
    Path(out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
