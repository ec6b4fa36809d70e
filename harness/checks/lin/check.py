"""Linearizability of read/write/cas register histories, per key, with a minimal witness.

Semantics (Herlihy & Wing 1990; Jepsen/Knossos for unknown outcomes) are in
:mod:`harness.checks.lin.ops`. Each key is checked on its own (locality, the
P-compositionality of Horn & Kroening 2015 that Porcupine uses):

* with no cas and every written value unique (the built-in workloads), the O(n log n)
  read-mapping test of Gibbons & Korach (1997) (:mod:`harness.checks.lin.mapping`);
* otherwise (cas, duplicate values, foreign histories) the Wing & Gong (1993) search with
  Lowe's (2017) memoisation, as Porcupine's ``checkSingle`` (:mod:`harness.checks.lin.wgl`),
  under a step/time budget whose exhaustion is ``unknown``, never ``pass``.

Both run on the compiled core (:mod:`harness.checks.lin.native`) when it is built, step for
step as the Python modules, and :func:`check_file` reads a history file there too; without
it everything runs in Python, with the same verdicts.

A violation comes with a witness: a non-linearizable sub-history, shrunk by delta debugging
(Zeller & Hildebrandt 2002) to one from which no operation can be dropped while it still
fails, and a one-line explanation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.lin import native
from harness.checks.lin.mapping import Conflict, eligible, read_mapping_check
from harness.checks.lin.ops import (
    INF,
    Op,
    by_key,
    describe,
    fmt,
    op_dict,
    ops_from_events,
    paused_gc,
)
from harness.checks.lin.wgl import FAIL, PASS, UNKNOWN, wgl_check

MODELS = ("linearizable",)
DEFAULT_BUDGET_S = 30.0  # per key, for the search
SHRINK_BUDGET_S = 30.0  # per violating key, for the witness


@dataclass
class KeyResult:
    """The verdict on one key, the algorithm used and, on failure, the witness."""

    key: Any
    verdict: str
    algorithm: str
    ops: int
    steps: int = 0
    elapsed_s: float = 0.0
    witness: list[Op] = field(default_factory=list)
    explanation: str = ""
    minimal: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "verdict": self.verdict, "algorithm": self.algorithm,
                "ops": self.ops, "steps": self.steps, "elapsed_s": round(self.elapsed_s, 4),
                "explanation": self.explanation, "minimal": self.minimal,
                "witness": [op_dict(o) for o in self.witness]}


@dataclass
class LinResult:
    """The verdict on a whole history: fail if a key fails, unknown if a key is unknown."""

    verdict: str
    keys: list[KeyResult]
    ops: int
    elapsed_s: float
    reason: str = ""
    engine: str = "python"  # or "core": the compiled core read and checked it

    @property
    def violations(self) -> list[KeyResult]:
        return [k for k in self.keys if k.verdict == FAIL]

    @property
    def unknown(self) -> list[KeyResult]:
        return [k for k in self.keys if k.verdict == UNKNOWN]

    def summary(self) -> str:
        """One line: what was checked and what was found."""
        head = f"{self.ops} register operations on {len(self.keys)} key(s)"
        if self.reason:
            return f"unknown: {self.reason}; {head}"
        if self.violations:
            v = self.violations[0]
            more = f" (and {len(self.violations) - 1} more key(s))" if len(
                self.violations) > 1 else ""
            return f"not linearizable: {v.explanation}{more}; {head}"
        if self.unknown:
            keys = ", ".join(str(k.key) for k in self.unknown[:5])
            return (f"unknown: the search budget ran out on key(s) {keys} before a verdict; "
                    f"no violation found elsewhere; {head}")
        return f"linearizable: {head}"

    def as_dict(self) -> dict[str, Any]:
        return {"model": "linearizable", "verdict": self.verdict, "summary": self.summary(),
                "reason": self.reason or None,
                "ops": self.ops, "keys": len(self.keys), "elapsed_s": round(self.elapsed_s, 4),
                "engine": self.engine,
                "violations": [k.as_dict() for k in self.violations],
                "unknown": [k.as_dict() for k in self.unknown],
                "algorithms": sorted({k.algorithm for k in self.keys})}


def unobserved_dropped(ops: list[Op]) -> list[Op]:
    """``ops`` without the info writes and info cas whose new value no op observes (no ok
    read returns it, no cas expects it): one may always be linearized as never having
    happened, since no later op depends on the state it left (the pruning the read-mapping
    test does, for the search). Without it, k unread info writes cost the search 2^k."""
    while True:
        seen = {o.value for o in ops if o.f == "read"}
        seen |= {o.value[0] for o in ops if o.f == "cas"}
        keep = [o for o in ops if o.type == "ok" or o.f == "read"
                or (o.value if o.f == "write" else o.value[1]) in seen]
        if len(keep) == len(ops):
            return ops
        ops = keep


def _wgl(ops: list[Op], max_steps: int | None, budget_s: float | None) -> tuple[str, int]:
    """The search on the compiled core when it is built, else in Python (same steps), after
    dropping the unobserved info ops."""
    ops = unobserved_dropped(ops)
    got = native.wgl(ops, max_steps=max_steps, timeout_s=budget_s)
    return got if got is not None else wgl_check(ops, max_steps=max_steps, timeout_s=budget_s)


def _holds(ops: list[Op]) -> bool:
    """The read-mapping test's verdict, on the compiled core when it is built."""
    got = native.read_mapping_holds(ops)
    return got if got is not None else read_mapping_check(ops) is None


