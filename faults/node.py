"""Node-loss faults: crash (SIGKILL, restart at heal), pause (freezer/SIGSTOP), stop (graceful)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import StrictBool

from faults.base import NONE, UNVERIFIED, VERIFIED, Effect, Kind, NodeFaultSpec
from testbeds.base import Testbed
from testbeds.spec import TestbedSpec


class NodeLossFault(NodeFaultSpec):
    """A node that cannot serve while the fault lasts."""

    def down_node(self) -> str | None:
        return self.node

    def holds(self) -> str | None:
        return f"node {self.node}"


class CrashFault(NodeLossFault):
    """SIGKILL the node; heal restarts it (with its data unless ``keep_data: false``)."""

    kind: Literal["crash"]
    keep_data: StrictBool = True


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


    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """The process gone and its client port closed; after the heal, running and open."""
        return node_state(testbed, self.node, up=healed)


def node_state(testbed: Testbed, node: str, up: bool) -> Effect:
    """Whether a node runs and its client port accepts, against what is expected."""
    running = testbed.node_running(node)
    port_open = testbed.port_open(node)
    ok = (running and port_open) if up else (not running and not port_open)
    return Effect(VERIFIED if ok else NONE,
                  f"{node}: process {'running' if running else 'gone'}, client port "
                  f"{'open' if port_open else 'closed'}")


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

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """Frozen (freezer or process state) and no application reply; after the heal,
        thawed and answering. A frozen process still completes TCP handshakes, so a port
        probe proves nothing."""
        frozen = testbed.frozen(self.node)
        answers = testbed.answers(self.node, timeout_s=0.5)
        said = f"{self.node}: {'frozen' if frozen else 'not frozen'}, application " + (
            "not probed (no probe declared)" if answers is None else
            "answers" if answers else "silent")
        if healed:
            ok = frozen is False and answers is not False
        else:
            ok = bool(frozen) and answers is not True
        if frozen is None and answers is None:
            return Effect(UNVERIFIED, said)
        return Effect(VERIFIED if ok else NONE, said)

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
