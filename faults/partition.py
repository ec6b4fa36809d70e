"""Network partitions on the link proxies, like a cut cable.

A partition is a set of cut directions (src, dst). In ``drop`` mode (default) each cut proxy gets
a ``timeout`` toxic with timeout 0 on both streams: data vanishes and connections hang, as on a
real cut. ``reject`` mode disables the proxy instead, so connections are refused at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testbeds.base import Testbed


def cuts_for_groups(groups: list[list[str]], nodes: list[str]) -> set[tuple[str, str]]:
    """Every direction between two different groups; unlisted nodes form one more group."""
    listed = {n for g in groups for n in g}
    rest = [n for n in nodes if n not in listed]
    all_groups = [list(g) for g in groups] + ([rest] if rest else [])
    side = {n: i for i, g in enumerate(all_groups) for n in g}
    return {(a, b) for a in nodes for b in nodes if a != b and side[a] != side[b]}


@dataclass
class Partition:
    """Cut the given directions; heal restores them."""

    cuts: set[tuple[str, str]]
    mode: str = "drop"
    label: str = "partition"
    id: str = "fault"
    kind: str = "partition"
    _done: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @classmethod
    def groups(cls, groups: list[list[str]], nodes: list[str], **kw: Any) -> Partition:
        return cls(cuts_for_groups(groups, nodes), label=f"groups {groups}", **kw)

    @classmethod
    def isolate(cls, node: str, nodes: list[str], **kw: Any) -> Partition:
        return cls(cuts_for_groups([[node]], nodes), label=f"isolate {node}", **kw)

    @classmethod
    def one_way(cls, src: list[str], dst: list[str], **kw: Any) -> Partition:
        return cls({(a, b) for a in src for b in dst if a != b}, label=f"{src} -/-> {dst}", **kw)

    @property
    def target(self) -> str:
        return self.label

    def apply(self, testbed: Testbed) -> None:
        for src, dst in sorted(self.cuts):
            for proxy in testbed.proxies(src, dst):
                if self.mode == "reject":
                    testbed.admin.set_enabled(proxy.name, False)
                    self._done.append((proxy.name, ""))
                    continue
                for stream in ("upstream", "downstream"):
                    name = f"{self.id}-partition-{stream}"
                    testbed.admin.add_toxic(proxy.name, name, "timeout", stream=stream,
                                            attributes={"timeout": 0})
                    self._done.append((proxy.name, name))

    def heal(self, testbed: Testbed) -> None:
        for proxy, name in list(self._done):
            if name:
                testbed.admin.remove_toxic(proxy, name)
            else:
                testbed.admin.set_enabled(proxy, True)
            self._done.remove((proxy, name))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.label, "mode": self.mode,
                "cuts": sorted(f"{a}->{b}" for a, b in self.cuts)}