def _verdict(ops: list[Op], budget_s: float | None, max_steps: int | None
             ) -> tuple[str, str, int]:
    """(verdict, algorithm, steps) of one key's ops, the algorithm chosen as ``auto`` does."""
    if eligible(ops):
        return (PASS if _holds(ops) else FAIL), "read-mapping", len(ops)
    verdict, steps = _wgl(ops, max_steps, budget_s)
    return verdict, "wgl", steps


def check_key(key: Any, ops: list[Op], *, budget_s: float | None = DEFAULT_BUDGET_S,
              max_steps: int | None = None, algorithm: str = "auto",
              shrink_s: float = SHRINK_BUDGET_S) -> KeyResult:
    """Check one key's ops; ``algorithm`` is ``auto``, ``read-mapping`` or ``wgl``."""
    t0 = time.perf_counter()
    if algorithm == "wgl" or (algorithm == "auto" and not eligible(ops)):
        verdict, steps = _wgl(ops, max_steps, budget_s)
        algo = "wgl"
    elif algorithm in ("auto", "read-mapping"):
        if not eligible(ops):
            raise ValueError(f"key {key}: read-mapping needs unique writes and no cas")
        verdict, algo, steps = (PASS if _holds(ops) else FAIL), "read-mapping", len(ops)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    res = KeyResult(key, verdict, algo, len(ops), steps)
    if verdict == FAIL:
        add_witness(res, ops, budget_s, shrink_s)
    res.elapsed_s = time.perf_counter() - t0
    return res


def add_witness(res: KeyResult, ops: list[Op], budget_s: float | None, shrink_s: float
                ) -> None:
    """A failed key's minimal witness and explanation, shrunk from the read-mapping
    conflict (a handful of ops) when there is one, else from all its ops."""
    conflict = read_mapping_check(ops) if res.algorithm == "read-mapping" else None
    seed = conflict.ops if conflict is not None else ops
    res.witness, res.minimal = minimal_witness(seed, budget_s=budget_s, deadline_s=shrink_s)
    res.explanation = explain(res.key, res.witness)


NO_VALUES = ("no values recorded: the writes carry no values (e.g. a locustfile that records "
             "operations without their values); record the values written and read to "
             "check consistency")

NOTHING_OBSERVED = ("nothing observed: no operation completed ok (every one failed or timed "
                    "out), so no read or acknowledged write constrains the registers; make the "
                    "system serve (see the run's errors) to check consistency")


def values_recorded(ops: list[Op]) -> bool:
    """False when there are writes and none carries a value: such a history says nothing
    about a register (every read of null would look right)."""
    writes = [o for o in ops if o.f == "write"]
    return not writes or any(o.value is not None for o in writes) or any(
        o.f == "cas" for o in ops)


