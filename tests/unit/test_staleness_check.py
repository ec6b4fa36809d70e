"""The staleness check judges each bin with the Wilson interval of its stale share, not the
point: a small bin's sampling noise is no fail, a real offset beyond the band is."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from test_models import EXAMPLE

from harness.checks import staleness as staleness_mod
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS
from harness.measure import wilson_interval
from harness.scenario import Scenario


def test_wilson_interval_covers_the_share_and_stays_in_bounds() -> None:
    lo, hi = wilson_interval(21, 30)
    assert lo < 0.7 < hi and 0.15 < hi - lo < 0.35  # +-16 pp at n=30
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    narrow = wilson_interval(2100, 3000)
    assert narrow[1] - narrow[0] < (hi - lo) / 5


def _scenario() -> Scenario:
    raw: dict[str, Any] = copy.deepcopy(EXAMPLE)
    raw["testbed"]["service"] = {"mode": "eventual", "anti_entropy_ms": 1000}
    raw["faults"] = []
    raw["checks"] = {"latency": None, "staleness": {"tolerance_pp": 20}}
    return Scenario.model_validate(raw)


@pytest.mark.parametrize(("stale", "reads", "want"), [
    (0.92, 30, PASS),   # 92% of 30 vs 70% +- 20: the point misses, the interval reaches
    (0.92, 3000, FAIL),  # the same share on 3,000 reads is a real offset
    (0.70, 40, PASS),
    (0.10, 200, FAIL),
])
def test_bins_are_judged_by_their_interval(monkeypatch: pytest.MonkeyPatch, stale: float,
                                           reads: int, want: str) -> None:
    table = pd.DataFrame([{"bin": "[0, 10)", "reads": reads, "measured": stale,
                           "predicted": 0.70}])
    monkeypatch.setattr(staleness_mod, "staleness_table", lambda *a, **k: table)
    ops = pd.DataFrame(columns=["process", "start_s", "type", "f", "key", "value", "node",
                                "start_ns", "end_ns"])
    monkeypatch.setattr(staleness_mod, "read_ages", lambda _ops: pd.DataFrame())
    ev = Evidence(_scenario(), [], [], [], ops)  # type: ignore[arg-type]
    (v,) = staleness_mod.staleness_check(ev)
    assert v.verdict == want, v.detail
    assert "95% CI" in v.detail and v.evidence["reads"] == reads
