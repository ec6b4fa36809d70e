"""The one root exception of edgeproof and its small tree (a leaf: it imports nothing).

EdgeproofError
 +-- ConfigError          bad input: scenario, fleet and history files, CLI flags (exit 2)
 +-- InfrastructureError  a tool or engine is missing or failing: Toxiproxy, Docker, ports
 +-- FaultError           a fault could not be applied or healed
 +-- TestbedError         a testbed could not be stood up, or a node misbehaves

Every message is one paragraph that names the thing, the value and the fix; the subject is
also carried as data (``exc.path``, ``exc.field``, ``exc.line``, ``exc.node`` ...), so callers
place an error without parsing its text. A *finding* (a check that fails) is never an
exception: it is a verdict in the results. Every layer may import this module (the one
exception to the floors), and nothing else of ``harness``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where (file, dotted field, line) and what."""

    path: str
    field: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if not self.field:
            return f"{self.path}: {self.message}"
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: {self.field}{where}: {self.message}"


class EdgeproofError(Exception):
    """Root of every error edgeproof raises on purpose; ``subject`` names what it is about."""

    exit_code = 2

    def __init__(self, message: str = "", **subject: Any) -> None:
        super().__init__(message)
        self.subject: dict[str, Any] = subject

    def __getattr__(self, name: str) -> Any:
        subject = self.__dict__.get("subject", {})
        if name in subject:
            return subject[name]
        raise AttributeError(name)


class ConfigError(EdgeproofError):
    """Raised when a scenario, testbed, fleet or history file, or a CLI flag, is invalid.

    Carries ``path``, ``field`` and ``line`` of the first problem, and ``problems`` (every
    :class:`Problem` found) when the input was validated as a whole."""

    def __init__(self, message: str = "", *, path: str | None = None,
                 field: str | None = None, line: int | None = None,
                 problems: tuple[Problem, ...] = (), **subject: Any) -> None:
        first = problems[0] if problems else None
        super().__init__(message or "\n".join(str(p) for p in problems),
                         path=path or (first.path if first else None),
                         field=field or (first.field if first else None),
                         line=line or (first.line if first else None),
                         problems=tuple(problems), **subject)


class InfrastructureError(EdgeproofError):
    """Raised when a tool edgeproof drives (Toxiproxy, Docker, cgroups, ports, the load
    process) is missing or failing; ``tool`` names it where known."""


class FaultError(EdgeproofError):
    """Raised when a fault could not be applied or healed (e.g. Toxiproxy rejected a toxic);
    ``fault`` names it where known."""


class TestbedError(EdgeproofError):
    """Raised when a testbed could not be stood up or torn down, or a node did not become
    ready; ``node`` names it where known."""

    __test__ = False  # not a pytest test class