def _overall(keys: list[KeyResult]) -> str:
    return (FAIL if any(k.verdict == FAIL for k in keys) else
            UNKNOWN if any(k.verdict == UNKNOWN for k in keys) else PASS)


def check_ops(ops: Iterable[Op], **kw: Any) -> LinResult:
    """Check every key of a list of register ops (see :func:`check_key` for options); a
    history whose operations carry no values is ``unknown``, never linearizable."""
    t0 = time.perf_counter()
    with paused_gc():
        ops = list(ops)
        if ops and not values_recorded(ops):
            return LinResult(UNKNOWN, [], len(ops), time.perf_counter() - t0, NO_VALUES)
        if not any(o.type == "ok" for o in ops):
            return LinResult(UNKNOWN, [], len(ops), time.perf_counter() - t0,
                             NOTHING_OBSERVED)
        keys = [check_key(k, v, **kw) for k, v in by_key(ops).items()]
    return LinResult(_overall(keys), keys, len(ops), time.perf_counter() - t0)


def check_history(events: Iterable[dict[str, Any]], **kw: Any) -> LinResult:
    """Check raw history events (``read_history`` output); see :func:`check_key`."""
    return check_ops(ops_from_events(events), **kw)


def check_file(path: str | Path, *, budget_s: float | None = DEFAULT_BUDGET_S,
               max_steps: int | None = None, shrink_s: float = SHRINK_BUDGET_S
               ) -> LinResult | None:
    """Read and check a history file on the compiled core, the same verdicts as
    :func:`check_history` of its events (``elapsed_s`` includes the reading); None when the
    core is not built or the file needs the Python reader (see :mod:`.native`)."""
    t0 = time.perf_counter()
    hist = native.load_history(path)
    if hist is None:
        return None
    with hist, paused_gc():
        if hist.ops and not hist.values_recorded:
            return LinResult(UNKNOWN, [], hist.ops, time.perf_counter() - t0, NO_VALUES,
                             engine="core")
        if not hist.ops or not hist.observed():
            return LinResult(UNKNOWN, [], hist.ops, time.perf_counter() - t0,
                             NOTHING_OBSERVED, engine="core")
        keys = [_native_key(hist, k, budget_s, max_steps, shrink_s)
                for k in range(hist.keys)]
    return LinResult(_overall(keys), keys, hist.ops, time.perf_counter() - t0, engine="core")


def _native_key(hist: native.NativeHistory, k: int, budget_s: float | None,
                max_steps: int | None, shrink_s: float) -> KeyResult:
    """One key of a history read by the core; a failed key's ops are read again from the
    file, as Python objects, for its witness."""
    verdict, algo, n, steps, elapsed = hist.check_key(k, budget_s, max_steps)
    res = KeyResult(hist.key(k), verdict, algo, n, steps, elapsed)
    if verdict == FAIL:
        t0 = time.perf_counter()
        add_witness(res, hist.key_ops(k), budget_s, shrink_s)
        res.elapsed_s += time.perf_counter() - t0
    return res


# ------------------------------------------------------------------ witness


def _produced(ops: list[Op]) -> set[Any]:
    """Values the ops can put in the register: ``null``, written values, and the new values
    of cas whose expected value is itself producible (a fixed point)."""
    out = {None} | {o.value for o in ops if o.f == "write"}
    cas = [o.value for o in ops if o.f == "cas"]
    while True:
        more = {new for exp, new in cas if exp in out and new not in out}
        if not more:
            return out
        out |= more


def closure(cur: list[Op], drop: set[int]) -> set[int]:
    """Grow ``drop`` so that every remaining ok read (and ok cas) still has a value some
    remaining write or cas can produce (or reads/expects the initial ``null``)."""
    while True:
        rest = [o for o in cur if o.id not in drop]
        produced = _produced(rest)
        more = {o.id for o in rest if o.type == "ok" and (
            (o.f == "read" and o.value not in produced) or
            (o.f == "cas" and o.value[0] not in produced))}
        if not more:
            return drop
        drop |= more


