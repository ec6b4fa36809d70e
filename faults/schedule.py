"""Schedules: a timeline of (at, for, fault) as data, and the one nemesis that plays it.

:class:`Nemesis` is the only place that applies, heals and records faults: a fault schedule
plays through it on a thread of its own, and the pytest plugin's nemesis applies faults
through it at once. Faults compose when they overlap (each owns its toxics or its node verb).
:meth:`Nemesis.heal_all` heals whatever is still active, most recent first; the runner calls
it on normal end, on exceptions and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from faults.base import Effect, Fault, probe, traffic
from faults.registry import build_fault
from testbeds.base import Testbed


@dataclass
class Scheduled:
    """One entry of a timeline and what actually happened to it (``error`` says why a fault
    failed to apply or heal; ``exception`` keeps the error itself)."""

    at_s: float
    for_s: float
    fault: Fault
    index: int = 0
    applied_at_s: float | None = None
    healed_at_s: float | None = None
    ok: bool | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    effect: Effect | None = None  # probed right after the apply
    healed: Effect | None = None  # probed right after the heal
    traffic_at: tuple[int | None, int | None] = (None, None)  # counters at apply, at heal
    heal_took_s: float | None = None  # how long the heal took (a restart waits for ready)
    apply_took_s: float | None = None  # how long the apply took (a docker kill ~0.08 s)

    @property
    def traffic(self) -> str | None:
        """``seen`` or ``none`` for a fault whose traffic is counted (None: not counted)."""
        a, b = self.traffic_at
        if a is None or b is None:
            return None
        return "seen" if b > a else "none"

    def result(self) -> dict[str, Any]:
        """The entry as results.json reports it: what was scheduled, what happened, whether
        it took effect (``effect``: verified, unverified or none) and met traffic."""
        a, b = self.traffic_at
        return {"kind": self.fault.kind, "target": self.fault.target, "at_s": self.at_s,
                "for_s": self.for_s, "applied_at_s": self.applied_at_s,
                "apply_took_s": self.apply_took_s,
                "healed_at_s": self.healed_at_s, "heal_took_s": self.heal_took_s,
                "ok": bool(self.ok), "error": self.error,
                "effect": self.effect.status if self.effect else None,
                "evidence": self.effect.evidence if self.effect else None,
                "healed": self.healed.as_dict() if self.healed else None,
                "traffic": self.traffic,
                "traffic_count": b - a if a is not None and b is not None else None,
                "detail": self.fault.describe()}


def schedule_from(faults: list[Any], nodes: list[str], seed: int) -> list[Scheduled]:
    """The timeline of a scenario's fault entries."""
    return [Scheduled(f.at_s, f.for_s, build_fault(f, i, nodes, seed), index=i)
            for i, f in enumerate(faults)]


