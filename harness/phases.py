"""Phases of a run: baseline, one window per fault (named after it), recovery after heals.

Windows are cut at every scheduled apply and heal, so overlapping faults give a window per
combination; times are seconds after the load started.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from harness.scenario import Scenario


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float
    faults: tuple[int, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        if self.faults:
            return "fault"
        return "baseline" if self.name == "baseline" else "recovery"

    def as_dict(self) -> dict[str, Any]:
        """The phase as results.json reports it."""
        return {"name": self.name, "kind": self.kind, "start_s": self.start_s,
                "end_s": self.end_s, "faults": list(self.faults)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Phase:
        """A phase as results.json stored it."""
        return cls(str(d["name"]), float(d["start_s"]), float(d["end_s"]),
                   tuple(int(i) for i in d.get("faults") or ()))


def fault_label(spec: Any) -> str:
    """A short name for a fault: ``latency clients->*``, ``crash edge-3``."""
    return str(spec.label())


def phases(scenario: Scenario, times: list[tuple[float, float]] | None = None) -> list[Phase]:
    """Cut [0, duration) into phases; ``times`` may give actual (applied, healed) per fault.

    Names are stable across runs of the same scenario: ``baseline``, the fault labels
    (``partition isolate edge-3``), ``recovery after <fault>``, with `` #2`` ... when a name
    comes again; never a time."""
    duration = scenario.workload.duration_s
    spans = times or [(f.at_s, f.at_s + f.for_s) for f in scenario.faults]
    spans = [(max(0.0, a), min(duration, h)) for a, h in spans]
    cuts = sorted({0.0, duration, *[t for s in spans for t in s if 0 < t < duration]})
    out: list[Phase] = []
    before = ""  # the fault window the calm follows
    for start, end in itertools.pairwise(cuts):
        active = tuple(i for i, (a, h) in enumerate(spans) if a <= start < h)
        if active:
            name = before = " + ".join(fault_label(scenario.faults[i]) for i in active)
        else:
            name = f"recovery after {before}" if before else "baseline"
        if out and out[-1].faults == active and out[-1].name == name:
            out[-1] = Phase(out[-1].name, out[-1].start_s, end, active)
        else:
            out.append(Phase(name, start, end, active))
    return _numbered(out)


def rollout_only(scenario: Scenario, phase: Phase) -> bool:
    """True for a window of rollouts alone (nothing the data plane's models change): a
    data-plane check leaves it out when it holds too few samples, rather than call the run
    unknown for a rollout that converged in a fraction of a second; the rollout check judges
    it."""
    return bool(phase.faults) and all(
        getattr(scenario.faults[i], "kind", "") == "rollout" for i in phase.faults
        if i < len(scenario.faults))


def _numbered(phs: list[Phase]) -> list[Phase]:
    """Give a name that comes again an ordinal: ``latency clients->* #2``."""
    seen: dict[str, int] = {}
    out = []
    for p in phs:
        seen[p.name] = seen.get(p.name, 0) + 1
        n = seen[p.name]
        out.append(p if n == 1 else Phase(f"{p.name} #{n}", p.start_s, p.end_s, p.faults))
    return out


def fault_times(fault_results: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(applied, healed) per fault, the scheduled times where the actual ones are missing;
    a fault lasts until its heal has finished (a crashed node is down until it is ready
    again, however long its restart takes)."""
    return [(f["applied_at_s"] if f["applied_at_s"] is not None else f["at_s"], heal_done(f))
            for f in fault_results]


def apply_done(f: dict[str, Any]) -> float:
    """When a fault's apply returned (it holds from then), in seconds after the load began
    (the scheduled start when it was never applied)."""
    if f.get("applied_at_s") is None:
        return float(f["at_s"])
    return float(f["applied_at_s"]) + float(f.get("apply_took_s") or 0.0)


def heal_done(f: dict[str, Any]) -> float:
    """When a fault's heal finished, in seconds after the load began (the scheduled end
    when it was never healed)."""
    if f.get("healed_at_s") is None:
        return float(f["at_s"] + f["for_s"])
    return float(f["healed_at_s"]) + float(f.get("heal_took_s") or 0.0)
