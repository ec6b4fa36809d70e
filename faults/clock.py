"""Clock skew: move one node's wall clock by an offset, optionally drifting, at run time
(libfaketime on local, per container on docker); heal puts it back to real time.

Drift is applied by a ticker that rewrites the node's offset every ``TICK_S``: the clock gains
``drift`` seconds per second in steps of at most ``drift * TICK_S``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from faults.base import NONE, UNVERIFIED, VERIFIED, Effect, Kind, NodeFaultSpec
from testbeds.base import Testbed
from testbeds.spec import Num, TestbedSpec

MAX_SKEW_S = 315_360_000.0  # ten years either way: the clock stays a date

TICK_S = 0.05


class ClockSkewFault(NodeFaultSpec):
    """A scenario's clock skew entry: the node's wall clock ``offset_s`` off, drifting."""

    kind: Literal["clock_skew"]
    offset_s: Num = Field(default=0.0, ge=-MAX_SKEW_S, le=MAX_SKEW_S)
    drift: Num = Field(default=0.0, ge=-1, le=10,
                       description="extra seconds per second (0.01 = 1% fast, -1 stopped)")

    def holds(self) -> str | None:
        return f"clock {self.node}"


@dataclass
class ClockSkew:
    """Set the node's clock ``offset_s`` seconds off (drift: seconds gained per second)."""

    node: str
    offset_s: float
    drift: float = 0.0
    kind: str = "clock_skew"
    _stop: threading.Event | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return self.node

    def offset_at(self, elapsed_s: float) -> float:
        """The offset after the fault has been active for elapsed_s (drift accumulates)."""
        return self.offset_s + self.drift * elapsed_s

    def apply(self, testbed: Testbed) -> None:
        testbed.set_clock(self.node, self.offset_s)
        if self.drift:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._tick, args=(testbed, time.monotonic()),
                                            name=f"drift-{self.node}", daemon=True)
            self._thread.start()

    def _tick(self, testbed: Testbed, t0: float) -> None:
        assert self._stop is not None
        while not self._stop.wait(TICK_S):
            testbed.set_clock(self.node, self.offset_at(time.monotonic() - t0))

    def heal(self, testbed: Testbed) -> None:
        if self._stop is not None:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=2)
            self._stop = self._thread = None
        testbed.set_clock(self.node, 0.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.node, "offset_s": self.offset_s,
                "drift": self.drift}

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """The node's own clock, read from the node: off by the offset while applied (within
        a second), back after the heal."""
        got = testbed.node_clock_offset_s(self.node)
        if got is None:
            return Effect(UNVERIFIED, f"{self.node}'s clock cannot be read (the reference "
                                      "service's /clock)")
        want = 0.0 if healed else self.offset_s
        ok = abs(got - want) < 1.0 + abs(self.drift) * 10
        return Effect(VERIFIED if ok else NONE,
                      f"{self.node}'s clock {got:+.3f} s off this machine's ({want:+g} s "
                      "expected)")


def build(entry: ClockSkewFault, _index: int, _nodes: list[str], _seed: int) -> ClockSkew:
    """The clock skew value of a scenario entry."""
    return ClockSkew(entry.node, entry.offset_s, entry.drift)


def _draw(rng: random.Random, chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
    return {"kind": "clock_skew", "node": rng.choice(tb.node_names),
            "offset_s": round(rng.uniform(*chaos.skew_s), 3)}


KIND = Kind("clock_skew", ClockSkewFault, build, _draw)
