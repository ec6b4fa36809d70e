"""The nemesis plays a schedule: applies and heals on time, composes overlaps, heals all."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from faults.registry import build_fault
from faults.schedule import Nemesis, Scheduled
from harness.scenario import Scenario


@dataclass
class FakeFault:
    """A fault that logs what happens to it (fakes are fine in unit tests)."""

    name: str
    log: list[tuple[str, str, float]]
    kind: str = "fake"
    fail_apply: bool = False
    _t0: float = field(default_factory=time.monotonic)

    @property
    def target(self) -> str:
        return self.name

    def apply(self, testbed: Any) -> None:
        if self.fail_apply:
            raise RuntimeError("boom")
        self.log.append(("apply", self.name, time.monotonic() - self._t0))

    def heal(self, testbed: Any) -> None:
        self.log.append(("heal", self.name, time.monotonic() - self._t0))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.name}


class FakeRecord:
    active_faults: list[dict[str, Any]] = []

    def save(self) -> None:
        return None


class FakeTestbed:
    record = FakeRecord()


def _wait_until(cond: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_overlapping_faults_apply_and_heal_in_time_order() -> None:
    log: list[tuple[str, str, float]] = []
    a, b = FakeFault("a", log), FakeFault("b", log)
    nem = Nemesis(FakeTestbed(), [Scheduled(0.05, 0.2, a), Scheduled(0.1, 0.05, b)])  # type: ignore[arg-type]
    nem.start()
    _wait_until(lambda: len(log) == 4)
    assert [(w, n) for w, n, _ in log] == [("apply", "a"), ("apply", "b"), ("heal", "b"),
                                           ("heal", "a")]
    res = nem.results()
    assert all(r["ok"] for r in res)
    assert abs(res[0]["applied_at_s"] - 0.05) < 0.04 and abs(res[0]["healed_at_s"] - 0.25) < 0.04


def test_heal_all_heals_active_most_recent_first_and_is_idempotent() -> None:
    log: list[tuple[str, str, float]] = []
    a, b = FakeFault("a", log), FakeFault("b", log)
    nem = Nemesis(FakeTestbed(), [Scheduled(0.0, 60, a), Scheduled(0.01, 60, b)])  # type: ignore[arg-type]
    nem.start()
    _wait_until(lambda: len(log) == 2)
    nem.heal_all()
    nem.heal_all()
    assert [(w, n) for w, n, _ in log] == [("apply", "a"), ("apply", "b"), ("heal", "b"),
                                           ("heal", "a")]
    assert nem.active == []


def test_a_fault_that_fails_to_apply_is_a_result_not_a_crash() -> None:
    log: list[tuple[str, str, float]] = []
    bad, good = FakeFault("bad", log, fail_apply=True), FakeFault("good", log)
    nem = Nemesis(FakeTestbed(), [Scheduled(0.0, 0.05, bad), Scheduled(0.02, 0.05, good)])  # type: ignore[arg-type]
    nem.start()
    _wait_until(lambda: len(log) == 3)
    res = nem.results()
    assert res[0]["ok"] is False and "boom" in res[0]["error"]
    assert res[1]["ok"] is True


def test_build_fault_maps_every_kind() -> None:
    scn = Scenario.model_validate({
        "testbed": {"nodes": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                    "links": [{"between": ["a", "b"]}]},
        "faults": [
            {"at_s": 0, "for_s": 1, "kind": "latency", "link": ["a", "b"], "ms": 5},
            {"at_s": 0, "for_s": 1, "kind": "bandwidth", "link": ["clients", "*"], "kbps": 80},
            {"at_s": 0, "for_s": 1, "kind": "partition", "isolate": "c"},
            {"at_s": 0, "for_s": 1, "kind": "partition", "from": ["a"], "to": ["b"]},
            {"at_s": 0, "for_s": 1, "kind": "clock_skew", "node": "a", "offset_s": 3},
            {"at_s": 0, "for_s": 1, "kind": "crash", "node": "b"},
            {"at_s": 1, "for_s": 1, "kind": "pause", "node": "b"},  # one at a time on b
            {"at_s": 2, "for_s": 1, "kind": "stop", "node": "b"},
        ]})
    faults = [build_fault(f, i, scn.testbed.node_names) for i, f in enumerate(scn.faults)]
    assert [f.kind for f in faults] == ["latency", "bandwidth", "partition", "partition",
                                        "clock_skew", "crash", "pause", "stop"]
    assert faults[0].describe()["latency"] == 5
    assert faults[1].describe()["rate"] == 10  # 80 kbit/s = 10 KB/s
    assert faults[2].describe()["cuts"] == ["a->c", "b->c", "c->a", "c->b"]
    assert faults[3].describe()["cuts"] == ["a->b"]
