"""Session fixtures: the pipeline materialized once on the bundled sample and on a tiny market."""

import functools
import os
import re
import shutil
from pathlib import Path

import pytest

# The suite checks the root tradepipe.toml's defaults: an override in the caller's environment
# (make demo TRADEPIPE_CONFIG=...) must not change them. Before any config is read.
os.environ.pop("TRADEPIPE_CONFIG", None)

from tests.helpers import WAREHOUSE_ONLY, materialize_pipeline, tiny_market

# pytest-xdist (`-n auto --dist loadfile`, pyproject.toml) runs each test file on one worker, so a
# file's module fixtures are built once. The files that use a shared pipeline home (the fixtures
# below; home_copy copies the sample's) also go together, one unit per home: each home is built
# once per run instead of once per worker. (`--dist loadgroup` would need per-test markers, which
# xdist 3.8 cannot read from pytest 9.2's node ids.)
SHARED_HOMES = {"sample_home": ("sample_home", "home_copy"), "tiny_home": ("tiny_home",)}


@functools.cache
def _work_unit(path: str) -> str:
    """The xdist work unit of a test file: the shared home it names, or the file itself."""
    text = (Path(__file__).resolve().parents[1] / path).read_text()
    for home, names in SHARED_HOMES.items():
        if any(re.search(rf"\b{name}\b", text) for name in names):
            return home
    return path


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedHomeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid.split("::")[0])

    return SharedHomeScheduling(config, log)


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory) -> Path:
    """The whole pipeline materialized once on the bundled sample."""
    home = tmp_path_factory.mktemp("sample_home")
    materialize_pipeline(home)
    return home


@pytest.fixture
def home_copy(sample_home, tmp_path) -> Path:
    """A copy of the sample's home for a test that writes to it: the session's home stays as built."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    return home


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The pipeline materialized on the crafted tiny market."""
    home = tmp_path_factory.mktemp("tiny_home")
    paths = tiny_market(home / "input")
    materialize_pipeline(home, **paths, selection=WAREHOUSE_ONLY)
    return home, paths
