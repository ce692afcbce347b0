"""The new-data sensor: starts daily_job for the newest market date when price files land in (or
change under) TRADEPIPE_PRICES. Created stopped, like the schedules."""

import hashlib
import json

import dagster as dg

from assets.jobs import daily_job
from assets.resources import TradepipeSettings
from ml.ingest import latest_date, resolve_files


@dg.sensor(job=daily_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Runs daily_job for the newest market date when price files are added or changed.")
def new_prices_sensor(context: dg.SensorEvaluationContext, settings: TradepipeSettings):
    files = resolve_files(settings.prices)
    seen = json.loads(context.cursor) if context.cursor else {}
    now = {str(f): [f.stat().st_mtime_ns, f.stat().st_size] for f in files}
    changed = [f for f in files if seen.get(str(f)) != now[str(f)]]
    if not changed:
        return dg.SkipReason(f"no new or changed price files under {settings.prices}")
    day = latest_date(changed)
    context.update_cursor(json.dumps(now))
    digest = hashlib.sha1(json.dumps(now, sort_keys=True).encode()).hexdigest()[:12]
    return dg.RunRequest(run_key=f"prices-{day}-{digest}", partition_key=day,
                         tags={"market_date": day, "trigger": "new_prices_sensor",
                               "files": ", ".join(f.name for f in changed[:5])})
