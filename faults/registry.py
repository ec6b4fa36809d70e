"""Every fault kind, registered once; the scenario's ``faults:`` entries parse through here.

Adding a kind: write its module (the entry's spec model, the fault value, a ``Kind``) and add
one line to ``KINDS`` below. The scenario's fault union, the kind names in error messages,
the builder and chaos drawing all come from this list.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from faults import clock, node, partition, rollout
from faults.base import Fault, FaultSpec, Kind
from faults.toxics import bandwidth, latency, limit_data, reset_peer, slicer, timeout

KINDS: tuple[Kind, ...] = (
    latency.KIND,
    bandwidth.KIND,
    timeout.KIND,
    reset_peer.KIND,
    slicer.KIND,
    limit_data.KIND,
    partition.KIND,
    clock.KIND,
    node.CRASH,
    node.PAUSE,
    node.STOP,
    rollout.KIND,
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
FAULT_KINDS: tuple[str, ...] = tuple(BY_NAME)
CHAOS_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.draw is not None)

# the discriminated union of every kind's entry (pydantic picks the model by ``kind``)
AnyFault: Any = Annotated[Union[tuple(k.spec for k in KINDS)],  # noqa: UP007
                          Field(discriminator="kind")]
FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyFault)


def parse_fault(data: dict[str, Any]) -> FaultSpec:
    """Validate one fault entry (a mapping with ``kind``); pydantic's ValidationError if bad."""
    spec: FaultSpec = FAULT_ADAPTER.validate_python(data)
    return spec


def fault_seed(seed: int, index: int) -> int:
    """The seed of the index-th fault's random choices (random partition shapes)."""
    return seed * 1000 + index


def build_fault(spec: FaultSpec, index: int, nodes: list[str], seed: int = 0) -> Fault:
    """The fault value of one scenario entry."""
    kind = BY_NAME[str(getattr(spec, "kind", ""))]
    return kind.build(spec, index, nodes, fault_seed(seed, index))
