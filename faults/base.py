"""What a fault is: a value with ``apply``, ``heal`` (idempotent) and ``describe``.

Like a Jepsen nemesis operation, a fault knows how to do one thing to a running testbed and how
to undo it; when it happens is the schedule's business (:mod:`faults.schedule`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from testbeds.base import Testbed


@runtime_checkable
class Fault(Protocol):
    """A fault value: apply it to a testbed, heal it (twice is harmless), describe it."""

    kind: str

    def apply(self, testbed: Testbed) -> None: ...

    def heal(self, testbed: Testbed) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    @property
    def target(self) -> str: ...
