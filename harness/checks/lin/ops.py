"""Register operations for the linearizability checker, built from a history.

An :class:`Op` is one completed (or possibly-completed) operation on one key:

* ``read``: ``value`` is the value the read returned (``None`` = key absent, the initial
  value). Only ``ok`` reads constrain anything; ``fail`` and ``info`` reads are dropped (a read
  has no effect, and an unknown outcome tells us nothing).
* ``write``: ``value`` is the value written.
* ``cas``: the invoke's ``value`` is ``[expected, new]``: the register is set to ``new`` if and
  only if it holds ``expected`` (``null`` expects the key absent). An ``ok`` cas succeeded, a
  ``fail`` cas did not take effect (whatever the reason, including a mismatch).

Jepsen/Knossos semantics of completions: ``ok`` took effect exactly once between invoke and
completion; ``fail`` took no effect and is dropped; ``info`` (and an invoke that never
completed) may or may not have taken effect, at any time after its invoke: its ``end`` is
``+inf``. ``a`` precedes ``b`` in real time iff ``a.end < b.start`` (equal times are
concurrent). ``ingest`` and other non-register functions are ignored.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from workloads.history import pairs

if TYPE_CHECKING:
    import pandas as pd

REGISTER_FUNCTIONS = ("read", "write", "cas")
INF = math.inf


class Op(NamedTuple):
    """One register operation. ``end`` is ``inf`` for ``info``; ``id`` is its row index."""

    id: int
    process: Any
    f: str
    key: Any
    value: Any
    start: float
    end: float
    type: str
    node: Any


def freeze(value: Any) -> Any:
    """A hashable, comparable form of a JSON value (lists -> tuples, dicts -> sorted items)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a frozen value (tuples -> lists)."""
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _cas_value(value: Any, process: Any, start: Any) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(
            f"cas by process {process} invoked at time_ns {start}: value must be "
            f"[expected, new], got {value!r}")
    return freeze(value[0]), freeze(value[1])


def make_op(i: int, process: Any, f: str, key: Any, value: Any, start: Any, end: Any,
            type_: str, node: Any) -> Op | None:
    """The :class:`Op` of one operation row, or ``None`` if it constrains nothing."""
    if f not in REGISTER_FUNCTIONS or type_ == "fail":
        return None
    if type_ != "ok":
        if f == "read":
            return None
        type_, end = "info", INF
    elif end is None or (isinstance(end, float) and math.isnan(end)):
        end = INF
    v = _cas_value(value, process, start) if f == "cas" else freeze(value)
    return Op(i, process, f, freeze(key), v, start, end, type_, node)


def ops_from_frame(df: pd.DataFrame) -> list[Op]:
    """Register ops of a :func:`workloads.history.operations` frame (fails dropped)."""
    cols = [df[c].tolist() for c in
            ("process", "f", "key", "value", "start_ns", "end_ns", "type", "node")]
    out = []
    for i, (p, f, k, v, s, e, t, n) in enumerate(zip(*cols, strict=True)):
        op = make_op(i, p, f, k, v, s, e if t == "ok" else None, t, n)
        if op is not None:
            if op.end != INF:
                op = op._replace(end=int(op.end))
            out.append(op)
    return out


def widened(ops: Iterable[Op], by_ns: int) -> list[Op]:
    """Each operation's interval widened by ``by_ns`` on both sides: what two clocks aligned
    within ``by_ns`` of each other allow, so operations closer than that are concurrent."""
    if by_ns <= 0:
        return list(ops)
    return [op._replace(start=op.start - by_ns, end=op.end if op.end == INF else op.end + by_ns)
            for op in ops]


def op_of_pair(i: int, inv: dict[str, Any], comp: dict[str, Any] | None) -> Op | None:
    """The :class:`Op` of one (invoke, completion or None) pair, number ``i``: the value is
    the completion's for reads, the invoke's otherwise; only an ok completion ends it."""
    f, type_ = inv["f"], comp["type"] if comp is not None else "info"
    value = comp.get("value") if f == "read" and comp is not None else inv.get("value")
    end = comp["time_ns"] if comp is not None and type_ == "ok" else None
    return make_op(i, inv["process"], f, inv.get("key"), value, inv["time_ns"], end, type_,
                   inv.get("node"))


def ops_from_pairs(paired: Iterable[tuple[dict[str, Any], dict[str, Any] | None]]
                   ) -> list[Op]:
    """Register ops of :func:`workloads.history.pairs` output (times stay as read)."""
    out = []
    for i, (inv, comp) in enumerate(paired):
        op = op_of_pair(i, inv, comp)
        if op is not None:
            out.append(op)
    return out


def ops_from_events(events: Iterable[dict[str, Any]]) -> list[Op]:
    """Register ops of raw history events, paired as :func:`workloads.history.operations`
    pairs them (no pandas; times stay integers)."""
    return ops_from_pairs(pairs(events))


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: the checker builds millions of acyclic objects,
    and CPython's collector would rescan them all again and again (super-linear time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def by_key(ops: Iterable[Op]) -> dict[Any, list[Op]]:
    """Ops grouped per key (P-compositionality: Herlihy & Wing 1990's locality)."""
    out: dict[Any, list[Op]] = {}
    for op in ops:
        out.setdefault(op.key, []).append(op)
    return out


def describe(op: Op | None) -> str:
    """A short human name of an op: ``write 23 (process 2)``, ``read of 17 by process 4``."""
    if op is None:
        return "the initial state"
    if op.f == "write":
        return f"write {fmt(op.value)} (process {op.process})"
    if op.f == "cas":
        return f"cas {fmt(op.value[0])}->{fmt(op.value[1])} (process {op.process})"
    return f"read of {fmt(op.value)} by process {op.process}"


def fmt(value: Any) -> str:
    """A value as JSON-ish text (``null`` for absent)."""
    return json.dumps(thaw(value), separators=(",", ":"), default=str)


def op_dict(op: Op) -> dict[str, Any]:
    """The JSON form of an op for reports (``end_ns`` is ``None`` for an unknown outcome)."""
    return {"process": op.process, "type": op.type, "f": op.f, "key": thaw(op.key),
            "value": thaw(op.value), "start_ns": op.start,
            "end_ns": None if op.end == INF else op.end, "node": op.node}
