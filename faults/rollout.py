"""A rollout: the root of the tree publishes a config version on the control plane.

A schedule action rather than a fault: it has no ``for_s``. Its phase ``rollout vN`` lasts
until every node has applied the version or the next fault starts (the runner ends it from
the nodes' control logs); ``heal`` has nothing to undo. The probe reads the root's version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from faults.base import NONE, VERIFIED, Effect, FaultSpec, Kind
from testbeds.base import Testbed
from testbeds.spec import Int, Num, TestbedSpec

PUBLISH_TIMEOUT_S = 5.0


class RolloutFault(FaultSpec):
    """``{at_s, kind: rollout, version}``: publish ``version`` at the root of the tree."""

    kind: Literal["rollout"]
    version: Int = Field(ge=1, le=2**31 - 1, description="the config version to publish; "
                         "each rollout's is above the one before it")
    for_s: Num = Field(default=0.0, description="none: a rollout's phase ends when every "
                       "node has converged or the next fault starts")

    @field_validator("for_s")
    @classmethod
    def _no_for_s(cls, v: float) -> float:
        if v:
            raise ValueError(f"for_s: {v}: a rollout has no duration (its phase ends when "
                             "every node has applied the version, or when the next fault "
                             "starts); remove for_s")
        return v

    def resolve(self, testbed: TestbedSpec, seed: int = 0) -> None:
        if testbed.service.control is None:
            raise ValueError("kind: rollout needs a control plane; add testbed.service."
                             "control: {mode: push} (or pull) to a tiered topology")

    def label(self) -> str:
        return f"rollout v{self.version}"


def roots(spec: TestbedSpec) -> list[str]:
    """The reference nodes at the top of a tree (no parent, children below): publishers."""
    return [n.name for n in spec.nodes
            if n.parent is None and n.is_reference and spec.children(n.name)]


@dataclass
class Rollout:
    """Publish a version at every root of the tree; nothing to heal."""

    version: int
    kind: str = "rollout"

    @property
    def target(self) -> str:
        return f"v{self.version}"

    def apply(self, testbed: Testbed) -> None:
        """POST the version to each root's control endpoint (its direct address)."""
        for root in roots(testbed.spec):
            resp = httpx.post(f"{testbed.direct_url(root)}/control/apply",
                              json={"version": self.version, "from": "publish"},
                              timeout=PUBLISH_TIMEOUT_S)
            if resp.status_code != 200:
                raise RuntimeError(f"{root} refused v{self.version}: HTTP "
                                   f"{resp.status_code} {resp.text[:200]}")

    def heal(self, testbed: Testbed) -> None:
        """Nothing to undo: a published version stays published."""

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """Every root holds the version (or a newer one) once it is published."""
        have = {}
        for root in roots(testbed.spec):
            body = httpx.get(f"{testbed.direct_url(root)}/control/version",
                             timeout=PUBLISH_TIMEOUT_S).json()
            have[root] = int(body["version"])
        short = {r: v for r, v in have.items() if v < self.version}
        words = ", ".join(f"{r} at v{v}" for r, v in have.items())
        return Effect(NONE if short or not have else VERIFIED, f"published: {words or 'no root'}")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "version": self.version}


def build(entry: RolloutFault, index: int, nodes: list[str], seed: int) -> Rollout:
    """The rollout value of a scenario entry."""
    return Rollout(entry.version)


KIND = Kind("rollout", RolloutFault, build, None)