class Nemesis:
    """Applies and heals faults on one testbed and records the active ones in the testbed's
    record (``edgeproof status`` shows them, tagged with ``owner``); plays a timeline of
    :class:`Scheduled` entries relative to ``t0`` on a thread of its own."""

    def __init__(self, testbed: Testbed, entries: list[Scheduled] | None = None,
                 t0: float = 0.0, owner: str = "schedule") -> None:
        self.testbed = testbed
        self.entries: list[Scheduled] = list(entries or [])
        self.t0 = t0
        self.owner = owner
        self.active: list[Scheduled] = []
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ timeline
    def start(self, t0: float | None = None) -> None:
        """Start playing the timeline, its times counted from ``t0`` (default: now)."""
        self.t0 = time.monotonic() if t0 is None else t0
        self._thread = threading.Thread(target=self._play, name="nemesis", daemon=True)
        self._thread.start()

    def now_s(self) -> float:
        """Seconds since t0."""
        return time.monotonic() - self.t0

    def _events(self) -> list[tuple[float, str, Scheduled]]:
        ev = [(e.at_s, "apply", e) for e in self.entries]
        ev += [(e.at_s + e.for_s, "heal", e) for e in self.entries if math.isfinite(e.for_s)]
        # at one time: heals first, then applies, then the heal of an action that lasts
        # nothing (a rollout: it is over once applied)
        rank = {"heal": 0, "apply": 1}
        return sorted(ev, key=lambda x: (x[0], 2 if x[1] == "heal" and not x[2].for_s
                                         else rank[x[1]]))

    def _play(self) -> None:
        for when, what, entry in self._events():
            if self._stop.wait(max(0.0, when - self.now_s())):
                return
            if what == "apply" and entry.applied_at_s is None:
                self.apply(entry)
            elif what == "heal":
                self.heal(entry)

    # ------------------------------------------------------------ apply, heal, record
    def inject(self, fault: Fault) -> Scheduled:
        """Apply a fault now, outside the timeline (healed by :meth:`heal` or heal_all)."""
        entry = Scheduled(self.now_s(), math.inf, fault, index=len(self.entries))
        self.entries.append(entry)
        self.apply(entry)
        return entry

    def apply(self, entry: Scheduled) -> None:
        """Apply one entry; a fault that fails to apply is a result, not a crash. Nothing
        is applied once :meth:`heal_all` has begun; the effect is probed outside the lock (a
        partition's probe may take 1.5 s), so a heal never waits for it."""
        with self._lock:
            if self._stop.is_set():
                return
            began = self.now_s()  # the fault starts as its apply begins: a container kill
            try:  # takes ~0.08 s, and operations in it already meet the fault
                entry.fault.apply(self.testbed)
                entry.ok = True
            except Exception as exc:
                entry.ok, entry.error, entry.exception = False, str(exc), exc
            entry.applied_at_s, entry.apply_took_s = began, self.now_s() - began
            self.active.append(entry)
            self._record()
        if entry.ok:
            entry.effect = probe(entry.fault, self.testbed, healed=False)
            entry.traffic_at = (traffic(entry.fault, self.testbed), None)

    def heal(self, entry: Scheduled) -> None:
        """Heal one entry if it is active (idempotent); a failed heal is recorded."""
        if self._unapply(entry):
            self._probe_healed(entry)

    def _probe_healed(self, entry: Scheduled) -> None:
        entry.healed = probe(entry.fault, self.testbed, healed=True)

    def _unapply(self, entry: Scheduled) -> bool:
        """Heal one active entry (not yet probed); True when it was active and applied."""
        with self._lock:
            if entry not in self.active:
                return False
            if entry.ok:
                entry.traffic_at = (entry.traffic_at[0], traffic(entry.fault, self.testbed))
            entry.healed_at_s = self.now_s()  # the fault ends as its heal begins: a
            try:  # restarted node serves before its readiness wait returns
                entry.fault.heal(self.testbed)
            except Exception as exc:
                entry.ok, entry.error, entry.exception = False, f"heal failed: {exc}", exc
            entry.heal_took_s = self.now_s() - entry.healed_at_s
            self.active.remove(entry)
            self._record()
            return bool(entry.ok)

    def _record(self) -> None:
        rec = self.testbed.record
        others = [f for f in rec.active_faults if f.get("nemesis") != self.owner]
        rec.active_faults = others + [{**e.fault.describe(), "nemesis": self.owner}
                                      for e in self.active]
        rec.save()

    def heal_all(self, urgent: bool = False) -> None:
        """Stop the timeline and heal every active fault, most recent first (idempotent).
        ``urgent`` (a signal): heal at once, without waiting for an effect probe under way
        (whose fault then reads as healed); else the probes finish first."""
        self._stop.set()
        if urgent:
            self._heal_active()  # waits for an apply under way, not for its probe
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._heal_active()  # whatever the timeline's thread finished meanwhile

    def _heal_active(self) -> None:
        """Every active fault healed, most recent first, then each heal probed."""
        with self._lock:
            done = [e for e in reversed(list(self.active)) if self._unapply(e)]
        for entry in done:
            self._probe_healed(entry)

    def results(self) -> list[dict[str, Any]]:
        """Every entry as results.json reports it."""
        return [e.result() for e in self.entries]
