"""The new-data sensor: a run for the newest date when price files land, nothing when they do not."""

import dagster as dg
import pandas as pd
import pytest

from assets.definitions import defs
from assets.resources import TradepipeSettings
from assets.sensors import new_prices_sensor


def _write(folder, name, dates):
    rows = [{"date": d, "ticker": "A", "open": 10, "high": 11, "low": 9, "close": 10, "volume": 100} for d in dates]
    pd.DataFrame(rows).to_csv(folder / name, index=False)


def _tick(folder, cursor=None):
    # the settings resource has a lifecycle (the run lock, taken only inside runs): open it as Dagster does
    with dg.build_sensor_context(cursor=cursor, repository_def=defs.get_repository_def(),
                                 resources={"settings": TradepipeSettings(prices=str(folder))}) as context:
        return new_prices_sensor(context), context


def test_runs_for_the_newest_date_when_files_land_and_only_then(tmp_path):
    _write(tmp_path, "2024-07-01.csv", ["2024-06-28", "2024-07-01"])
    result, context = _tick(tmp_path)
    assert isinstance(result, dg.RunRequest) and result.partition_key == "2024-07-01"
    again, _ = _tick(tmp_path, context.cursor)
    assert isinstance(again, dg.SkipReason)
    _write(tmp_path, "2024-07-02.csv", ["2024-07-02"])
    newer, context2 = _tick(tmp_path, context.cursor)
    assert isinstance(newer, dg.RunRequest) and newer.partition_key == "2024-07-02"
    assert newer.run_key != result.run_key and "2024-07-02.csv" in newer.tags["files"]


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="no data files"):
        _tick(tmp_path)


def test_the_sensor_is_defined_stopped():
    assert new_prices_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert new_prices_sensor.job_name == "daily_job"
