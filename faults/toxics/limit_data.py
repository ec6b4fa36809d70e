"""The limit_data toxic: a connection closes after ``bytes`` bytes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import toxic_kind
from testbeds.spec import Int


class LimitDataFault(LinkFaultSpec):
    """Closes each connection on the link once ``bytes`` bytes have passed."""

    kind: Literal["limit_data"]
    bytes: Int = Field(ge=0, le=2**40)


KIND = toxic_kind(LimitDataFault, lambda f: {"bytes": f.bytes})
