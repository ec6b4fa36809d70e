"""The reset_peer toxic: connections are reset (TCP RST) after ``timeout_ms``."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import random_link, toxic_kind
from testbeds.spec import HOUR_MS, Num, TestbedSpec


class ResetPeerFault(LinkFaultSpec):
    """Resets connections on the link after ``timeout_ms`` (Toxiproxy reset_peer)."""

    kind: Literal["reset_peer"]
    timeout_ms: Num = Field(default=0.0, ge=0, le=HOUR_MS)


def _draw(rng: random.Random, _chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
    return {"kind": "reset_peer", "link": random_link(rng, tb)}


KIND = toxic_kind(ResetPeerFault, lambda f: {"timeout": round(f.timeout_ms)}, _draw)
