"""The ``checks:`` block of a scenario: one config model per check, and the evidence each
needs beyond the history (``final_reads``: the runner reads every key after the last heal).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from testbeds.spec import MINUTE_MS, Int, Num, SpecModel


class CheckConfig(SpecModel):
    """A check's settings; ``needs`` names the evidence the run must gather for it."""

    needs: ClassVar[frozenset[str]] = frozenset()


class LatencyCheck(CheckConfig):
    """Per phase: measured mean latency within ``tolerance`` (relative) of the prediction."""

    model: Literal["mva", "mmc"] = "mva"
    tolerance: Num = Field(default=0.15, gt=0, le=100, description="relative, on the mean")
    min_samples: Int = Field(default=30, ge=1, le=100_000_000)


class AvailabilityCheck(CheckConfig):
    """Per phase, client node and operation: availability within ``tolerance_pp``."""

    tolerance_pp: Num = Field(default=2.0, ge=0, le=100)
    settle_s: Num | None = Field(
        default=None, ge=0, le=3600, description="seconds after each phase boundary left "
        "out (the system reacting: a leader election); default the reference service's replica "
        "timeout + 0.25 s")


class ConsistencyCheck(CheckConfig):
    """The history against a consistency model (linearizable registers per key)."""

    needs: ClassVar[frozenset[str]] = frozenset({"final_reads"})
    model: Literal["linearizable"] = "linearizable"


class DurabilityCheck(CheckConfig):
    """No acknowledged write lost (final reads of every key after the heal)."""

    needs: ClassVar[frozenset[str]] = frozenset({"final_reads"})


class LostUpdatesCheck(CheckConfig):
    """Lost updates under clock skew (eventual mode) against the LWW model."""

    needs: ClassVar[frozenset[str]] = frozenset({"final_reads"})
    tolerance: Num = Field(default=0.3, ge=0, le=100, description="relative widening of the "
                             "Poisson interval of the expected count")


class StalenessCheck(CheckConfig):
    """PBS t-visibility of eventual mode's reads against the model (models/staleness.py)."""

    tolerance_pp: Num = Field(default=15.0, ge=0, le=100)
    processing_ms: Num = Field(default=1.5, gt=0, le=MINUTE_MS,
                               description="mean push processing delay")
    transit_ms: Num = Field(default=1.0, ge=0, le=MINUTE_MS,
                            description="ack path + read request transit")
    timer_ms: Num = Field(default=0.6, ge=0, le=MINUTE_MS,
                          description="emulated service overshoot")


class RecoveryCheck(CheckConfig):
    """After every heal: no stall (ok completions below ``stall_below`` of the baseline's
    rate in every window of ``min_stall_s``) longer than the predicted recovery time (0 s)
    plus ``tolerance_s``."""

    stall_below: Num = Field(default=0.5, gt=0, le=1, description="share of the baseline's "
                             "ok rate below which a window counts as stalled")
    min_stall_s: Num = Field(default=0.5, gt=0, le=3600, description="the window")
    tolerance_s: Num = Field(default=1.0, ge=0, le=86_400, description="stall time allowed "
                             "beyond the predicted recovery")


class DeliveryCheck(CheckConfig):
    """Every acked send (``f: send``) reaches a sink (``f: recv``), except the overflow loss
    the pipeline model predicts, within ``loss_tolerance`` (relative)."""

    loss_tolerance: Num = Field(default=0.1, ge=0, le=100)


class PipelineCheck(CheckConfig):
    """The reference pipeline against its models: end-to-end latency per phase, backlog
    and drain per cut within ``tolerance`` (relative), no delay above the network-calculus
    bound plus ``slack_ms``, ingest availability at cut gateways within ``tolerance_pp``."""

    tolerance: Num = Field(default=0.2, gt=0, le=100)
    slack_ms: Num = Field(default=50.0, ge=0, le=MINUTE_MS, description="the measuring "
                          "host's own jitter allowed beyond the bound")
    tolerance_pp: Num = Field(default=2.0, ge=0, le=100)
    min_samples: Int = Field(default=50, ge=1, le=100_000_000)
    max_overhead_ms: Num = Field(default=40.0, ge=0, le=MINUTE_MS, description="the most "
                                 "path overhead the warm-up may calibrate into the models; "
                                 "more is a finding, not a new baseline")


class RolloutCheck(CheckConfig):
    """The control plane against its model: each rollout's convergence to every node and to
    ``fraction`` of them within ``tolerance`` (relative) plus ``slack_ms``; versions applied in
    order; the data plane's latency (within ``tolerance`` plus ``slack_ms``) and availability
    (within ``tolerance_pp``) of the baseline while only the control port is cut."""

    tolerance: Num = Field(default=0.2, gt=0, le=100)
    slack_ms: Num = Field(default=100.0, ge=0, le=MINUTE_MS, description="the measuring "
                          "host's own jitter allowed beyond the model (scheduling of many "
                          "node processes on few cores)")
    fraction: Num = Field(default=0.9, gt=0, le=1)
    tolerance_pp: Num = Field(default=2.0, ge=0, le=100)
    min_samples: Int = Field(default=50, ge=1, le=100_000_000)


class ChecksSpec(SpecModel):
    """Which checks a run makes (a check left out, or null, is not made)."""

    latency: LatencyCheck | None = Field(default_factory=LatencyCheck)
    availability: AvailabilityCheck | None = None
    consistency: ConsistencyCheck | None = None
    durability: DurabilityCheck | None = None
    lost_updates: LostUpdatesCheck | None = None
    staleness: StalenessCheck | None = None
    recovery: RecoveryCheck | None = None
    delivery: DeliveryCheck | None = None
    pipeline: PipelineCheck | None = None
    rollout: RolloutCheck | None = None

    def configured(self) -> dict[str, CheckConfig]:
        """The checks this scenario makes, by name."""
        return {name: cfg for name in type(self).model_fields
                if isinstance(cfg := getattr(self, name), CheckConfig)}

    def needs(self) -> frozenset[str]:
        """Every kind of evidence the configured checks need beyond the history."""
        return frozenset().union(*(c.needs for c in self.configured().values()))
