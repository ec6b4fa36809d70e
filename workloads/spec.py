"""The workload spec: what load to drive, with which users and shape (a scenario's
``workload:`` block)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

BUILTIN_LOCUSTFILES = ("builtin:kv", "builtin:ingest", "builtin:devices")
# numbers are numbers (no strings, no booleans, nothing NaN or infinite; an int is fine for
# a float), with the bounds of the README's scenario reference
Num = Annotated[float, Strict()]
Int = Annotated[int, Strict()]
DAY_S = 86_400.0
HOUR_MS = 3_600_000.0
MAX_USERS = 10_000


class DevicesSpec(BaseModel):
    """``builtin:devices``: every user is a device pinned to one gateway (round-robin over
    the client nodes) that sends one reading per request, ``rate_hz`` readings a second:
    ``poisson`` (exponential gaps) or ``periodic`` (``burst`` readings back to back every
    ``burst / rate_hz`` seconds: a token bucket (burst, rate), which network calculus
    bounds). After the load the sink is watched until every acked reading arrived, nothing
    arrived for ``quiet_s``, or ``drain_s`` passed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rate_hz: Num = Field(default=1.0, gt=0, le=10_000)
    arrivals: Literal["poisson", "periodic"] = "poisson"
    burst: Int = Field(default=1, ge=1, le=100_000)
    drain_s: Num = Field(default=30.0, ge=0, le=DAY_S)
    quiet_s: Num = Field(default=3.0, gt=0, le=DAY_S)


class WorkloadSpec(BaseModel):
    """Locust users, think time, duration, keys and the load shape."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    locustfile: str = "builtin:kv"
    users: Int = Field(default=10, ge=1, le=MAX_USERS)
    think_time_ms: Num = Field(default=50.0, ge=0, le=HOUR_MS)
    duration_s: Num = Field(default=30.0, gt=0, le=DAY_S)
    keys: Int = Field(default=10, ge=1, le=1_000_000)
    read_fraction: Num = Field(default=0.5, ge=0, le=1)
    timeout_ms: Num = Field(default=2000.0, gt=0, le=HOUR_MS)
    warmup_s: Num | None = Field(
        default=None, ge=0, le=DAY_S, description="the start of the load that calibrates the "
        "model and is left out of the checks (default 3 s, less before an early fault)")
    spawn_rate: Num | None = Field(default=None, gt=0, le=MAX_USERS)
    cas_fraction: Num = Field(default=0.0, ge=0, le=1, description="builtin:kv CAS share")
    shape: Literal["closed", "open", "step", "ramp", "spike"] = "closed"
    rate_rps: Num | None = Field(default=None, gt=0, le=100_000,
                                 description="open loop arrival rate")
    workers: Int = Field(default=0, ge=0, le=64, description="Locust worker processes")
    step_users: Int | None = Field(default=None, ge=1, le=MAX_USERS)
    step_s: Num | None = Field(default=None, gt=0, le=DAY_S)
    ramp_s: Num | None = Field(default=None, gt=0, le=DAY_S)
    ramp_from_users: Int | None = Field(default=None, ge=1, le=MAX_USERS)
    spike_users: Int | None = Field(default=None, ge=1, le=MAX_USERS)
    spike_at_s: Num | None = Field(default=None, ge=0, le=DAY_S)
    spike_s: Num | None = Field(default=None, gt=0, le=DAY_S)
    devices: DevicesSpec | None = Field(default=None, description="builtin:devices settings")

    @field_validator("locustfile")
    @classmethod
    def _locustfile(cls, v: str) -> str:
        if v.startswith("builtin:") and v not in BUILTIN_LOCUSTFILES:
            raise ValueError(f"{v!r}: the built-in workloads are "
                             f"{', '.join(BUILTIN_LOCUSTFILES)}")
        return v

    @model_validator(mode="after")
    def _shape_fields(self) -> WorkloadSpec:
        if self.locustfile == "builtin:devices":
            if self.devices is None:
                self.devices = DevicesSpec()
            if self.shape != "closed" or self.workers:
                raise ValueError("builtin:devices sets its own rates (devices.rate_hz) in one "
                                 "load process: leave shape closed and workers 0")
        elif self.devices is not None:
            raise ValueError("devices: only for locustfile builtin:devices; set that or "
                             "remove devices")
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
