"""The bandwidth toxic: a link limited to ``kbps`` kilobits per second."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import random_link, toxic_kind
from testbeds.spec import MAX_KBPS, Num, TestbedSpec


class BandwidthFault(LinkFaultSpec):
    """Limits the named direction of a link to ``kbps`` (Toxiproxy bandwidth, in KB/s)."""

    kind: Literal["bandwidth"]
    kbps: Num = Field(gt=0, le=MAX_KBPS)


def _draw(rng: random.Random, _chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
    link = random_link(rng, tb)
    return {"kind": "bandwidth", "link": link, "kbps": rng.choice([64, 256, 1024])}


KIND = toxic_kind(BandwidthFault, lambda f: {"rate": max(1, round(f.kbps / 8))}, _draw)
