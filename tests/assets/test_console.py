"""The console of command-line runs (assets/console.py) and dbt's lines in the run's log (assets/dbt.py)."""

import re

import dagster as dg

from assets.console import console_logger
from assets.dbt import DbtConsole


@dg.asset
def fitted(context: dg.AssetExecutionContext) -> None:
    context.log.info("fold 1 of 2")
    context.log.debug("a detail")


@dg.asset_check(asset=fitted, blocking=True)
def enough_names() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="3 names < 10")


@dg.asset(deps=[fitted])
def traded() -> None:
    pass


def _run(level: str, capsys) -> list[str]:
    defs = dg.Definitions(assets=[fitted, traded], asset_checks=[enough_names], loggers={"console": console_logger})
    job = defs.resolve_implicit_global_asset_job_def()
    job.execute_in_process(run_config={"loggers": {"console": {"config": {"log_level": level}}}},
                           raise_on_error=False)
    # "HH:MM:SS LEVEL   where: message"; the first line of each record
    return [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in capsys.readouterr().err.splitlines()
            if re.match(r"^\d\d:\d\d:\d\d ", line)]


def test_info_shows_progress_step_ends_failed_checks_and_errors_only(capsys):
    lines = _run("INFO", capsys)
    assert lines[:2] == ["INFO    fitted: fold 1 of 2", "INFO    fitted: done in " + lines[1].split("in ")[1]]
    assert "ERROR   fitted_enough_names: check enough_names on fitted failed (blocking): 3 names < 10" in lines
    assert any(line.startswith("ERROR   traded: Dependencies for step traded failed") for line in lines)
    assert not any("a detail" in line or "STEP_START" in line or "Started execution" in line for line in lines)
    assert len(lines) <= 6


def test_debug_shows_every_event(capsys):
    lines = _run("DEBUG", capsys)
    assert "DEBUG   fitted: a detail" in lines
    assert any("Started execution of step" in line for line in lines)


class _Log:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda message: self.lines.append((level, message))


def test_dbt_lines_go_to_the_log_at_their_level():
    log = _Log()
    console = DbtConsole(log)
    console.write("Running with dbt=1.11.16\n1 of 76 START sql view model staging.stg_raw__prices ..... [RUN]\n")
    console.write("12 of 76 FAIL 3 unique_stg_raw__prices_ticker ...... [\x1b[31mFAIL 3\x1b[0m in 0.2s]\n\n")
    console.write("Done. PASS=75 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=76")  # no newline: kept until finish
    assert len(log.lines) == 3
    console.finish()
    assert log.lines == [
        ("debug", "dbt: Running with dbt=1.11.16"),
        ("debug", "dbt: 1 of 76 START sql view model staging.stg_raw__prices ..... [RUN]"),
        ("warning", "dbt: 12 of 76 FAIL 3 unique_stg_raw__prices_ticker ...... [FAIL 3 in 0.2s]"),
        ("info", "dbt: Done. PASS=75 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=76"),
    ]
