"""The vocabulary every spec model shares: strict numbers, bounds, names, the base model
(testbeds/spec.py re-exports all of it; testbeds/tiers.py builds on it too)."""

from __future__ import annotations

import re
from typing import Annotated

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
BACKENDS = ("local", "docker")


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
                            description="mean exponential service time")
