"""Fleet files, the cell matrix, the journal and resume, without running testbeds (the
runner is replaced by a fake that returns a verdict per cell)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import certify as cf
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
FLEET = str(REPO / "examples" / "fleet.yaml")


def test_example_fleet_expands_to_four_cells() -> None:
    fleet = cf.load_fleet(FLEET)
    assert [c.name for c in fleet.cells] == [
        "fast-nodes__calm__light", "fast-nodes__partition__light",
        "slow-nodes__calm__light", "slow-nodes__partition__light"]
    slow = fleet.cells[2].scenario
    assert {n.hardware.service_ms for n in slow.testbed.nodes} == {5}
    assert fleet.cells[0].scenario.faults == []
    assert fleet.cells[1].scenario.faults[0].kind == "partition"
    assert fleet.axes() == {"testbeds": ["fast-nodes", "slow-nodes"],
                            "faults": ["calm", "partition"], "loads": ["light"]}


def test_backend_override_and_default_axes(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text(f"base: {REPO / 'examples' / 'quorum-partition.yaml'}\n")
    fleet = cf.load_fleet(str(f), backend="docker")
    (cell,) = fleet.cells
    assert cell.name == "base__base__base" and cell.scenario.testbed.backend == "docker"
    assert cell.scenario.faults and cell.scenario.faults[0].kind == "partition"  # base's own


def test_apply_testbed_nodes_by_name_and_hardware() -> None:
    tb = {"nodes": [{"name": "a", "hardware": {"workers": 2}}, {"name": "b"}]}
    out = cf.apply_testbed(tb, {"hardware": {"service_ms": 9},
                                "nodes": {"b": {"tier": "cloud"}}, "service": {"mode": "eventual"}})
    assert out["nodes"][0]["hardware"] == {"workers": 2, "service_ms": 9}
    assert out["nodes"][1] == {"name": "b", "hardware": {"service_ms": 9}, "tier": "cloud"}
    assert out["service"] == {"mode": "eventual"}
    assert tb["nodes"][1] == {"name": "b"}, "the base is not modified"
    with pytest.raises(ValueError, match=r"nodes\.c: not a node"):
        cf.apply_testbed(tb, {"nodes": {"c": {}}})


def test_inline_base_error_names_the_field(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text("base: {testbed: {nodes: [{name: a}]}, workload: {users: 0}}\n")
    with pytest.raises(ConfigError, match=r"base\.workload\.users"):
        cf.load_fleet(str(f))


def test_journal_torn_line_and_last_wins(tmp_path: Path) -> None:
    j = tmp_path / "journal.jsonl"
    cf.append_journal(j, {"cell": "a", "verdict": "error"})
    cf.append_journal(j, {"cell": "a", "verdict": "pass"})
    with j.open("a") as fh:
        fh.write('{"cell": "b", "verd')  # killed in the middle of a write
    assert cf.read_journal(j) == {"a": {"cell": "a", "verdict": "pass"}}
    cf.repair_journal(j)
    cf.append_journal(j, {"cell": "b", "verdict": "fail"})
    assert set(cf.read_journal(j)) == {"a", "b"}
    assert j.read_text().count("\n") == 3


@pytest.mark.parametrize(("verdicts", "complete", "want"), [
    (["pass", "pass"], True, "pass"), (["pass", "fail", "unknown"], True, "fail"),
    (["pass", "unknown"], True, "unknown"), (["pass", "error"], True, "unknown"),
    (["pass"], False, "unknown")])
def test_overall(verdicts: list[str], complete: bool, want: str) -> None:
    assert cf.overall(verdicts, complete) == want


class FakeRunner:
    """Stands in for run_scenario: a verdict per cell, a report.html, and an optional stop."""

    def __init__(self, verdicts: dict[str, str], stop_at: str | None = None) -> None:
        self.verdicts, self.stop_at, self.ran = verdicts, stop_at, []

    def __call__(self, scn: Any, *, out: Path, say: Any, source: str | None = None) -> Any:
        cell = out.name
        if cell == self.stop_at:
            raise KeyboardInterrupt
        self.ran.append(cell)
        (out / "report.html").write_text("<html></html>")
        v = self.verdicts.get(cell, "pass")
        checks = [{"name": "consistency[linearizable]", "verdict": v,
                   "detail": f"{v}: stale read of k1"}]
        return SimpleNamespace(results={"verdict": v, "checks": checks},
                               exit_code=0 if v == "pass" else 1)


def test_interrupted_certification_resumes(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cells = [c.name for c in cf.load_fleet(FLEET).cells]
    out = tmp_path / "cert"
    first = FakeRunner({cells[1]: "fail"}, stop_at=cells[2])
    monkeypatch.setattr(cf, "run_scenario", first)
    with pytest.raises(KeyboardInterrupt):
        cf.certify(FLEET, out=out, say=lambda _m: None)
    journal = cf.read_journal(out / "journal.jsonl")
    assert first.ran == cells[:2]
    assert [c for c, e in journal.items() if e["verdict"] in cf.DONE] == cells[:2]
    assert journal[cells[2]]["verdict"] == "interrupted", "the cut-short cell says so"

    second = FakeRunner({})
    monkeypatch.setattr(cf, "run_scenario", second)
    said: list[str] = []
    cert = cf.certify(FLEET, out=out, say=said.append)
    assert second.ran == cells[2:], "done cells are not run again"
    assert cert.skipped == cells[:2] and any(m.startswith("skip cell 1/4") for m in said)
    s = json.loads((out / "certification.json").read_text())
    assert s["complete"] and s["verdict"] == "fail" and cf.exit_code(cert) == 1
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase") == 4 and "stale read of k1" in junit
    html = (out / "report.html").read_text()
    assert f'href="cells/{cells[1]}/report.html"' in html and "stale read of k1" in html


def test_changed_cell_runs_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = tmp_path / "fleet.yaml"
    text = (REPO / "examples" / "fleet.yaml").read_text().replace(
        "base: fleet/base.yaml", f"base: {REPO / 'examples' / 'fleet' / 'base.yaml'}")
    fleet.write_text(text)
    monkeypatch.setattr(cf, "run_scenario", FakeRunner({}))
    cf.certify(str(fleet), out=tmp_path / "c", say=lambda _m: None)
    fleet.write_text(text.replace("think_time_ms: 50}", "think_time_ms: 60}"))
    again = FakeRunner({})
    monkeypatch.setattr(cf, "run_scenario", again)
    cf.certify(str(fleet), out=tmp_path / "c", say=lambda _m: None)
    assert len(again.ran) == 4, "a changed load changes every cell's definition"


def test_infrastructure_error_is_tried_once_more_then_journaled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import TestbedError
    calls: list[str] = []

    def broken(scn: Any, *, out: Path, say: Any, source: str | None = None) -> Any:
        calls.append(out.name)
        raise TestbedError("node edge-1 did not become ready")

    monkeypatch.setattr(cf, "run_scenario", broken)
    cert = cf.certify(FLEET, out=tmp_path / "c", say=lambda _m: None)
    assert len(calls) == 8, "each of the 4 cells twice"
    entries = cf.read_journal(tmp_path / "c" / "journal.jsonl")
    assert {e["verdict"] for e in entries.values()} == {"error"}
    assert cf.summary(cert)["verdict"] == "unknown" and cf.exit_code(cert) == 2
    assert "<error" in (tmp_path / "c" / "junit.xml").read_text()
    again = FakeRunner({})
    monkeypatch.setattr(cf, "run_scenario", again)
    cf.certify(FLEET, out=tmp_path / "c", say=lambda _m: None)
    assert len(again.ran) == 4, "cells that ended in an error run again on resume"
