"""What a reap removed, and what it could not (the value every reaper returns)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReapReport:
    """What a reap removed, and what it could not."""

    testbeds: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # Docker Swarm services and configs
    configs: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def merge(self, other: ReapReport) -> None:
        """Add another report's findings to this one."""
        for k in vars(self):
            getattr(self, k).extend(getattr(other, k))

    @property
    def empty(self) -> bool:
        """True when nothing was found to reap."""
        return not any(vars(self).values())
