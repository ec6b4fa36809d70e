"""`edgeproof explore` with the real console script: on the eventual-mode scenario it finds a
failing schedule, shrinks it and writes a minimal.yaml that fails again under `edgeproof
run`; on a scenario whose allowed faults cannot break it, it exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _cli import edgeproof

pytestmark = pytest.mark.integration

SAFE = """\
name: quorum-latency-only
seed: 5
testbed:
  service: {mode: quorum, replica_timeout_ms: 500}
  nodes:
    - {name: edge-1, hardware: {workers: 4, service_ms: 2}}
    - {name: edge-2, hardware: {workers: 4, service_ms: 2}}
    - {name: edge-3, hardware: {workers: 4, service_ms: 2}}
  links:
    - {between: [edge-1, edge-2], latency_ms: 1}
    - {between: [edge-2, edge-3], latency_ms: 1}
    - {between: [edge-1, edge-3], latency_ms: 1}
workload: {users: 6, think_time_ms: 50, duration_s: 30, keys: 10, timeout_ms: 1000}
faults:
  - {at_s: 5, for_s: 5, kind: partition, isolate: edge-3}
checks:
  latency: null
  consistency: {model: linearizable}
explore:
  kinds: [latency]
  max_faults: 1
  min_faults: 1
  duration_s: 6
  latency_ms: [5, 30]
"""


def test_explore_eventual_finds_and_shrinks(ep_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "explore"
    proc = edgeproof("explore", "examples/eventual-partition.yaml", "--budget", "6",
                     "--duration-s", "6", "--out", str(out), env=ep_env, timeout=200)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    minimal = out / "minimal.yaml"
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("explore: ") and "found a failing schedule" in line, line
    assert f"reproduce: edgeproof run {minimal}" in line

    report = json.loads((out / "explore.json").read_text())
    assert report["runs"] <= 6 and report["exit_code"] == 1
    assert report["minimal"]["verdict"] == "fail"
    assert all(e["verdict"] in ("pass", "fail", "unknown") for e in report["examples"])
    scn = yaml.safe_load(minimal.read_text())
    assert len(scn["faults"]) <= 2 and "chaos" not in scn and "explore" not in scn
    assert scn["workload"]["duration_s"] == 6

    rerun = edgeproof("run", str(minimal), "--out", str(tmp_path / "rerun"), env=ep_env,
                      timeout=120)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr


def test_explore_cannot_fail_exits_0(ep_env: dict[str, str], tmp_path: Path) -> None:
    scenario = tmp_path / "safe.yaml"
    scenario.write_text(SAFE)
    out = tmp_path / "explore"
    proc = edgeproof("explore", str(scenario), "--budget", "2", "--out", str(out), env=ep_env,
                     timeout=150)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("explore: 2 run(s), no failing schedule found"), line
    report = json.loads((out / "explore.json").read_text())
    assert report["minimal"] is None and report["runs"] == 2
    assert not (out / "minimal.yaml").exists()
    for e in report["examples"]:
        assert e["verdict"] == "pass", e
        assert len(e["faults"]) == 1 and e["faults"][0]["kind"] == "latency"
        assert 5 <= e["faults"][0]["ms"] <= 30


def test_explore_bad_input_exits_2(ep_env: dict[str, str], tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(SAFE.replace("kinds: [latency]", "kinds: [latency, meteor]"))
    proc = edgeproof("explore", str(scenario), "--budget", "2", env=ep_env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "explore.kinds[1]" in proc.stderr and str(scenario) in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = edgeproof("explore", str(scenario), "--budget", "0", env=ep_env, timeout=60)
    assert proc.returncode == 2 and "--budget" in proc.stderr
