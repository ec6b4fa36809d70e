"""Node-loss faults: crash (SIGKILL, restart at heal), pause (freezer/SIGSTOP), stop (graceful)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from faults.base import Kind, NodeFaultSpec
from testbeds.base import Testbed
from testbeds.spec import TestbedSpec


class NodeLossFault(NodeFaultSpec):
    """A node that cannot serve while the fault lasts."""

    def down_node(self) -> str | None:
        return self.node


class CrashFault(NodeLossFault):
    """SIGKILL the node; heal restarts it (with its data unless ``keep_data: false``)."""

    kind: Literal["crash"]
    keep_data: bool = True


class PauseFault(NodeLossFault):
    """Freeze the node (cgroup freezer, SIGSTOP, docker pause); heal resumes it."""

    kind: Literal["pause"]


class StopFault(NodeLossFault):
    """Stop the node gracefully (SIGTERM); heal starts it again."""

    kind: Literal["stop"]


@dataclass
class Crash:
    """Kill the node without warning; heal restarts it, with or without its data."""

    node: str
    keep_data: bool = True
    kind: str = "crash"

    @property
    def target(self) -> str:
        return self.node

    def apply(self, testbed: Testbed) -> None:
        testbed.crash(self.node)

    def heal(self, testbed: Testbed) -> None:
        testbed.restart(self.node, keep_data=self.keep_data)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.node, "keep_data": self.keep_data}


@dataclass
class Stop(Crash):
    """Stop the node gracefully (SIGTERM); heal starts it again."""

    kind: str = "stop"

    def apply(self, testbed: Testbed) -> None:
        testbed.stop(self.node)


@dataclass
class Pause:
    """Freeze the node: it keeps its sockets but answers nothing until healed."""

    node: str
    kind: str = "pause"

    @property
    def target(self) -> str:
        return self.node

    def apply(self, testbed: Testbed) -> None:
        testbed.pause(self.node)

    def heal(self, testbed: Testbed) -> None:
        testbed.resume(self.node)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.node}


def _draw(kind: str) -> Any:
    def draw(rng: random.Random, _chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
        return {"kind": kind, "node": rng.choice(tb.node_names)}
    return draw


CRASH = Kind("crash", CrashFault, lambda e, *_: Crash(e.node, keep_data=e.keep_data),
             _draw("crash"))
PAUSE = Kind("pause", PauseFault, lambda e, *_: Pause(e.node), _draw("pause"))
STOP = Kind("stop", StopFault, lambda e, *_: Stop(e.node), _draw("stop"))
