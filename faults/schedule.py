"""Schedules: a timeline of (at, for, fault) as data, and the nemesis that plays it.

Faults apply and heal on their own timers and compose when they overlap (each owns its toxics
or its node verb). :meth:`Nemesis.heal_all` heals whatever is still active, most recent first;
the runner calls it on normal end, on exceptions and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from faults.base import Fault
from faults.clock import ClockSkew
from faults.node import Crash, Pause, Stop
from faults.partition import Partition, cuts_for
from faults.toxics import ToxicFault
from harness import scenario as sc
from testbeds.base import Testbed

_TOXIC_ATTRS = {
    "latency": lambda f: {"latency": round(f.ms), "jitter": round(f.jitter_ms)},
    "bandwidth": lambda f: {"rate": max(1, round(f.kbps / 8))},
    "timeout": lambda f: {"timeout": round(f.timeout_ms)},
    "reset_peer": lambda f: {"timeout": round(f.timeout_ms)},
    "slicer": lambda f: {"average_size": f.average_size, "size_variation": f.size_variation,
                         "delay": f.delay_us},
    "limit_data": lambda f: {"bytes": f.bytes},
}


def build_fault(spec: Any, index: int, nodes: list[str], seed: int = 0) -> Fault:
    """The fault value for one scenario entry."""
    fid = f"fault{index}"
    if spec.kind in _TOXIC_ATTRS:
        return ToxicFault(spec.kind, tuple(spec.link), _TOXIC_ATTRS[spec.kind](spec),
                          direction=spec.direction, id=fid)
    if isinstance(spec, sc.PartitionFault):
        cuts, label = cuts_for(spec, nodes, seed * 1000 + index)
        return Partition(cuts, mode=spec.mode, label=label, id=fid)
    if isinstance(spec, sc.ClockSkewFault):
        return ClockSkew(spec.node, spec.offset_s, spec.drift)
    if isinstance(spec, sc.CrashFault):
        return Crash(spec.node, keep_data=spec.keep_data)
    if isinstance(spec, sc.StopFault):
        return Stop(spec.node)
    if isinstance(spec, sc.PauseFault):
        return Pause(spec.node)
    raise ValueError(f"no fault for kind {spec.kind!r}")


@dataclass
class Scheduled:
    """One entry of a timeline and what actually happened to it."""

    at_s: float
    for_s: float
    fault: Fault
    index: int = 0
    applied_at_s: float | None = None
    healed_at_s: float | None = None
    ok: bool | None = None
    error: str | None = None

    def result(self) -> dict[str, Any]:
        return {"kind": self.fault.kind, "target": self.fault.target, "at_s": self.at_s,
                "for_s": self.for_s, "applied_at_s": self.applied_at_s,
                "healed_at_s": self.healed_at_s, "ok": bool(self.ok), "error": self.error,
                "detail": self.fault.describe()}


def schedule_from(scenario: sc.Scenario) -> list[Scheduled]:
    nodes = scenario.testbed.node_names
    return [Scheduled(f.at_s, f.for_s, build_fault(f, i, nodes, scenario.seed), index=i)
            for i, f in enumerate(scenario.faults)]


@dataclass
class Nemesis:
    """Plays a schedule against a testbed on a thread of its own, relative to t0."""

    testbed: Testbed
    entries: list[Scheduled]
    t0: float = 0.0
    active: list[Scheduled] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self, t0: float | None = None) -> None:
        self.t0 = time.monotonic() if t0 is None else t0
        self._thread = threading.Thread(target=self._play, name="nemesis", daemon=True)
        self._thread.start()

    def now_s(self) -> float:
        return time.monotonic() - self.t0

    def _events(self) -> list[tuple[float, str, Scheduled]]:
        ev = [(e.at_s, "apply", e) for e in self.entries]
        ev += [(e.at_s + e.for_s, "heal", e) for e in self.entries]
        return sorted(ev, key=lambda x: (x[0], x[1] == "apply"))

    def _play(self) -> None:
        for when, what, entry in self._events():
            if self._stop.wait(max(0.0, when - self.now_s())):
                return
            with self._lock:
                if what == "apply" and entry.applied_at_s is None:
                    self._apply(entry)
                elif what == "heal" and entry in self.active:
                    self._heal(entry)

    def _apply(self, entry: Scheduled) -> None:
        try:
            entry.fault.apply(self.testbed)
            entry.applied_at_s = self.now_s()
            entry.ok = True
        except Exception as exc:  # a fault that fails to apply is a result, not a crash
            entry.ok, entry.error = False, str(exc)
            entry.applied_at_s = self.now_s()
        self.active.append(entry)
        self._record()

    def _heal(self, entry: Scheduled) -> None:
        try:
            entry.fault.heal(self.testbed)
        except Exception as exc:
            entry.ok, entry.error = False, f"heal failed: {exc}"
        entry.healed_at_s = self.now_s()
        self.active.remove(entry)
        self._record()

    def _record(self) -> None:
        rec = self.testbed.record
        rec.active_faults = [e.fault.describe() for e in self.active]
        rec.save()

    def heal_all(self) -> None:
        """Stop the timeline and heal every active fault, most recent first (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        with self._lock:
            for entry in reversed(list(self.active)):
                self._heal(entry)

    def results(self) -> list[dict[str, Any]]:
        return [e.result() for e in self.entries]
