"""Stale reads: ok reads that returned a value certainly overwritten before they began.

With unique write values (the read-mapping case), a read of value v by a read R is stale
when some write W' completed before R began although W' itself began after v's write
completed (so W' certainly follows it); a read of ``null`` is stale once any write completed
before it began, and a read of a value no write wrote is a phantom. Each such read is one
violating operation a user can count, place in time and look at; the witness says why.
"""

from __future__ import annotations

import bisect
from typing import Any

from harness.checks.lin.mapping import eligible
from harness.checks.lin.ops import Op, by_key


def stale_reads(ops: list[Op]) -> tuple[list[Op], list[Any]]:
    """(stale or phantom reads, keys not counted because their writes are not unique)."""
    out: list[Op] = []
    skipped: list[Any] = []
    for key, kops in by_key(ops).items():
        if not eligible(kops):
            skipped.append(key)
            continue
        out += _stale_in_key(kops)
    return out, skipped


def _stale_in_key(ops: list[Op]) -> list[Op]:
    writes = sorted((o for o in ops if o.f == "write" and o.type == "ok"), key=lambda o: o.end)
    ends = [w.end for w in writes]
    latest_start: list[float] = []  # latest start among writes completed so far
    for w in writes:
        latest_start.append(max(w.start, latest_start[-1] if latest_start else w.start))
    value_end = {o.value: o.end for o in ops if o.f == "write"}
    out = []
    for r in ops:
        if r.f != "read" or r.type != "ok":
            continue
        i = bisect.bisect_left(ends, r.start) - 1  # writes that completed before r began
        if r.value is None:
            if i >= 0:
                out.append(r)
            continue
        if r.value not in value_end:
            out.append(r)  # a phantom: nobody wrote it
            continue
        if i >= 0 and latest_start[i] > value_end[r.value]:
            out.append(r)
    return out
