"""Session fixtures: the pipeline materialized once on the bundled sample and on a tiny market."""

import os
import shutil
from pathlib import Path

import pytest

# The suite checks the root tradepipe.toml's defaults: an override in the caller's environment
# (make demo TRADEPIPE_CONFIG=...) must not change them. Before any config is read.
os.environ.pop("TRADEPIPE_CONFIG", None)

from tests.helpers import WAREHOUSE_ONLY, materialize_pipeline, tiny_market


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
