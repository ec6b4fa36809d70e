"""Polynomial linearizability for read/write registers with unique write values.

Gibbons & Korach (1997), "Testing shared memories", show that verifying linearizability is
NP-complete in general but polynomial when the *read-mapping* is known: with every written
value unique, each read maps to the one write of its value. This module implements the
O(n log n) zone test of that case in the form given by Golab, Li & Shah (2011), "Analyzing
consistency properties for fun and profit" (their restatement of Gibbons & Korach):

* a *cluster* is a write together with the reads of its value (the initial value ``null``
  has a virtual write at -infinity);
* with ``lo`` the earliest completion in the cluster and ``hi`` its latest invoke, a cluster
  has a *forward zone* ``(lo, hi)`` if ``lo < hi`` (its value must stay current from ``lo`` to
  ``hi``) and a *backward zone* ``[hi, lo]`` otherwise (it can be placed at one instant there);
* the history is linearizable iff no read returns a value nobody wrote, no read completes
  before its write is invoked, no two forward zones overlap, and no backward zone lies inside a
  forward zone.

Precedence is strict (``a.end < b.start``); equal times are concurrent, which is why the
comparisons below are strict. An ``info`` write has ``end = +inf``; one that nobody read may
never have happened and is left out. ``fail`` ops and ``info`` reads are dropped beforehand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.checks.lin.ops import Op

INITIAL = object()  # the cluster key of the initial (absent) value


@dataclass
class Cluster:
    """A write and the reads of its value; ``lo``/``hi`` with the ops that set them."""

    value: Any
    write: Op | None
    reads: list[Op] = field(default_factory=list)
    lo: float = math.inf
    lo_op: Op | None = None
    hi: float = -math.inf
    hi_op: Op | None = None

    @property
    def ops(self) -> list[Op]:
        return ([self.write] if self.write is not None else []) + self.reads

    @property
    def forward(self) -> bool:
        return self.lo < self.hi


@dataclass
class Conflict:
    """Why a history is not linearizable, with the ops that show it.

    ``kind``: ``no-write`` (``read``), ``read-before-write`` (``read``, ``write``), ``forward``
    (two forward zones ``a``, ``b`` overlap) or ``contained`` (backward ``b`` inside forward
    ``a``).
    """

    kind: str
    read: Op | None = None
    write: Op | None = None
    a: Cluster | None = None
    b: Cluster | None = None

    @property
    def ops(self) -> list[Op]:
        """The ops of the clusters involved: a non-linearizable sub-history."""
        if self.kind in ("no-write", "read-before-write"):
            return [o for o in (self.write, self.read) if o is not None]
        assert self.a is not None and self.b is not None
        return sorted(self.a.ops + self.b.ops, key=lambda o: (o.start, o.id))


def eligible(ops: list[Op]) -> bool:
    """True when the read-mapping test applies: no cas, and every write value unique and
    not ``null``."""
    seen: set[Any] = set()
    for op in ops:
        if op.f == "cas":
            return False
        if op.f == "write":
            if op.value is None or op.value in seen:
                return False
            seen.add(op.value)
    return True


def _clusters(ops: list[Op]) -> tuple[dict[Any, Cluster], Conflict | None]:
    """Clusters by value; a read with no write, or before its write, is a conflict at once."""
    cl: dict[Any, Cluster] = {INITIAL: Cluster(None, None, lo=-math.inf)}
    for op in ops:
        if op.f == "write":
            cl[op.value] = Cluster(op.value, op)
    for op in ops:
        if op.f != "read":
            continue
        c = cl.get(INITIAL if op.value is None else op.value)
        if c is None:
            return cl, Conflict("no-write", read=op)
        if c.write is not None and op.end < c.write.start:
            return cl, Conflict("read-before-write", read=op, write=c.write)
        c.reads.append(op)
    return cl, None


def _zone(c: Cluster) -> None:
    for op in c.ops:
        if op.end < c.lo:
            c.lo, c.lo_op = op.end, op
        if op.start > c.hi:
            c.hi, c.hi_op = op.start, op


def _zones(cl: dict[Any, Cluster]) -> tuple[list[Cluster], list[Cluster]]:
    """(forward, backward) clusters; unread info writes and an unread initial value skipped."""
    fwd, back = [], []
    for c in cl.values():
        if not c.reads and (c.write is None or c.write.type != "ok"):
            continue
        _zone(c)
        (fwd if c.forward else back).append(c)
    return fwd, back


def _overlap(fwd: list[Cluster]) -> Conflict | None:
    """Two overlapping forward zones, by a sweep in ``lo`` order."""
    best: Cluster | None = None
    for c in sorted(fwd, key=lambda c: c.lo):
        if best is not None and c.lo < best.hi:
            return Conflict("forward", a=best, b=c)
        if best is None or c.hi > best.hi:
            best = c
    return None


def _contained(fwd: list[Cluster], back: list[Cluster]) -> Conflict | None:
    """A backward zone ``[s, e]`` inside a forward zone ``(lo, hi)``: ``lo < s``, ``e < hi``."""
    fwd = sorted(fwd, key=lambda c: c.lo)
    j, best = 0, None
    for b in sorted(back, key=lambda c: c.hi):
        while j < len(fwd) and fwd[j].lo < b.hi:
            if best is None or fwd[j].hi > best.hi:
                best = fwd[j]
            j += 1
        if best is not None and b.lo < best.hi:
            return Conflict("contained", a=best, b=b)
    return None


def read_mapping_check(ops: list[Op]) -> Conflict | None:
    """``None`` if the one-key history (``eligible``) is linearizable, else a conflict."""
    cl, conflict = _clusters(ops)
    if conflict is not None:
        return conflict
    fwd, back = _zones(cl)
    return _overlap(fwd) or _contained(fwd, back)
