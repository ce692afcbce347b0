"""The Dagster UI in a browser: the webserver on a free loopback port, the asset graph rendered by
headless Chromium, daily_job launched through the UI's GraphQL API, its assets and checks, a
screenshot, and a clean stop. Skipped, saying why, only where no Chromium is installed."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from tests.helpers import SAMPLE_LAST_DATE

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium; "
                                                          "`make test` tries to install it)")
KEY_ASSETS = {("ml", "daily_predictions"), ("trading", "signals"), ("trading", "target_weights"),
              ("trading", "trades"), ("trading", "positions"), ("reports", "daily_report"), ("publish", "analytics_db")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _wait_for_server(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "dagster dev exited during start-up"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"the webserver did not answer on port {port} within {timeout}s")


def _wait_for_code_location(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    """The webserver answers before its code location has loaded (the UI then shows no assets yet):
    wait until every location is LOADED; a location that failed to load fails the test with its error."""
    query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "dagster dev exited while loading the code location"
        entries = _graphql(port, query)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e["locationOrLoadError"] for e in entries
                      if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
            assert not errors, f"the code location failed to load: {errors}"
            return
        time.sleep(1)
    raise TimeoutError(f"the code location did not load within {timeout}s")


def _chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1600,1000", "--virtual-time-budget=20000", *args, url],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def webserver(sample_home, tmp_path):
    """`dagster dev` on a copy of the sample home, in its own process group so it can be stopped."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "TRADEPIPE_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    log = open(tmp_path / "dagster_dev.log", "w")
    process = subprocess.Popen([str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_server(port, process)
        _wait_for_code_location(port, process)
        yield port, dagster_home, tmp_path
    finally:
        # SIGINT is what Ctrl-C sends and what dagster dev shuts down cleanly on; without a terminal
        # it may ignore SIGTERM, and its clean shutdown can take 30 s or more: after 5 s the whole
        # process group goes (webserver, daemon, code server). The test's copy of the home is thrown away.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
    assert process.poll() is not None


def test_the_ui_shows_the_graph_and_runs_the_daily_job(webserver):
    port, dagster_home, folder = webserver

    dom = _chromium(f"http://127.0.0.1:{port}/asset-groups", "--dump-dom").stdout
    rendered = [g for g in ("ingest", "marts", "regimes", "training", "trading", "reports", "publish")
                if f">{g}<" in dom]
    assert len(rendered) == 7 and "Materialize all" in dom, (
        f"the asset graph did not render: groups {rendered} in a page of {len(dom)} characters")
    _chromium(f"http://127.0.0.1:{port}/asset-groups", f"--screenshot={folder / 'asset_graph.png'}")

    location = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location "
                              "{ name } } } } }")["repositoriesOrError"]["nodes"][0]
    assert location["location"]["name"] == "tradepipe"  # workspace.yaml names the code location
    launched = _graphql(port, """
        mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                        {"params": {"selector": {"repositoryLocationName": location["location"]["name"],
                                                 "repositoryName": location["name"], "jobName": "daily_job"},
                                    "runConfigData": {},
                                    "executionMetadata": {"tags": [{"key": "dagster/partition",
                                                                    "value": SAMPLE_LAST_DATE}]}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    status, deadline = None, time.time() + 420
    while time.time() < deadline:
        status = _graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                          {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(3)
    assert status == "SUCCESS", f"daily_job ended {status}; see {folder / 'dagster_dev.log'}"

    instance = DagsterInstance.from_config(str(dagster_home))
    materialized = {tuple(r.event_log_entry.dagster_event.asset_key.path) for r in
                    instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records}
    assert KEY_ASSETS <= materialized
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in
                   instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
    blocking = {e.check_name: e.passed for e in evaluations
                if e.check_name in ("portfolio_within_limits", "trades_within_limits", "kill_switch_clear",
                                    "latest_date_coverage", "every_universe_ticker_scored")}
    assert blocking and all(blocking.values()), blocking

    shot = folder / "daily_job_run.png"
    _chromium(f"http://127.0.0.1:{port}/runs/{run_id}", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 20_000
