"""The latency toxic: ``ms`` (+/- ``jitter_ms``) more on the named direction of a link."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import random_link, toxic_kind
from testbeds.spec import MINUTE_MS, Num, TestbedSpec


class LatencyFault(LinkFaultSpec):
    """Adds ``ms`` (+/- ``jitter_ms``) to the named direction of a link (Toxiproxy latency)."""

    kind: Literal["latency"]
    ms: Num = Field(ge=0, le=MINUTE_MS)
    jitter_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)

    def added_delay_ms(self, src: str, dst: str) -> float:
        if not self.on_link(src, dst):
            return 0.0
        return self.ms * (2 if self.direction == "both" else 1)


def _draw(rng: random.Random, chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
    link = random_link(rng, tb)
    return {"kind": "latency", "link": link, "ms": round(rng.uniform(*chaos.latency_ms))}


KIND = toxic_kind(LatencyFault, lambda f: {"latency": round(f.ms), "jitter": round(f.jitter_ms)},
                  _draw)
