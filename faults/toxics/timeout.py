"""The timeout toxic: data stops; the connection closes after ``timeout_ms`` (0: never)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.base import LinkFaultSpec
from faults.toxics import toxic_kind
from testbeds.spec import HOUR_MS, Num


class TimeoutFault(LinkFaultSpec):
    """Stops all data on the link; closes the connection after ``timeout_ms`` (0 = never)."""

    kind: Literal["timeout"]
    timeout_ms: Num = Field(default=0.0, ge=0, le=HOUR_MS)


KIND = toxic_kind(TimeoutFault, lambda f: {"timeout": round(f.timeout_ms)})
