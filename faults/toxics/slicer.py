"""The slicer toxic: data cut into small packets, with a delay between them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import toxic_kind
from testbeds.spec import Int


class SlicerFault(LinkFaultSpec):
    """Slices data into packets of ``average_size`` (+/- ``size_variation``) bytes,
    ``delay_us`` apart (Toxiproxy slicer)."""

    kind: Literal["slicer"]
    average_size: Int = Field(default=64, ge=1, le=1_048_576)
    size_variation: Int = Field(default=0, ge=0, le=1_048_576)
    delay_us: Int = Field(default=0, ge=0, le=60_000_000)


KIND = toxic_kind(SlicerFault, lambda f: {"average_size": f.average_size,
                                          "size_variation": f.size_variation,
                                          "delay": f.delay_us})
