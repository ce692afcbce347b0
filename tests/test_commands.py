"""Every command a person is shown works as shown.

README.md: each command block says whether this test runs it, with an HTML comment on the line
before its fence (invisible on GitHub): `<!-- runs-in-test -->`, or `<!-- not-in-test: why -->`
for the whole demo, the whole suite or a server. The marked blocks run verbatim, in README order,
in a folder laid out like the project folder after `make demo`: `.venv` (this interpreter's) and
`.tradepipe` (a copy of the sample pipeline's home, at a path with a space, with its Dagster
instance folder). bash blocks run in bash, sql blocks in the DuckDB shell on the published
database (and each statement must return rows), python blocks in the project's Python.

Printed commands: the DuckDB shell and Python lines of `tradepipe summary`, the dagster command
of `tradepipe retrain` and the `connect` command of the publish asset's metadata, each pasted
into bash from another folder.

A command that fails fails its test with the command and its output. The environment is the
caller's without TRADEPIPE_* and DAGSTER_HOME (`make test` exports them), and without the
virtualenv on PATH (a bare `duckdb` or `dagster` must not pass by accident)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from assets import cli
from assets.publish import analytics_db
from assets.resources import TradepipeSettings
from tests.helpers import query

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUNS = "<!-- runs-in-test -->"
NOT_RUN = re.compile(r"<!-- not-in-test: (?P<why>\S.*?) -->")
MARK = re.compile(r"<!-- (runs-in-test|not-in-test)\b")
COMMAND_LANGUAGES = {"bash", "sh", "shell", "console", "sql", "python"}  # blocks that must say whether they run
RUNNABLE = {"bash", "sh", "sql", "python"}
# Fed to a printed DuckDB shell command: the sample's last date has 20 trades.
TRADES_QUERY = ".mode csv\nselect count(*) as n from trading.trades where date = '2017-11-10';\n"
# What `make setup` writes as the instance's dagster.yaml (Makefile, target dagster-home).
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
# The retrain command as printed, run with a cheap training config (the command does not name
# one): ridge on one-year windows instead of LightGBM on three, seconds instead of minutes.
LIGHT_TRAINING = '[training]\nmodel_type = "ridge"\ntrain_days = 252\ntest_days = 252\n'


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    mark: str | None  # "run", the reason it does not run, or None (unmarked)


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"(`{3,})\s*(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines))
                   if lines[j].startswith(fence.group(1)) and not lines[j].strip("`").strip())
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        not_run = NOT_RUN.fullmatch(before)
        mark = "run" if before == RUNS else not_run.group("why") if not_run else None
        blocks.append(Block(i + 1, fence.group(2), "\n".join(lines[i + 1:end]) + "\n", mark))
        i = end + 1
    return blocks


def _env(**extra: str) -> dict[str, str]:
    venv_bin = Path(sys.executable).parent.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_") and k != "DAGSTER_HOME"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != venv_bin)
    env.pop("VIRTUAL_ENV", None)
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"  # a shared machine: no thread oversubscription
    return {**env, **extra}


def run(command: str, cwd: Path, stdin: str = "", **env: str) -> str:
    """``command`` in bash (stop at the first failing line, each line traced), in ``cwd``."""
    done = subprocess.run(["bash", "-e", "-x", "-o", "pipefail", "-c", command], cwd=cwd, env=_env(**env),
                          input=stdin, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (f"exit code {done.returncode} from\n{command}\nin {cwd}\n"
                                  f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="module")
def project(sample_home, tmp_path_factory) -> Path:
    """A folder laid out like the project folder after `make demo`."""
    base = tmp_path_factory.mktemp("commands")
    home = base / "home copy"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML)
    folder = base / "my project"
    folder.mkdir()
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    (folder / ".tradepipe").symlink_to(home, target_is_directory=True)
    return folder


def test_every_command_block_of_the_readme_says_whether_it_runs():
    blocks = readme_blocks()
    unmarked = [f"README.md:{b.line} (```{b.language})" for b in blocks
                if b.language in COMMAND_LANGUAGES and b.mark is None]
    assert not unmarked, (f"command blocks without {RUNS} or <!-- not-in-test: why --> on the line "
                          f"before the fence: {unmarked}")
    runs = [b for b in blocks if b.mark == "run"]
    assert all(b.language in RUNNABLE for b in runs), [(b.line, b.language) for b in runs]
    lines = README.read_text().splitlines()
    marks = [i + 1 for i, line in enumerate(lines) if MARK.match(line.strip())]
    assert len(marks) == sum(b.mark is not None for b in blocks), (
        f"a mark on lines {marks} is not on the line before a fence, or is misspelled")


RUN_BLOCKS = [b for b in readme_blocks() if b.mark == "run"]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[f"README.md:{b.line}" for b in RUN_BLOCKS])
def test_readme_block_runs(block, project):
    if block.language == "python":
        run(".venv/bin/python -", project, stdin=block.text)
    elif block.language == "sql":
        run(".venv/bin/duckdb -readonly .tradepipe/analytics.duckdb", project, stdin=block.text)
        with duckdb.connect(str(project / ".tradepipe" / "analytics.duckdb"), read_only=True) as con:
            for statement in duckdb.extract_statements(block.text):
                assert con.sql(statement.query).fetchall(), f"no rows on the sample from\n{statement.query}"
    else:
        run(block.text, project)
    for day in re.findall(r"--partition (\d{4}-\d{2}-\d{2})", block.text):  # a backfill: the date was decided
        for table in ("trading.target_weights", "trading.positions"):
            assert query(project / ".tradepipe", f"select count(*) as n from {table} where date = '{day}'").n[0] > 0


def _printed(capsys, monkeypatch, project: Path, *argv: str) -> str:
    """What `tradepipe <argv>` prints for the project's home (in this process: the same text)."""
    monkeypatch.setenv("TRADEPIPE_HOME", str(project / ".tradepipe"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    capsys.readouterr()
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


def test_summary_prints_commands_that_open_the_published_database(project, capsys, monkeypatch, tmp_path):
    out = _printed(capsys, monkeypatch, project, "summary")
    shell = next(line.removeprefix("query it:").strip() for line in out.splitlines() if line.startswith("query it:"))
    assert "'" in shell  # the home's path has a space: quoted
    assert run(shell, tmp_path, stdin=TRADES_QUERY).split() == ["n", "20"]
    python = next(line.split("from Python:")[1].strip() for line in out.splitlines() if "from Python:" in line)
    code = f"import duckdb; print({python}.sql('select 42').fetchone())"
    assert run(f".venv/bin/python -c {shlex.quote(code)}", project) == "(42,)\n"


def test_the_publish_asset_shows_a_command_that_opens_its_database(project, tmp_path):
    home = (project / ".tradepipe").resolve()
    result = analytics_db(settings=TradepipeSettings(home=str(home)))
    shell = result.metadata["connect"].value.strip("`")
    assert str(home / "analytics.duckdb") in shell.replace("'", "")
    assert run(shell, tmp_path, stdin=TRADES_QUERY).split() == ["n", "20"]


def test_retrain_prints_a_command_that_retrains(project, capsys, monkeypatch, tmp_path):
    out = _printed(capsys, monkeypatch, project, "retrain")
    command = next(line.strip() for line in out.splitlines() if " asset materialize " in line)
    assert command.startswith("DAGSTER_HOME=")  # the instance folder exists: the run is recorded there
    light = tmp_path / "light.toml"
    light.write_text(LIGHT_TRAINING)
    home = project / ".tradepipe"
    before = query(home, "select count(*) as n from ml.model_registry where model_type = 'ridge'").n[0]
    run(command, tmp_path, TRADEPIPE_CONFIG=str(light))
    after = query(home, "select count(*) as n from ml.model_registry where model_type = 'ridge' "
                        "and status in ('champion', 'challenger')").n[0]
    assert before == 0 and after == 1

