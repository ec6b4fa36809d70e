"""The first hour of a new user, as typed: `edgeproof run` from a directory outside the
checkout (with spaces in its name), with the default run directory and a relative --out, a
relative locustfile, a plain third-party locustfile, progress in a log, and an exploration
whose runs cannot start."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from _cli import EDGEPROOF, accuracy_applies, leftovers

pytestmark = pytest.mark.integration

QUORUM = """\
name: first-hour
seed: 4
testbed:
  nodes: [{name: a}, {name: b}, {name: c}]
  links:
    - {between: [a, b], latency_ms: 1}
    - {between: [b, c], latency_ms: 1}
    - {between: [a, c], latency_ms: 1}
workload: {users: 6, think_time_ms: 40, duration_s: 7, keys: 5}
checks: {latency: null, consistency: {}, durability: {}}
"""

PLAIN = '''\
import os
from pathlib import Path

from locust import FastHttpUser, between, events, task

MARK = Path(os.environ["EP_TEST_MARK"])


@events.init.add_listener
def on_init(environment, **kwargs):
    MARK.write_text("init\\n")


@events.test_start.add_listener
def on_start(environment, **kwargs):
    with MARK.open("a") as f:
        f.write("test_start\\n")


@events.test_stop.add_listener
def on_stop(environment, **kwargs):
    with MARK.open("a") as f:
        f.write("test_stop\\n")


class Plain(FastHttpUser):
    wait_time = between(0.01, 0.03)

    @task(3)
    def read_item(self):
        self.client.get("/kv/item", name="get item")

    @task
    def write_item(self):
        self.client.put("/kv/item", json={"value": 1}, name="put item")
'''


def run_ep(*args: str, cwd: Path, env: dict[str, str],
           timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGEPROOF, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the checkout, with a space in its name."""
    d = tmp_path / "a user's dir"
    d.mkdir()
    return d


def test_run_with_the_default_run_directory_from_outside(
        elsewhere: Path, ep_env: dict[str, str], quiet_host: float,
        request: pytest.FixtureRequest) -> None:
    scenario = elsewhere.parent / "scenarios dir" / "first-hour.yaml"
    scenario.parent.mkdir()
    scenario.write_text(QUORUM)
    proc = run_ep("run", str(scenario), cwd=elsewhere, env=ep_env)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    runs = [p for p in (elsewhere / "reports").iterdir() if p.name != "latest"]
    assert len(runs) == 1 and runs[0].name.endswith("-first-hour"), runs
    res = json.loads((runs[0] / "results.json").read_text())
    assert res["t0_ns"] > 0
    if accuracy_applies(res, request.node.nodeid):
        assert proc.returncode == 0 and res["verdict"] == "pass", proc.stdout + proc.stderr
    latest = elsewhere / "reports" / "latest"
    assert latest.is_symlink() and latest.resolve() == runs[0].resolve()
    # progress in a log: plain timestamped lines, not a terminal's live display
    assert re.search(r"^\[\d\d:\d\d:\d\d\] phase baseline · ", proc.stderr, re.M), proc.stderr
    assert leftovers() == {"processes": [], "cgroups": [], "records": [], "nft tables": []}


def test_run_with_a_relative_out_and_a_relative_scenario(elsewhere: Path,
                                                         ep_env: dict[str, str]) -> None:
    (elsewhere.parent / "scen").mkdir()
    (elsewhere.parent / "scen" / "s.yaml").write_text(QUORUM)
    proc = run_ep("run", "../scen/s.yaml", "--out", "out dir/r1", "-q", cwd=elsewhere,
                  env=ep_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = elsewhere / "out dir" / "r1"
    res = json.loads((out / "results.json").read_text())
    assert not re.search(r"^\[\d\d:\d\d:\d\d\]", proc.stderr, re.M), "-q: no progress"
    assert "first-hour: pass" in proc.stdout, proc.stdout  # -q keeps the verdict table
    # the reproduce line names the scenario absolutely, quoted: it works pasted anywhere
    cmd = shlex.split(res["reproduce"])
    assert cmd[:2] == ["edgeproof", "run"] and Path(cmd[2]).is_absolute(), cmd
    assert Path(cmd[2]).resolve() == (elsewhere.parent / "scen" / "s.yaml").resolve()


def test_plain_locustfile_relative_to_its_scenario(elsewhere: Path, tmp_path: Path,
                                                   ep_env: dict[str, str]) -> None:
    (tmp_path / "lf").mkdir()
    (tmp_path / "lf" / "plain.py").write_text(PLAIN)
    scen = tmp_path / "scen"
    scen.mkdir()
    (scen / "plain.yaml").write_text(QUORUM.replace(
        "workload: {users: 6,", "workload: {locustfile: ../lf/plain.py, users: 6,").replace(
        "checks: {latency: null, consistency: {}, durability: {}}",
        "checks: {latency: {tolerance: 5, min_samples: 5}, consistency: {}}"))
    mark = tmp_path / "mark.txt"
    proc = run_ep("run", str(scen / "plain.yaml"), "--out", "run", "-q", cwd=elsewhere,
                  env={**ep_env, "EP_TEST_MARK": str(mark)})
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert mark.read_text().split() == ["init", "test_start", "test_stop"]
    res = json.loads((elsewhere / "run" / "results.json").read_text())
    # every Locust request is an operation: Locust's count and the history agree
    assert res["locust"]["requests"] == res["workload"]["ops"] > 50, res["locust"]
    events = [json.loads(line) for line in
              (elsewhere / "run" / "history.jsonl").read_text().splitlines()]
    assert {e["node"] for e in events} == {"a", "b", "c"}, "users spread over the targets"
    assert {e["f"] for e in events} == {"get item", "put item"}
    checks = {c["kind"]: c for c in res["checks"]}
    assert checks["consistency"]["verdict"] == "unknown", checks["consistency"]
    assert isinstance(res["latency_ms"]["mean"], float), res["latency_ms"]  # not "mean nan"


def test_missing_locustfile_is_bad_input_before_anything_starts(
        elsewhere: Path, ep_env: dict[str, str]) -> None:
    scen = elsewhere / "s.yaml"
    scen.write_text(QUORUM.replace("workload: {users: 6,",
                                   "workload: {locustfile: nowhere/lf.py, users: 6,"))
    proc = run_ep("run", "s.yaml", cwd=elsewhere, env=ep_env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "workload.locustfile (line 9)" in err and str(elsewhere / "nowhere" / "lf.py") in err
    assert "Traceback" not in proc.stderr and not (elsewhere / "reports").exists()
    assert leftovers()["records"] == []


BROKEN = """\
name: broken
testbed:
  nodes:
    - {name: a, command: "sh -c 'exit 3'", ports: [main], ready: {tcp: main}}
workload: {users: 1, duration_s: 4}
checks: {latency: null, consistency: {}}
explore: {kinds: [crash], max_faults: 1}
"""


def test_explore_whose_every_run_fails_to_start_exits_2(elsewhere: Path,
                                                        ep_env: dict[str, str]) -> None:
    (elsewhere / "broken.yaml").write_text(BROKEN)
    proc = run_ep("explore", "broken.yaml", "--budget", "1", cwd=elsewhere, env=ep_env,
                  timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "could complete" in proc.stderr and "exited with code 3" in proc.stderr, proc.stderr
    found = list((elsewhere / "reports").glob("*-explore-broken/explore.html"))
    assert found, "explore.html is written in its output folder"
