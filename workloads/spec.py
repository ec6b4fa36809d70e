"""The workload spec: what load to drive, with which users and shape (a scenario's
``workload:`` block)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUILTIN_LOCUSTFILES = ("builtin:kv", "builtin:ingest")


class WorkloadSpec(BaseModel):
    """Locust users, think time, duration, keys and the load shape."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    locustfile: str = "builtin:kv"
    users: int = Field(default=10, ge=1, le=10_000)
    think_time_ms: float = Field(default=50.0, ge=0)
    duration_s: float = Field(default=30.0, gt=0, le=86_400)
    keys: int = Field(default=10, ge=1)
    read_fraction: float = Field(default=0.5, ge=0, le=1)
    timeout_ms: float = Field(default=2000.0, gt=0)
    spawn_rate: float | None = Field(default=None, gt=0)
    cas_fraction: float = Field(default=0.0, ge=0, le=1, description="builtin:kv CAS share")
    shape: Literal["closed", "open", "step", "ramp", "spike"] = "closed"
    rate_rps: float | None = Field(default=None, gt=0, description="open loop arrival rate")
    workers: int = Field(default=0, ge=0, le=64, description="Locust worker processes")
    step_users: int | None = Field(default=None, ge=1)
    step_s: float | None = Field(default=None, gt=0)
    ramp_s: float | None = Field(default=None, gt=0)
    ramp_from_users: int | None = Field(default=None, ge=1)
    spike_users: int | None = Field(default=None, ge=1)
    spike_at_s: float | None = Field(default=None, ge=0)
    spike_s: float | None = Field(default=None, gt=0)

    @field_validator("locustfile")
    @classmethod
    def _locustfile(cls, v: str) -> str:
        if v.startswith("builtin:") and v not in BUILTIN_LOCUSTFILES:
            raise ValueError(f"{v!r}: the built-in workloads are builtin:kv and builtin:ingest")
        return v

    @model_validator(mode="after")
    def _shape_fields(self) -> WorkloadSpec:
        if self.read_fraction + self.cas_fraction > 1 + 1e-9:
            raise ValueError(f"read_fraction ({self.read_fraction}) + cas_fraction "
                             f"({self.cas_fraction}) is over 1; lower one of them")
        if self.shape == "open" and self.rate_rps is None:
            raise ValueError("shape open needs rate_rps (Poisson arrivals per second), "
                             "e.g. rate_rps: 50")
        if self.shape != "open" and self.rate_rps is not None:
            raise ValueError(f"rate_rps is only for shape open (shape is {self.shape}); "
                             "set shape: open or remove rate_rps")
        if self.shape == "step" and (self.step_users is None or self.step_s is None):
            raise ValueError("shape step needs step_users and step_s (add step_users users "
                             "every step_s seconds, up to users), e.g. step_users: 5, step_s: 10")
        if self.shape == "ramp" and self.ramp_s is None:
            raise ValueError("shape ramp needs ramp_s (seconds to reach users), e.g. ramp_s: 20")
        if self.shape == "spike" and (self.spike_users is None or self.spike_at_s is None
                                      or self.spike_s is None):
            raise ValueError("shape spike needs spike_users, spike_at_s and spike_s, e.g. "
                             "spike_users: 50, spike_at_s: 10, spike_s: 5")
        return self

    @property
    def keys_used(self) -> list[str]:
        """The keys builtin:kv uses (``k0`` .. ``k<keys-1>``)."""
        return [f"k{i}" for i in range(self.keys)]
