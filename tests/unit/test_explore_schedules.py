"""Exploration without testbeds: the schedule strategy stays within the constraints and
yields valid scenarios, hypothesis shrinks a failing schedule (the runs are faked), the
budget holds, and nothing is written outside the output folder."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import explore as E
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _without_explore_block() -> str:
    """The eventual example minus its own `explore:` block: these tests want the defaults."""
    text = (REPO / "examples" / "eventual-partition.yaml").read_text()
    path = Path(tempfile.mkdtemp(prefix="ep-explore-")) / "eventual-partition.yaml"
    path.write_text(text.split("\nexplore:")[0] + "\n")
    return str(path)


EVENTUAL = _without_explore_block()
BASE = E.load_base(EVENTUAL, duration_s=8)


def test_load_base_drops_faults_and_applies_duration() -> None:
    assert BASE.scenario.faults == [] and BASE.duration_s == 8
    assert "chaos" not in BASE.raw and "explore" not in BASE.raw
    assert BASE.spec.kinds == E.DEFAULT_KINDS


@given(st.data())
@settings(max_examples=60, database=None, deadline=None)
def test_schedules_are_valid_and_within_constraints(data: st.DataObject) -> None:
    faults = data.draw(E.schedule_strategy(BASE.scenario, BASE.spec))
    scn = BASE.with_faults(faults)  # validates node and link names
    assert len(scn.faults) <= BASE.spec.max_faults
    end = 0.0
    for f in faults:
        assert f["kind"] in BASE.spec.kinds
        assert f["at_s"] >= max(BASE.spec.start_s, end) and f["at_s"] < BASE.duration_s
        assert f["at_s"] + f["for_s"] <= BASE.duration_s + 1e-9
        end = f["at_s"] + f["for_s"]


def test_layout_drops_what_does_not_fit() -> None:
    spec = E.ExploreSpec(start_s=1.0, step_s=0.5)
    body = {"kind": "crash", "node": "edge-1"}
    got = E.layout([(2, 4, body), (0, 20, body), (0, 2, body)], spec, 8.0)
    assert [(f["at_s"], f["for_s"]) for f in got] == [(2.0, 2.0), (4.0, 4.0)]


def test_describe() -> None:
    assert E.describe_fault({"kind": "partition", "isolate": "edge-3", "at_s": 2,
                             "for_s": 3}) == "partition isolate edge-3 at 2.0s for 3.0s"
    assert E.describe_fault({"kind": "latency", "link": ["clients", "edge-1"], "ms": 40,
                             "at_s": 1, "for_s": 1}) == \
        "latency clients->edge-1 +40 ms at 1.0s for 1.0s"
    assert E.describe([]) == "no faults"


class Fake(E.Explorer):
    """A run fails when the schedule crashes edge-2 for 2 s or more."""

    def _execute(self, faults: list[dict[str, Any]], d: Path) -> tuple[str, Any]:
        bad = any(f["kind"] == "crash" and f["node"] == "edge-2" and f["for_s"] >= 2
                  for f in faults)
        return ("fail", [{"name": "consistency", "detail": "x"}]) if bad else ("pass", [])


def test_search_shrinks_to_the_minimal_schedule(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ex = Fake(BASE, tmp_path / "out", 300, None, lambda _m: None)
    E.search(ex, seed=3)
    assert ex.best is not None and ex.runs <= 300
    assert ex.best.faults == [{"at_s": 1.0, "for_s": 2.0, "kind": "crash", "node": "edge-2"}]
    assert not (tmp_path / ".hypothesis").exists(), "hypothesis wrote into the cwd"
    out = E.finish(ex, EVENTUAL, 3, E.datetime.now(E.UTC), None)
    assert out.exit_code == 1
    assert "with 1 fault(s): crash edge-2 at 1.0s for 2.0s" in out.summary
    assert json.loads((tmp_path / "out" / "explore.json").read_text())["minimal"]["faults"]
    assert "faults:\n- {at_s: 1.0, for_s: 2.0, kind: crash, node: edge-2}" in \
        (tmp_path / "out" / "minimal.yaml").read_text()


def test_budget_counts_runs(tmp_path: Path) -> None:
    ex = Fake(BASE, tmp_path, 5, None, lambda _m: None)
    E.search(ex, seed=3)
    assert ex.runs == 5 and "budget" in ex.stopped_by


def test_bad_explore_block(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(Path(EVENTUAL).read_text() + "explore: {max_faults: 1, min_faults: 2}\n")
    with pytest.raises(ConfigError, match="min_faults"):
        E.load_base(str(f))
    f.write_text(Path(EVENTUAL).read_text() + "explore: {kindz: [crash]}\n")
    with pytest.raises(ConfigError, match=r"explore\.kindz \(line \d+\): unknown field"):
        E.load_base(str(f))
