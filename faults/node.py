"""Node-loss faults: crash (SIGKILL, restart at heal), pause (freezer/SIGSTOP), stop (graceful)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testbeds.base import Testbed


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
