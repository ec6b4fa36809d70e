"""The local testbed through the real CLI: up, status, a replicated write, down, clean."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from _cli import EDGEPROOF, REPO, edgeproof, leftovers

from testbeds.processes import pid_alive
from testbeds.state import load_records

pytestmark = pytest.mark.integration


def _status(env: dict[str, str]) -> dict:
    return json.loads(edgeproof("status", "--json", env=env, check=True).stdout)


def test_up_status_replicates_and_down_leaves_nothing(ep_env: dict[str, str]) -> None:
    edgeproof("up", "examples/three-edge.yaml", env=ep_env, check=True)
    st = _status(ep_env)
    run_id = st["run_id"]
    assert [n["name"] for n in st["nodes"]] == ["edge-1", "edge-2", "edge-3"]
    assert all(n["healthy"] for n in st["nodes"]), st["nodes"]
    assert len(st["proxies"]) == 6 + 3  # 3 symmetric links x 2 directions + 3 client links
    # nodes listen on loopback or in the testbed's own namespaces (a private subnet on a
    # bridge of this machine only), never on an address another machine could reach
    assert all(n["client_url"] and ipaddress.ip_address(n["host"]).is_private
               for n in st["nodes"])
    urls = [n["client_url"] for n in st["nodes"]]
    r = httpx.put(f"{urls[0]}/kv/greeting", json={"value": 4242}, timeout=5)
    assert r.status_code == 200, r.text
    for url in urls[1:]:
        got = httpx.get(f"{url}/kv/greeting", timeout=5).json()
        assert got["value"] == 4242
    pids = [n["pid"] for n in st["nodes"]]
    assert leftovers(run_id)["processes"], "nodes should carry the run label"
    edgeproof("down", env=ep_env, check=True)
    assert not any(pid_alive(p) for p in pids)
    assert leftovers(run_id) == {"processes": [], "cgroups": [], "records": [], "nft tables": []}
    assert "no testbed is running" in edgeproof("status", env=ep_env).stdout


def _wait_for_load(env: dict[str, str], out: Path, timeout_s: float = 60) -> str:
    """Poll until the run's testbed is recorded and its history has operations."""
    deadline = time.monotonic() + timeout_s
    os.environ["EDGEPROOF_STATE_DIR"] = env["EDGEPROOF_STATE_DIR"]
    while time.monotonic() < deadline:
        records = load_records()
        hist = out / "history.jsonl"
        if records and hist.exists() and hist.stat().st_size > 2000:
            return records[0].run_id
        time.sleep(0.1)  # polling a file another process writes; bounded by the deadline
    raise AssertionError("the run did not start its load within the deadline")


def test_sigkilled_run_then_clean_leaves_nothing(ep_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([EDGEPROOF, "run", "examples/latency-step.yaml", "--out", str(out)],
                            env=ep_env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        run_id = _wait_for_load(ep_env, out)
        before = leftovers(run_id)
        assert before["processes"] and before["records"] == [run_id]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert leftovers(run_id)["processes"], "children outlive a SIGKILLed runner"
    finally:
        if proc.poll() is None:
            proc.kill()
    res = edgeproof("clean", env=ep_env, check=True)
    assert "reaped 1 testbed" in res.stdout
    assert leftovers(run_id) == {"processes": [], "cgroups": [], "records": [], "nft tables": []}
    assert "nothing to clean" in edgeproof("clean", env=ep_env, check=True).stdout


def test_stale_run_is_swept_by_the_next_up(ep_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([EDGEPROOF, "run", "examples/latency-step.yaml", "--out", str(out)],
                            env=ep_env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        stale = _wait_for_load(ep_env, out)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    edgeproof("up", "examples/three-edge.yaml", env=ep_env, check=True)
    assert leftovers(stale) == {"processes": [], "cgroups": [], "records": [], "nft tables": []}
    edgeproof("down", env=ep_env, check=True)


def test_sigterm_heals_and_tears_down(ep_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([EDGEPROOF, "run", "examples/latency-step.yaml", "--out", str(out)],
                            env=ep_env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = _wait_for_load(ep_env, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert leftovers(run_id) == {"processes": [], "cgroups": [], "records": [], "nft tables": []}