def shrink(ops: list[Op], fails: Callable[[list[Op]], bool], deadline_s: float
           ) -> tuple[list[Op], bool]:
    """Delta debugging: drop chunks (halving down to single ops) while the rest still fails.

    Only *closed* sub-histories are tried (no read left without a write of its value), so a
    witness never blames a read on a write the shrinking removed. Returns (ops, minimal?).
    """
    end = time.monotonic() + deadline_s
    cur = sorted(ops, key=lambda o: (o.start, o.id))
    chunk = max(1, len(cur) // 2)
    while True:
        changed, i = False, 0
        while i < len(cur):
            if time.monotonic() > end:
                return cur, False
            drop = closure(cur, {o.id for o in cur[i:i + chunk]})
            rest = [o for o in cur if o.id not in drop]
            if rest and fails(rest):
                cur, changed = rest, True
            else:
                i += chunk
        if not changed:
            if chunk == 1:
                return cur, True
            chunk = max(1, chunk // 2)


def minimal_witness(ops: list[Op], *, budget_s: float | None = DEFAULT_BUDGET_S,
                    deadline_s: float = SHRINK_BUDGET_S) -> tuple[list[Op], bool]:
    """A non-linearizable sub-history of ``ops`` (which must fail) that cannot be shrunk."""

    def fails(sub: list[Op]) -> bool:
        return _verdict(sub, budget_s, None)[0] == FAIL
    return shrink(ops, fails, deadline_s)


# ------------------------------------------------------------------ explanation


def explain(key: Any, witness: list[Op]) -> str:
    """One line on why the witness cannot be linearized."""
    conflict = read_mapping_check(witness) if eligible(witness) else None
    if conflict is None:
        names = "; ".join(describe(o) + ("" if o.type == "ok" else " [unknown outcome]")
                          for o in sorted(witness, key=lambda o: (o.start, o.id)))
        return (f"no order of these {len(witness)} operations on {fmt(key)} ({names}) "
                "respects both their real-time order and a register's semantics (a read "
                "returns the last value written; a cas succeeds only on its expected value)")
    return _explain_conflict(fmt(key), conflict)


def _explain_conflict(k: str, c: Conflict) -> str:
    if c.kind == "no-write":
        assert c.read is not None
        return (f"read of {k} by process {c.read.process} returned {fmt(c.read.value)}, but "
                f"no write of {k} that succeeded or may have succeeded wrote it")
    if c.kind == "read-before-write":
        assert c.read is not None
        return (f"read of {k} by process {c.read.process} returned {fmt(c.read.value)}, but "
                f"it completed before {describe(c.write)} began")
    assert c.a is not None and c.b is not None
    if c.kind == "contained":
        return _explain_contained(k, c.a, c.b)
    return _explain_forward(k, c.a, c.b)


def _explain_contained(k: str, a: Any, b: Any) -> str:
    """Backward cluster ``b`` lies within forward cluster ``a``: ``b`` overwrote ``a``."""
    y, x = a.hi_op, a.lo_op  # y: a read of a's value; x: the a-op that completed first
    head = f"read of {k} by process {y.process} returned {fmt(a.value)}, but "
    if x is None:
        return head + f"{describe(b.lo_op)} completed before the read began"
    s, e = b.hi_op, b.lo_op
    if s == e:
        mid = f"{describe(s)} began after {describe(x)} completed and completed before"
    else:
        mid = (f"{describe(s)} began after {describe(x)} completed and {describe(e)} "
               "completed before")
    return head + mid + f" the read began, and no later write wrote {fmt(a.value)}"


def _explain_forward(k: str, a: Any, b: Any) -> str:
    """Two values each had to stay current over overlapping intervals."""
    if b.lo_op is None:
        a, b = b, a
    if a.lo_op is None:
        return (f"read of {k} by process {a.hi_op.process} returned null (absent), but "
                f"{describe(b.lo_op)} completed before the read began")
    return (f"read of {k} by process {a.hi_op.process} returned {fmt(a.value)} after "
            f"{describe(b.lo_op)} had completed, while the read by process "
            f"{b.hi_op.process} returned {fmt(b.value)} after {describe(a.lo_op)} had "
            f"completed: no order of the writes explains both reads")


__all__ = ["FAIL", "INF", "MODELS", "PASS", "UNKNOWN", "KeyResult", "LinResult", "Op",
           "check_file", "check_history", "check_key", "check_ops", "explain",
           "minimal_witness", "shrink"]
