"""Clock skew: move one node's wall clock by an offset (libfaketime on local, per container on
docker); heal puts it back to real time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testbeds.base import Testbed


@dataclass
class ClockSkew:
    """Set the node's clock ``offset_s`` seconds off (drift: seconds gained per second)."""

    node: str
    offset_s: float
    drift: float = 0.0
    kind: str = "clock_skew"

    @property
    def target(self) -> str:
        return self.node

    def apply(self, testbed: Testbed) -> None:
        testbed.set_clock(self.node, self.offset_s)

    def offset_at(self, elapsed_s: float) -> float:
        """The offset after the fault has been active for elapsed_s (drift accumulates)."""
        return self.offset_s + self.drift * elapsed_s

    def heal(self, testbed: Testbed) -> None:
        testbed.set_clock(self.node, 0.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.node, "offset_s": self.offset_s,
                "drift": self.drift}
