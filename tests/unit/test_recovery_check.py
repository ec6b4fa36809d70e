"""The recovery check: a stall after a heal (ok completions below half the baseline's rate
for 0.5 s or more) is a finding with its start and duration, judged against the predicted
recovery time (0 s) plus the tolerance; a heal of a fault that never happened is unknown."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_models import EXAMPLE

from harness.checks.evidence import Evidence
from harness.checks.recovery import recovery_check, stalls
from harness.checks.registry import gate
from harness.checks.verdict import FAIL, PASS, UNKNOWN
from harness.measure import measure
from harness.phases import phases
from harness.scenario import Scenario


def _scenario(tolerance_s: float = 1.0) -> Scenario:
    raw: dict[str, Any] = copy.deepcopy(EXAMPLE)
    raw["workload"]["duration_s"] = 20
    raw["faults"] = [{"at_s": 5, "for_s": 5, "kind": "crash", "node": "edge-3"}]
    raw["checks"] = {"latency": None, "recovery": {"tolerance_s": tolerance_s}}
    return Scenario.model_validate(raw)


def _ops(gap: tuple[float, float] | None, rate: float = 40.0, seed: int = 3) -> pd.DataFrame:
    """ok operations ending at ``rate`` per second over 20 s, none inside ``gap``."""
    rng = np.random.default_rng(seed)
    ends = np.sort(rng.uniform(0, 20, int(20 * rate)))
    if gap:
        ends = ends[(ends < gap[0]) | (ends >= gap[1])]
    return pd.DataFrame({"process": 0, "type": "ok", "f": "read", "node": "edge-1",
                         "start_s": ends - 0.01, "end_s": ends, "latency_ms": 10.0})


def _evidence(scn: Scenario, ops: pd.DataFrame, faults: list[dict[str, Any]] | None = None
              ) -> Evidence:
    phs = phases(scn)
    return Evidence(scn, phs, measure(ops, phs), [], ops, faults=faults or [])


def test_stalls_finds_the_gap_and_only_it() -> None:
    ends = np.sort(np.concatenate([np.arange(0, 4, 0.02), np.arange(5.5, 8, 0.02)]))
    (s,) = stalls(ends, 0.0, 8.0, rate=50.0, below=0.5, window_s=0.5)
    assert 3.7 <= s.start_s <= 4.0 and 5.4 <= s.end_s <= 5.8, s
    assert stalls(np.arange(0, 8, 0.02), 0.0, 8.0, 50.0, 0.5, 0.5) == []


@pytest.mark.parametrize(("gap", "tolerance_s", "want"), [
    (None, 1.0, PASS),
    ((10.2, 11.6), 1.0, FAIL),   # a 1.4 s stall right after the restart
    ((10.2, 11.6), 2.5, PASS),   # allowed by the tolerance
    ((10.2, 10.5), 1.0, PASS),   # 0.3 s: shorter than a stall
])
def test_a_stall_after_the_heal_is_judged_by_its_duration(
        gap: tuple[float, float] | None, tolerance_s: float, want: str) -> None:
    (v,) = recovery_check(_evidence(_scenario(tolerance_s), _ops(gap)))
    assert v.verdict == want, v.detail
    assert v.phase == "recovery after crash edge-3"
    if gap and gap[1] - gap[0] > 0.5:
        (s,) = v.evidence["stalls"]
        assert 0.0 <= s["start_s"] <= 0.3 and s["duration_s"] >= gap[1] - gap[0], s
        assert "after the heal" in v.detail


def test_the_recovery_of_a_fault_that_never_happened_is_unknown() -> None:
    scn = _scenario()
    ev = _evidence(scn, _ops(None), faults=[{"kind": "crash", "target": "edge-3",
                                             "ok": True, "effect": "none",
                                             "evidence": "the node still answered"}])
    (v,) = gate(recovery_check(ev), ev)
    assert v.verdict == UNKNOWN and "had no effect" in v.detail


def test_a_rate_too_low_to_see_a_stall_is_unknown_not_pass() -> None:
    (v,) = recovery_check(_evidence(_scenario(), _ops(None, rate=3.0)))
    assert v.verdict == UNKNOWN and "too low" in v.detail, v.detail


def test_poisson_dips_of_a_steady_rate_are_no_stall() -> None:
    for seed in range(20):
        (v,) = recovery_check(_evidence(_scenario(0.4), _ops(None, seed=seed)))
        assert v.verdict == PASS, (seed, v.detail)
