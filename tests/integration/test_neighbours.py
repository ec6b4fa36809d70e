"""Neighbours are safe: `clean`, `down` and the start-up sweep never touch a live testbed of
any state dir; a run whose testbed is taken from under it says so; clocks are reset; a data
dir with a space in its path stays one argument."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli import EDGEPROOF, edgeproof

from testbeds import cgroups
from testbeds.processes import pid_alive

pytestmark = pytest.mark.integration

LIMITED = textwrap.dedent("""\
    name: neighbour
    testbed:
      nodes:
        - {name: n1, hardware: {cpus: 0.5, memory_mb: 128}}
        - {name: n2, hardware: {cpus: 0.5, memory_mb: 128}}
      links: [{between: [n1, n2]}]
    """)


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "EDGEPROOF_STATE_DIR": str(state), "COLUMNS": "200"}


def _record(state: Path) -> dict[str, Any]:
    files = sorted((state / "testbeds").glob("*.json"))
    assert len(files) == 1, files
    return dict(json.loads(files[0].read_text()))


@pytest.fixture
def two_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two state dirs, as two sessions sharing one machine; both cleaned afterwards."""
    a, b = tmp_path / "state-a", tmp_path / "state-b"
    yield a, b
    for s in (a, b):
        subprocess.run([EDGEPROOF, "clean", "--force"], env=_env(s), capture_output=True,
                       timeout=60)


def test_clean_from_another_state_dir_leaves_a_crashed_node_testbed_intact(
        two_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    if not cgroups.probe().available:
        pytest.fail("cgroups are not writable here: run as root (CI does)")
    a, b = two_dirs
    (tmp_path / "tb.yaml").write_text(LIMITED)
    edgeproof("up", str(tmp_path / "tb.yaml"), env=_env(a), check=True)
    rec = _record(a)
    node = rec["nodes"]["n1"]
    assert node["cgroups"], node
    os.kill(node["pid"], signal.SIGKILL)  # the node crashed, its cgroups are empty now
    deadline = time.monotonic() + 5
    while pid_alive(node["pid"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    old = time.time() - 600  # and long ago: neither emptiness nor age means orphaned
    for g in node["cgroups"]:
        os.utime(g, (old, old))
    proc = edgeproof("clean", env=_env(b), check=True)
    missing = [g for g in node["cgroups"] if not Path(g).is_dir()]
    assert not missing, f"clean in another state dir removed a live testbed's cgroups " \
        f"{missing}: {proc.stdout}"
    assert (a / "testbeds" / f"{rec['run_id']}.json").exists()
    edgeproof("down", env=_env(a), check=True)
    assert not [g for g in node["cgroups"] if Path(g).is_dir()]


SLOW_RUN = textwrap.dedent("""\
    name: owned
    testbed:
      nodes: [{name: e1}, {name: e2}, {name: e3}]
      links:
        - {between: [e1, e2]}
        - {between: [e2, e3]}
        - {between: [e1, e3]}
    workload: {users: 3, think_time_ms: 50, duration_s: 25, keys: 5}
    checks:
      latency: null
      durability: {}
    """)


def _wait_for(pred: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling a file another process writes, bounded


def test_down_refuses_a_running_runs_testbed_and_the_run_reports_it_lost(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = _env(state)
    (tmp_path / "run.yaml").write_text(SLOW_RUN)
    out = tmp_path / "out"
    run = subprocess.Popen([EDGEPROOF, "run", str(tmp_path / "run.yaml"), "--out", str(out)],
                           env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: (out / "history.jsonl").exists()
                  and (out / "history.jsonl").stat().st_size > 0, 90, "the load to start")
        run_id = _record(state)["run_id"]
        plain = edgeproof("down", env=env)
        assert plain.returncode == 0 and "no testbed started by `edgeproof up`" in plain.stdout
        assert run_id in plain.stdout, plain.stdout
        named = edgeproof("down", "--run-id", run_id, env=env)
        assert named.returncode == 2, named.stdout + named.stderr
        assert "--force" in named.stdout + named.stderr
        assert (state / "testbeds" / f"{run_id}.json").exists()
        edgeproof("down", "--run-id", run_id, "--force", env=env, check=True)
        text, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, text
    res = json.loads((out / "results.json").read_text())
    assert res["verdict"] == "unknown", res["verdict"]
    assert "testbed_lost" in res, res.keys()
    assert all(c["verdict"] == "unknown" and "testbed lost" in c["detail"]
               for c in res["checks"]), res["checks"]


CLOCKED = textwrap.dedent("""\
    name: skewed
    testbed:
      nodes: [{name: c1}, {name: c2}]
      links: [{between: [c1, c2]}]
    workload: {users: 2, think_time_ms: 50, duration_s: 30, keys: 5}
    faults: [{at_s: 1, for_s: 25, kind: clock_skew, node: c1, offset_s: 30}]
    checks: {latency: null}
    """)


def test_clean_resets_the_clock_offsets_a_killed_run_left(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = _env(state)
    (tmp_path / "clk.yaml").write_text(CLOCKED)
    out = tmp_path / "out"
    run = subprocess.Popen([EDGEPROOF, "run", str(tmp_path / "clk.yaml"), "--out", str(out),
                            "-q"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        def skewed() -> bool:
            files = list((out / "testbed" / "clocks").glob("*.offset"))
            return any(_offset(f) > 1 for f in files)
        _wait_for(skewed, 90, "the clock skew to be applied")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
    edgeproof("clean", env=env, check=True)
    offsets = {f.name: _offset(f) for f in (out / "testbed" / "clocks").glob("*.offset")}
    assert offsets and all(v == 0 for v in offsets.values()), offsets


def _offset(f: Path) -> float:
    try:
        return float(f.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def test_a_command_node_whose_data_dir_has_a_space_starts(tmp_path: Path) -> None:
    state = tmp_path / "with space" / "state's"
    env = _env(state)
    (tmp_path / "srv.yaml").write_text(textwrap.dedent("""\
        name: spaced
        testbed:
          nodes:
            - name: web
              command: "python3 -m http.server {ports.main} --bind {host} --directory {data_dir}"
              ready: {tcp: main}
        """))
    try:
        edgeproof("up", str(tmp_path / "srv.yaml"), env=env, check=True, timeout=90)
        st = json.loads(edgeproof("status", "--json", env=env, check=True).stdout)
        web = st["nodes"][0]
        assert web["running"] and web["healthy"], web
    finally:
        edgeproof("down", env=env)
