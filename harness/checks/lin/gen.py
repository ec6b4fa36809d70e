"""Histories of a real atomic register, for tests and benchmarks of the checker.

:func:`simulate_register` runs closed-loop processes against one atomic register per key:
each operation gets a random interval and takes effect at a random instant inside it (its
linearization point), so the history is linearizable by construction. Some completions are
``fail`` (no effect), ``info`` (took effect or not, at random) or missing (the process
stopped). :func:`inject_stale_read` then makes exactly one ok read return a value that had
certainly been overwritten before the read began, which no linearization allows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass
class _Sim:
    """One generated operation before the register is replayed."""

    process: int
    f: str
    key: str
    arg: Any
    start: int
    end: int
    point: int
    outcome: str  # ok | fail | info | open
    effect: bool = True
    result: Any = None


def _plan(rng: random.Random, n_ops: int, processes: int, keys: int, p_read: float,
          p_cas: float, mean_gap_ns: int, mean_latency_ns: int, values: int | None
          ) -> list[_Sim]:
    """Intervals and linearization points, closed loop per process, round-robin by time;
    written values count up (unique), or cycle through ``values`` of them."""
    clock = [rng.randrange(mean_gap_ns + 1) for _ in range(processes)]
    sims, counter = [], 0
    for _ in range(n_ops):
        p = min(range(processes), key=clock.__getitem__)
        start = clock[p] + 1 + int(rng.expovariate(1 / max(1, mean_gap_ns)))
        end = start + 1 + int(rng.expovariate(1 / max(1, mean_latency_ns)))
        clock[p] = end
        r = rng.random()
        f = "read" if r < p_read else "cas" if r < p_read + p_cas else "write"
        counter += 1
        v = counter % values if values else counter
        arg = v if f == "write" else [None, v] if f == "cas" else None
        sims.append(_Sim(p, f, f"k{rng.randrange(keys)}", arg, start, end,
                         rng.randint(start, end), "ok"))
    return sims


def _outcomes(rng: random.Random, sims: list[_Sim], p_info: float, p_fail: float) -> None:
    """Mark fails (no effect), infos (effect at random) and a few unfinished last ops."""
    last: dict[int, _Sim] = {}
    for s in sims:
        r = rng.random()
        if r < p_fail:
            s.outcome, s.effect = "fail", False
        elif r < p_fail + p_info:
            s.outcome, s.effect = "info", rng.random() < 0.5
        last[s.process] = s
    for s in last.values():
        if rng.random() < p_info:
            s.outcome, s.effect = "open", rng.random() < 0.5


def _replay(rng: random.Random, sims: list[_Sim]) -> None:
    """Apply the effective ops in linearization-point order; fill reads and cas results."""
    state: dict[str, Any] = {}
    for s in sorted(sims, key=lambda s: s.point):
        cur = state.get(s.key)
        if s.f == "read":
            s.result = cur
        elif s.f == "cas":
            s.arg[0] = cur if rng.random() < 0.7 else rng.choice([None, -1, cur])
            if s.arg[0] != cur and s.outcome == "ok":
                s.outcome, s.effect = "fail", False
            if s.effect and s.arg[0] == cur:
                state[s.key] = s.arg[1]
        elif s.effect:
            state[s.key] = s.arg


def _events(sims: list[_Sim]) -> list[dict[str, Any]]:
    evs = []
    for s in sims:
        node = f"n{s.process % 3}"
        evs.append({"process": s.process, "type": "invoke", "f": s.f, "key": s.key,
                    "value": s.arg if s.f != "read" else None, "node": node,
                    "time_ns": s.start})
        if s.outcome != "open":
            value = s.result if (s.f == "read" and s.outcome == "ok") else (
                s.arg if s.f != "read" else None)
            evs.append({"process": s.process, "type": s.outcome, "f": s.f, "key": s.key,
                        "value": value, "node": node, "time_ns": s.end})
    evs.sort(key=lambda e: (e["time_ns"], e["type"] == "invoke"))
    return evs


def simulate_register(seed: int | random.Random = 0, *, n_ops: int = 100, processes: int = 4,
                      keys: int = 2, p_read: float = 0.5, p_cas: float = 0.0,
                      p_info: float = 0.0, p_fail: float = 0.0, mean_gap_ns: int = 1000,
                      mean_latency_ns: int = 2000, values: int | None = None,
                      t0_ns: int = 0) -> list[dict[str, Any]]:
    """History events (time order) of ``n_ops`` operations on a correct atomic register;
    ``values`` makes written values repeat (mod ``values``), ``t0_ns`` shifts every time
    (e.g. to epoch nanoseconds, beyond float64's exact integers)."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    sims = _plan(rng, n_ops, processes, keys, p_read, p_cas, mean_gap_ns, mean_latency_ns,
                 values)
    _outcomes(rng, sims, p_info, p_fail)
    _replay(rng, sims)
    events = _events(sims)
    if t0_ns:
        for e in events:
            e["time_ns"] += t0_ns
    return events


def _intervals(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(invoke, completion) pairs of completed operations."""
    open_: dict[Any, dict[str, Any]] = {}
    out = []
    for ev in events:
        if ev["type"] == "invoke":
            open_[ev["process"]] = ev
        elif ev["process"] in open_:
            out.append((open_.pop(ev["process"]), ev))
    return out


def _stale_candidates(pairs: list[tuple[dict[str, Any], dict[str, Any]]]
                      ) -> list[tuple[dict[str, Any], Any]]:
    """(read completion, stale value): a value certainly overwritten before the read began
    (write w1 completed, then write w2 began and completed, all before the read began), or
    ``null`` once any write had completed."""
    per_key: dict[Any, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for inv, comp in pairs:
        if comp["type"] == "ok" and inv["f"] in ("read", "write"):
            per_key.setdefault(inv["key"], []).append((inv, comp))
    out = []
    for ops in per_key.values():
        writes = sorted((p for p in ops if p[0]["f"] == "write"), key=lambda p: p[1]["time_ns"])
        reads = sorted((p for p in ops if p[0]["f"] == "read"), key=lambda p: p[0]["time_ns"])
        j, best_w2, first = 0, None, writes[0] if writes else None
        for inv, comp in reads:
            while j < len(writes) and writes[j][1]["time_ns"] < inv["time_ns"]:
                if best_w2 is None or writes[j][0]["time_ns"] > best_w2[0]["time_ns"]:
                    best_w2 = writes[j]
                j += 1
            if best_w2 is None or first is None:
                continue
            if first[1]["time_ns"] < best_w2[0]["time_ns"]:
                out.append((comp, first[0]["value"]))
            elif comp["value"] is not None:
                out.append((comp, None))
    return out


def inject_stale_read(events: list[dict[str, Any]], rng: random.Random,
                      at: float | None = None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """A copy of ``events`` with one ok read made stale, and that read's completion event;
    ``None`` if no read has a certainly-overwritten value to return. The read is chosen at
    random, or (``at``, a fraction of the candidates in time order) e.g. deep in the history
    with ``at=0.9``."""
    cands = _stale_candidates(_intervals(events))
    if not cands:
        return None
    if at is None:
        comp, value = rng.choice(cands)
    else:
        cands.sort(key=lambda c: c[0]["time_ns"])
        comp, value = cands[min(len(cands) - 1, int(at * len(cands)))]
    new = dict(comp, value=value)
    return [new if e is comp else e for e in events], new
