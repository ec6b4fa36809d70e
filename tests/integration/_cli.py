"""Helpers for tests that drive the real `edgeproof` console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testbeds import cgroups
from testbeds.processes import STATE_LABEL, labelled_pids, process_labels
from testbeds.state import load_records, state_tag

REPO = Path(__file__).resolve().parents[2]
EDGEPROOF = str(Path(sys.executable).with_name("edgeproof"))


def edgeproof(*args: str, env: dict[str, str], timeout: float = 120,
              check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real console script; return its completed process (text)."""
    proc = subprocess.run([EDGEPROOF, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
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
    }
