"""`edgeproof check HISTORY --model linearizable` through the real console script."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli import EDGEPROOF, edgeproof

from harness.checks.lin import native
from harness.checks.lin.gen import inject_stale_read, simulate_register

pytestmark = pytest.mark.integration


def _write(path: Path, events: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    """20k operations of a correct register: 16 processes, 32 keys, some fail/info."""
    return simulate_register(20260, n_ops=20_000, processes=16, keys=32, p_info=0.01,
                             p_fail=0.01, mean_gap_ns=200_000, mean_latency_ns=1_000_000)


def test_linearizable_20k_history_holds(tmp_path: Path, ep_env: dict[str, str],
                                        history: list[dict[str, Any]]) -> None:
    path = _write(tmp_path / "h.jsonl", history, tail='{"process": 3, "type": "ok", "f')
    proc = edgeproof("check", str(path), "--model", "linearizable", env=ep_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "linearizable: 20000 register operations" in proc.stdout.replace("\n", " ") or \
        "linearizable:" in proc.stdout


def test_one_stale_read_is_violated_naming_the_ops(tmp_path: Path, ep_env: dict[str, str],
                                                   history: list[dict[str, Any]]) -> None:
    injected = inject_stale_read(history, random.Random(7))
    assert injected is not None
    bad, read = injected
    path = _write(tmp_path / "bad.jsonl", bad)
    proc = edgeproof("check", str(path), env=ep_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = " ".join(proc.stdout.split())
    assert "not linearizable" in text and f"by process {read['process']}" in text
    assert "minimal non-linearizable sub-history" in text and "Traceback" not in text

    proc = edgeproof("check", str(path), "--json", env=ep_env)
    assert proc.returncode == 1
    res = json.loads(proc.stdout)
    (v,) = res["violations"]
    assert v["key"] == read["key"] and v["minimal"]
    reads = [o for o in v["witness"] if o["f"] == "read"]
    assert any(o["process"] == read["process"] and o["end_ns"] == read["time_ns"]
               and o["value"] == read["value"] for o in reads)
    assert 2 <= len(v["witness"]) <= 4


def _bad(tmp_path: Path, ep_env: dict[str, str], *args: str) -> str:
    proc = edgeproof("check", *args, env=ep_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr
    return " ".join(proc.stderr.split())


def test_bad_input_exits_2(tmp_path: Path, ep_env: dict[str, str]) -> None:
    ev = simulate_register(1, n_ops=10, processes=2, keys=1)
    assert "no such history file" in _bad(tmp_path, ep_env, str(tmp_path / "nope.jsonl"))
    lines = [json.dumps(e) for e in ev]
    p = tmp_path / "malformed.jsonl"
    p.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n")
    assert "line 4 is not valid JSON" in _bad(tmp_path, ep_env, str(p))
    inv = next(e for e in ev if e["type"] == "invoke")
    p = _write(tmp_path / "unpaired.jsonl", [inv, dict(inv, time_ns=inv["time_ns"] + 1)])
    assert "line 2: process" in _bad(tmp_path, ep_env, str(p))
    p = _write(tmp_path / "notime.jsonl", [dict(inv, time_ns="soon")])
    assert "line 1: 'time_ns' must be a number" in _bad(tmp_path, ep_env, str(p))
    p = _write(tmp_path / "cas.jsonl", [dict(inv, f="cas", value=5)])
    assert "the expected and the new value" in _bad(tmp_path, ep_env, str(p))
    good = _write(tmp_path / "good.jsonl", ev)
    assert "--model: 'sequential' is not" in _bad(tmp_path, ep_env, str(good), "--model",
                                                  "sequential")


RECHECKED = """\
name: recheck
seed: 5
testbed:
  service: {mode: eventual, anti_entropy_ms: 500}
  nodes:
    - {name: edge-1, hardware: {workers: 4, service_ms: 2}}
    - {name: edge-2, hardware: {workers: 4, service_ms: 2}}
    - {name: edge-3, hardware: {workers: 4, service_ms: 2}}
  links:
    - {between: [edge-1, edge-2], latency_ms: 1}
    - {between: [edge-2, edge-3], latency_ms: 1}
    - {between: [edge-1, edge-3], latency_ms: 1}
workload: {users: 6, think_time_ms: 40, duration_s: 10, keys: 4, timeout_ms: 1000}
faults:
  - {at_s: 4, for_s: 3, kind: partition, isolate: edge-3}
checks:
  latency: {min_samples: 20}
  availability: {tolerance_pp: 5}
  consistency: {model: linearizable}
  durability: {}
