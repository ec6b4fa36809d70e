"""The headroom watch per phase, through the CLI as a user runs it: both cores burnt by
another program during the fault window (the harness cannot tell it from its own load) make
that phase's latency verdict unknown, while the baseline is still judged."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import EDGEPROOF, REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~40 s: CI runs it with -m slow

HOG_S = 6.0  # of the 8 s fault window


def _burn(until: float) -> None:
    while time.monotonic() < until:
        pass


def _scenario(where: Path) -> Path:
    raw = yaml.safe_load((REPO / "examples" / "latency-step.yaml").read_text())
    raw["name"] = "headroom-per-phase"
    raw["workload"].update(duration_s=24, warmup_s=3)
    raw["faults"] = [{"at_s": 8, "for_s": 8, "kind": "latency", "link": ["clients", "*"],
                      "ms": 50}]
    path = where / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_cpu_burst_in_the_fault_window_makes_that_phase_unknown(
        ep_env: dict[str, str], tmp_path: Path) -> None:
    _scenario(tmp_path)
    proc = subprocess.Popen([EDGEPROOF, "run", "scenario.yaml", "--out", "run"], cwd=tmp_path,
                            env=ep_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    hogs: list[multiprocessing.Process] = []
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # the run's progress, one line a second
            lines.append(line)
            if not hogs and "phase latency" in line:
                until = time.monotonic() + HOG_S
                hogs = [multiprocessing.Process(target=_burn, args=(until,)) for _ in range(3)]
                for h in hogs:
                    h.start()
        proc.wait(timeout=180)
    finally:
        for h in hogs:
            h.join(timeout=HOG_S + 5)
        if proc.poll() is None:
            proc.kill()
    assert hogs, "the fault phase never showed in the progress:\n" + "".join(lines[-30:])
    res: dict[str, Any] = json.loads((tmp_path / "run" / "results.json").read_text())
    problems = res["harness"]["phase_problems"]
    fault_phase = next(p["name"] for p in res["phases"] if p["faults"])
    assert fault_phase in problems, (problems, res["harness"]["samples"])
    latency = {c["phase"]: c for c in res["checks"] if c["kind"] == "latency"}
    hit = latency[fault_phase]
    assert hit["verdict"] == "unknown" and "harness saturated" in hit["detail"], hit
    assert "saturated in this phase" not in latency["baseline"]["detail"], latency["baseline"]
    assert res["verdict"] != "pass" and proc.returncode == 1
