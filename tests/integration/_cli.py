"""Helpers for tests that drive the real `edgeproof` console script."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from harness.measure import with_phase_times
from testbeds import cgroups, nftcut
from testbeds.processes import STATE_LABEL, labelled_pids, process_labels
from testbeds.state import load_records, state_tag
from workloads.history import operations, read_history

REPO = Path(__file__).resolve().parents[2]
EDGEPROOF = str(Path(sys.executable).with_name("edgeproof"))


def edgeproof(*args: str, env: dict[str, str], timeout: float = 120,
              check: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console script (in the repository, or ``cwd``: a user's own folder,
    relative paths as typed there); return its completed process (text)."""
    proc = subprocess.run([EDGEPROOF, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgeproof {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def leftovers(run_id: str | None = None) -> dict[str, list[str]]:
    """What a run may have left: processes labelled for this state dir (and run), the run's
    cgroups, testbed records. Other sessions' testbeds (other state dirs) are not counted."""
    mine = state_tag()
    procs = [p for p in labelled_pids(run_id) if process_labels(p).get(STATE_LABEL) == mine]
    return {
        "processes": [str(p) for p in procs],
        "cgroups": cgroups.leftover_groups(run_id) if run_id else [],
        "records": [r.run_id for r in load_records() if run_id in (None, r.run_id)],
        "nft tables": nftcut.tables(nftcut.table_name(run_id, "")) if run_id else [],
    }


REPLACED: list[str] = []  # tests whose accuracy assertions a saturated harness replaced


def wait_for_quiet_host(busy_percent: float = 50.0, quiet_s: int = 3,
                        max_wait_s: float = 60.0) -> float:
    """Before asserting model accuracy: wait (bounded) until the host's CPU stays under
    ``busy_percent`` for ``quiet_s`` one-second samples; return the last sample."""
    import psutil
    deadline = time.monotonic() + max_wait_s
    calm, last = 0, 100.0
    while calm < quiet_s and time.monotonic() < deadline:
        last = psutil.cpu_percent(interval=1.0)  # the 1 s sample is the wait itself
        calm = calm + 1 if last < busy_percent else 0
    return last


def accuracy_applies(res: dict[str, Any], test_id: str) -> bool:
    """True when a run's accuracy figures may be asserted. When the harness reported itself
    saturated, what is under test is that it said so: every load-figure verdict unknown with
    that reason and no pass; the replacement is counted for the test summary."""
    harness = res.get("harness") or {}
    if not harness.get("saturated"):
        return True
    figures = [c for c in res["checks"] if c["kind"] in ("latency", "availability",
                                                         "staleness")]
    assert all(c["verdict"] == "unknown" and "harness saturated" in c["detail"]
               for c in figures), figures
    assert res["verdict"] != "pass", res["verdict"]
    REPLACED.append(f"{test_id}: {harness.get('problem')}")
    return False


def run_as_typed(raw: dict[str, Any], where: Path, env: dict[str, str],
                 timeout: float = 240) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Write the scenario into ``where`` and run ``edgeproof run NAME.yaml --out run`` there."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "scenario.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([EDGEPROOF, "run", "scenario.yaml", "--out", "run"], cwd=where,
                          env=env, capture_output=True, text=True, timeout=timeout)
    path = where / "run" / "results.json"
    assert path.exists(), f"no results.json (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(path.read_text())


def added_per_kind(out: Path, res: dict[str, Any]) -> dict[str, float]:
    """examples/latency-step.yaml's step, per operation kind: the median latency of the
    fault window's ok operations minus the baseline's. Per kind, because reads (local) and
    writes (a quorum round) form two modes and the whole run's median falls between them: a
    few more writes in one window moved it by 6-13 ms with the step itself exact."""
    phases = {p["name"]: p for p in res["phases"]}
    ops = with_phase_times(operations(read_history(out / "history.jsonl")), res["t0_ns"])
    ops = ops[ops["type"] == "ok"]
    base, fault = phases["baseline"], phases["latency clients->*"]
    scenario = yaml.safe_load((REPO / "examples" / "latency-step.yaml").read_text())
    warm = scenario["workload"]["warmup_s"]
    added = {}
    for f, group in ops.groupby("f"):
        before = group[(group["start_s"] >= warm) & (group["start_s"] < base["end_s"])]
        during = group[(group["start_s"] >= fault["start_s"] + 1)
                       & (group["end_s"] <= fault["end_s"])]
        assert len(before) >= 30 and len(during) >= 30, (f, len(before), len(during))
        added[str(f)] = float(during["latency_ms"].median() - before["latency_ms"].median())
    assert set(added) == {"read", "write"}, added
    return added
