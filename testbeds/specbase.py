"""The vocabulary every spec model shares: strict numbers, bounds, names, the base model
(testbeds/spec.py re-exports all of it; testbeds/tiers.py builds on it too)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

# Numbers are numbers: no strings ("1e9"), no booleans (true), nothing NaN or infinite (the
# model config); an int is fine where a float is asked for. Each field's bounds are in the
# README's scenario reference; these name the common ones.
Num = Annotated[float, Strict()]
Int = Annotated[int, Strict()]
DAY_S = 86_400.0  # the longest workload, fault window or step
HOUR_MS = 3_600_000.0  # the longest timeout, think time or period in ms
MINUTE_MS = 60_000.0  # the longest latency, jitter or service time in ms
MAX_KBPS = 100_000_000.0  # 100 Gbit/s

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
CLIENTS = "clients"
BACKENDS = ("local", "docker", "swarm")


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are errors, aliases (``from``) accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False,
                              allow_inf_nan=False)


class Hardware(SpecModel):
    """Emulated hardware of a node: real limits where the backend can set them, plus emulation."""

    cpus: Num | None = Field(default=None, gt=0, le=1024, description="CPU quota in cores")
    memory_mb: Int | None = Field(default=None, gt=0, le=1_048_576,
                                  description="memory limit in MiB (at most 1 TiB)")
    workers: Int = Field(default=2, ge=1, le=1024, description="c parallel servers (M/M/c)")
    service_ms: Num = Field(default=2.0, ge=0, le=MINUTE_MS,
                            description="mean service time")
    distribution: Literal["exponential", "deterministic", "uniform"] = Field(
        default="exponential", description="of the service time: exponential (M/M/c), or "
        "bounded for a network-calculus bound: deterministic (always service_ms) or uniform "
        "(0 to 2 x service_ms)")

    @property
    def service_max_ms(self) -> float | None:
        """The longest service time, when the distribution bounds it."""
        return {"deterministic": self.service_ms, "uniform": 2 * self.service_ms}.get(
            self.distribution)


class Buffer(SpecModel):
    """A forwarding node's store-and-forward buffer: ``capacity`` readings, and what happens
    to a reading that finds it full (``drop_oldest`` evicts the oldest unsent one,
    ``drop_newest`` refuses the new one with 507, ``block`` makes its sender wait)."""

    capacity: Int = Field(default=100_000, ge=1, le=100_000_000)
    overflow: Literal["drop_oldest", "drop_newest", "block"] = "drop_oldest"
