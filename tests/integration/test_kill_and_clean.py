"""20 seeded runs with random chaos, each SIGKILLed at a random moment, then `clean`:
no proxy, toxic, process, cgroup or skewed clock may be left behind."""

from __future__ import annotations

import random
import signal
import subprocess
from pathlib import Path

import pytest
from _cli import EDGEPROOF, REPO, edgeproof, leftovers

from testbeds.state import load_records

pytestmark = pytest.mark.integration

SCENARIO = """
name: kill-me
seed: {seed}
testbed:
  nodes: [{{name: a}}, {{name: b}}, {{name: c}}]
  links: [{{between: [a, b]}}, {{between: [b, c]}}, {{between: [a, c]}}]
workload: {{users: 3, think_time_ms: 20, duration_s: 8}}
chaos: {{kinds: [latency, partition, pause, crash, clock_skew], count: 6, for_s: [0.5, 1.5],
        start_s: 0.2, overlap: true}}
"""


@pytest.mark.parametrize("seed", range(20))
def test_sigkill_at_a_random_moment_then_clean(seed: int, tmp_path: Path,
                                               ep_env: dict[str, str]) -> None:
    rng = random.Random(seed)
    path = tmp_path / "kill.yaml"
    path.write_text(SCENARIO.format(seed=seed))
    kill_after = rng.uniform(0.3, 6.0)
    proc = subprocess.Popen([EDGEPROOF, "run", str(path), "--out", str(tmp_path / "run")],
                            env=ep_env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    runs = [r.run_id for r in load_records()]
    res = edgeproof("clean", env=ep_env)
    assert res.returncode == 0, f"seed {seed}: {res.stdout}{res.stderr}"
    for left in [leftovers(), *(leftovers(r) for r in runs)]:
        assert left == {"processes": [], "cgroups": [], "records": [], "nft tables": []}, \
            f"seed {seed}, killed after {kill_after:.2f} s: {left}"
