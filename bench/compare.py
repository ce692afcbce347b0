"""The model comparison (`compare_job`, default configuration: every candidate x optimizer) on a
home where the pipeline has run (bench.daily builds it), in-process, timed.

    python -m bench.compare HOME PRICES MACRO SECTORS OUT_JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    home, prices, macro, sectors, out = sys.argv[1:6]
    os.environ.update(TRADEPIPE_HOME=home, TRADEPIPE_PRICES=prices, TRADEPIPE_MACRO=macro,
                      TRADEPIPE_SECTORS=sectors)
    import dagster as dg
    import duckdb
    import pandas as pd

    from assets.definitions import defs

    start = time.perf_counter()
    result = defs.resolve_job_def("compare_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    from ml.config import settings

    figures: dict = {"seconds": time.perf_counter() - start, "success": result.success,
                     # what the figures depend on beyond the data: the recipe and the comparison's settings
                     "settings": {"training": settings().training.model_dump(),
                                  "comparison": settings().comparison.model_dump(),
                                  "parallel": settings().parallel.model_dump(),
                                  "config_file": os.environ.get("TRADEPIPE_CONFIG", "")}}
    if result.success:
        with duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True) as con:
            table = con.execute("select * from ml.model_comparison").df()
            selection = con.execute("select * from ml.model_selection order by selected_at desc limit 1").df()
        for window in ("validation", "final"):
            part = table[table["window"] == window]
            figures[f"sharpe_{window}"] = part.pivot(index="model", columns="optimizer", values="sharpe").round(2).to_dict()
        row = selection.iloc[0]
        winner = "none" if pd.isna(row["winner_model"]) else f"{row['winner_model']} x {row['winner_optimizer']}"
        figures.update(winner=winner, reason=row["reason"],
                       deflated_sharpe=None if pd.isna(row["deflated_sharpe"]) else round(float(row["deflated_sharpe"]), 3),
                       n_trials=int(row["n_trials"]), stage_seconds=json.loads(row["seconds"]),
                       validation_start=str(row["validation_start"]), final_start=str(row["final_start"]))
    Path(out).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
