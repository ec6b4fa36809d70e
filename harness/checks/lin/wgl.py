"""General single-register linearizability: the Wing & Gong search with Lowe's memoisation.

Wing & Gong (1993), "Testing and verifying concurrent objects": depth-first search for a
linearization, trying at each point every operation that is *minimal* (invoked before the
first pending completion). Lowe (2017), "Testing for linearizability": memoise the
configurations (set of linearized operations, model state) already explored, which makes the
search practical. The data structure follows Porcupine's ``checkSingle`` (Athalye;
after Horn & Kroening 2015, "Faster linearizability checking via P-compositionality"): a
doubly linked list of call/return entries sorted by time, ``lift``/``unlift`` to take a
linearized operation (its call and return entries) out of the list and put it back, a stack of
(call entry, state before) for backtracking, and a cache of (bitset, state). Iterative, not
recursive.

``info`` operations have no return entry (their completion is at +infinity): they may be
linearized at any point after their invoke, or never; the search succeeds once every ``ok``
operation is linearized. A step or time budget turns an unfinished search into ``unknown``.
"""

from __future__ import annotations

import time
from typing import Any

from harness.checks.lin.ops import Op

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


def _entries(ops: list[Op]) -> tuple[list[int], list[bool]]:
    """Entry list sorted by time (a call before a return at the same time: concurrent)."""
    evs = [(op.start, 0, i) for i, op in enumerate(ops)]
    evs += [(op.end, 1, i) for i, op in enumerate(ops) if op.type == "ok"]
    evs.sort()
    return [i for _, _, i in evs], [k == 0 for _, k, _ in evs]


class _List:
    """Dancing-links list of entries 0..m-1 between sentinels ``head`` (m) and ``tail``."""

    def __init__(self, m: int) -> None:
        self.head, self.tail = m, m + 1
        self.nxt = [*range(1, m + 1), 0 if m else m + 1, m + 1]
        self.prv = [*range(-1, m - 1), m, m - 1 if m else m]
        if m:
            self.nxt[m - 1] = self.tail
            self.prv[0] = self.head

    def remove(self, e: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[e]] = nxt[e]
        prv[nxt[e]] = prv[e]

    def restore(self, e: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[e]] = e
        prv[nxt[e]] = e


def wgl_check(ops: list[Op], *, init: Any = None, max_steps: int | None = None,
              timeout_s: float | None = None) -> tuple[str, int]:
    """Is this one-key history linearizable? Returns (pass|fail|unknown, steps taken).

    ``ops`` are ok and info register ops of one key (fails already dropped).
    """
    order, is_call = _entries(ops)
    m = len(order)
    ll = _List(m)
    ret = [-1] * len(ops)
    for e, i in enumerate(order):
        if not is_call[e]:
            ret[i] = e
    is_ok = [op.type == "ok" for op in ops]
    need = sum(is_ok)
    return _search(ops, order, is_call, ret, is_ok, need, ll, init, max_steps, timeout_s)


def _step(op: Op, state: Any) -> tuple[bool, Any]:
    """The sequential register: read returns the state, write sets it, cas compares-and-sets."""
    if op.f == "read":
        return state == op.value, state
    if op.f == "write":
        return True, op.value
    expected, new = op.value
    return state == expected, new


def _search(ops: list[Op], order: list[int], is_call: list[bool], ret: list[int],
            is_ok: list[bool], need: int, ll: _List, state: Any, max_steps: int | None,
            timeout_s: float | None) -> tuple[str, int]:
    """Porcupine's ``checkSingle`` loop."""
    nxt, head, tail = ll.nxt, ll.head, ll.tail
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    limit = max_steps if max_steps is not None else -1
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []
    lin, done, steps, e = 0, 0, 0, nxt[head]
    while done < need:
        steps += 1
        if steps == limit or (deadline is not None and not steps & 0xFFF
                              and time.monotonic() > deadline):
            return UNKNOWN, steps
        if e != tail and is_call[e]:
            i = order[e]
            ok, new = _step(ops[i], state)
            if ok:
                key = (lin | (1 << i), new)
                if key not in cache:
                    cache.add(key)
                    stack.append((e, state))
                    state, lin = new, key[0]
                    done += is_ok[i]
                    ll.remove(e)
                    if ret[i] >= 0:
                        ll.remove(ret[i])
                    e = nxt[head]
                    continue
            e = nxt[e]
            continue
        if not stack:  # a return entry of an op no order could place: not linearizable
            return FAIL, steps
        e, state = stack.pop()
        i = order[e]
        lin ^= 1 << i
        done -= is_ok[i]
        if ret[i] >= 0:
            ll.restore(ret[i])
        ll.restore(e)
        e = nxt[e]
    return PASS, steps
