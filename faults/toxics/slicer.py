"""The slicer toxic: data cut into small packets, with a delay between them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import toxic_kind


class SlicerFault(LinkFaultSpec):
    """Slices data into packets of ``average_size`` (+/- ``size_variation``) bytes,
    ``delay_us`` apart (Toxiproxy slicer)."""

    kind: Literal["slicer"]
    average_size: int = Field(default=64, ge=1)
    size_variation: int = Field(default=0, ge=0)
    delay_us: int = Field(default=0, ge=0)


KIND = toxic_kind(SlicerFault, lambda f: {"average_size": f.average_size,
                                          "size_variation": f.size_variation,
                                          "delay": f.delay_us})
