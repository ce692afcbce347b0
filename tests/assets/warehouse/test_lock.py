"""One run at a time on a home: a second run fails at once, naming the holder."""

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.warehouse.lock import HomeLocked, holder_of, home_lock
from tests.helpers import WAREHOUSE_ONLY, materialize_pipeline, tiny_market

REPO = Path(__file__).resolve().parents[3]


def _hold_in_another_process(home: Path) -> subprocess.Popen:
    code = ("import sys, time; from pathlib import Path; from assets.warehouse.lock import home_lock\n"
            "with home_lock(Path(sys.argv[1]), holder='the other run'):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(home)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_fails_at_once_and_is_told_who_holds_the_home(tmp_path):
    home = tmp_path / "home"
    proc = _hold_in_another_process(home)
    try:
        started = time.perf_counter()
        with pytest.raises(HomeLocked, match=r"another run is using .*the other run \(pid \d+"):
            with home_lock(home, holder="me"):
                pass
        assert time.perf_counter() - started < 1.0
        assert holder_of(home)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    with home_lock(home, holder="me"):  # the operating system released the dead holder's lock
        assert holder_of(home)["holder"] == "me"
    assert holder_of(home) is None  # released: the file says nothing


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with home_lock(tmp_path, holder="outer"):
        with home_lock(tmp_path, holder="inner"):
            assert holder_of(tmp_path)["holder"] == "outer"
        assert holder_of(tmp_path)["holder"] == "outer"


def test_a_run_on_a_held_home_fails_before_any_step(tmp_path):
    home = tmp_path / "home"
    paths = tiny_market(tmp_path / "input")
    proc = _hold_in_another_process(home)
    try:
        result = materialize_pipeline(home, **paths, selection=WAREHOUSE_ONLY, raise_on_error=False)
    finally:
        proc.kill()
        proc.wait()
    assert not result.success
    assert not result.get_asset_materialization_events()
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
                or e.event_type == dg.DagsterEventType.RUN_FAILURE]
    assert any("the other run" in (e.event_specific_data.error.to_string() if getattr(e.event_specific_data, "error", None)
                                   else str(e.event_specific_data)) for e in failures)
    assert not (home / "warehouse.duckdb").exists()