"""


def _figures(checks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["name"], c["verdict"], c["predicted"], c["measured"]) for c in checks]


def test_check_run_dir_gives_the_runs_verdicts(tmp_path: Path, ep_env: dict[str, str]) -> None:
    scenario = tmp_path / "recheck.yaml"
    scenario.write_text(RECHECKED)
    out = tmp_path / "run"
    run = edgeproof("run", str(scenario), "--out", str(out), env=ep_env, timeout=180)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    res = json.loads((out / "results.json").read_text())
    kinds = {c["kind"] for c in res["checks"]}
    assert kinds == {"latency", "availability", "consistency", "durability"}, kinds

    again = edgeproof("check", str(out), "--json", env=ep_env, timeout=120)
    assert again.returncode == run.returncode, again.stdout + again.stderr
    judged = json.loads(again.stdout)
    assert judged["verdict"] == res["verdict"]
    assert _figures(judged["checks"]) == _figures(res["checks"])

    table = edgeproof("check", str(out), env=ep_env, timeout=120)
    assert table.returncode == run.returncode
    assert f"re-checked {out} from disk: {res['verdict']}" in " ".join(table.stdout.split())


def test_check_run_dir_of_a_folder_that_is_no_run(tmp_path: Path,
                                                  ep_env: dict[str, str]) -> None:
    proc = edgeproof("check", str(tmp_path), env=ep_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not a run directory" in proc.stderr and "Traceback" not in proc.stderr


EPOCH_NS = 1_764_000_000_123_456_789  # epoch nanoseconds: float64 steps are 256 ns here


@pytest.mark.parametrize("engine", ["core", "python"])
def test_epoch_nanosecond_stamps_keep_real_time_order(tmp_path: Path, ep_env: dict[str, str],
                                                      engine: str) -> None:
    t = EPOCH_NS
    events = []
    for p, f, v, s, e in [(0, "write", 1, t, t + 10), (1, "write", 2, t + 20, t + 30),
                          (2, "read", 1, t + 31, t + 40)]:  # 1 ns after write 2: stale
        events += [{"process": p, "type": "invoke", "f": f, "key": "k", "time_ns": s,
                    "value": None if f == "read" else v, "node": "n"},
                   {"process": p, "type": "ok", "f": f, "key": "k", "value": v, "node": "n",
                    "time_ns": e}]
    path = _write(tmp_path / "epoch.jsonl", events)
    if engine == "core" and not native.available():
        pytest.skip("the checker's compiled core is not built (scripts/setup.sh builds it)")
    env = {**ep_env, "EDGEPROOF_LIN_NATIVE": "1" if engine == "core" else "0"}
    proc = edgeproof("check", str(path), "--json", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    assert (res["verdict"], res["engine"]) == ("fail", engine)
    (read,) = [o for o in res["violations"][0]["witness"] if o["f"] == "read"]
    assert (read["start_ns"], read["end_ns"]) == (t + 31, t + 40)


def test_both_engines_give_the_same_answer(tmp_path: Path, ep_env: dict[str, str],
                                           history: list[dict[str, Any]]) -> None:
    injected = inject_stale_read(history, random.Random(11), at=0.9)
    assert injected is not None
    path = _write(tmp_path / "deep.jsonl", injected[0])
    out = {}
    for flag in ("1", "0"):
        proc = edgeproof("check", str(path), "--json",
                         env={**ep_env, "EDGEPROOF_LIN_NATIVE": flag})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        res = json.loads(proc.stdout)
        out[flag] = {k: v for k, v in res.items() if k not in ("elapsed_s", "engine")}
        for v in out[flag]["violations"]:
            v.pop("elapsed_s")
    assert out["1"] == out["0"]


def test_checking_a_history_imports_no_pandas(tmp_path: Path, ep_env: dict[str, str],
                                              history: list[dict[str, Any]]) -> None:
    path = _write(tmp_path / "h.jsonl", history[:2000])
    proc = subprocess.run([sys.executable, "-X", "importtime", EDGEPROOF, "check", str(path)],
                          env=ep_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "harness.check_command" in imported
    assert not [m for m in imported if m.split(".")[0] == "pandas"]


@pytest.mark.parametrize("stale", [False, True])
def test_fast_path_prints_what_the_full_cli_prints(tmp_path: Path, ep_env: dict[str, str],
                                                   stale: bool) -> None:
    """`edgeproof check FILE` skips typer and rich (harness.entry); the full CLI
    (`python -m harness.cli`) must say the same, with the same exit code."""
    ev = simulate_register(7, n_ops=300, processes=4, keys=2)
    if stale:
        injected = inject_stale_read(ev, random.Random(7))
        assert injected is not None
        ev = injected[0]
    path = _write(tmp_path / "h.jsonl", ev)
    fast = edgeproof("check", str(path), "--model", "linearizable", env=ep_env)
    full = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(path), "--model",
                           "linearizable"], capture_output=True, text=True, env=ep_env,
                          timeout=120)
    assert (fast.returncode, fast.stdout) == (full.returncode, full.stdout)
    assert fast.returncode == (1 if stale else 0), fast.stdout + fast.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"process": 0}\n\xff\xfe\n')
    fast = edgeproof("check", str(bad), env=ep_env)
    assert fast.returncode == 2 and f"{bad}: line 2: not UTF-8" in fast.stderr, fast.stderr
