"""The backends by name, and the two ways to get a testbed handle: stand one up, or attach
to one another process stood up (its on-disk record)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from testbeds.base import Testbed
from testbeds.docker import DockerTestbed
from testbeds.local import LocalTestbed
from testbeds.progress import Progress, quiet
from testbeds.reaper import sweep_stale
from testbeds.spec import BACKENDS, TestbedSpec
from testbeds.state import TestbedRecord
from testbeds.swarm import SwarmTestbed

BACKEND_CLASSES: dict[str, type[Testbed]] = {
    "local": LocalTestbed, "docker": DockerTestbed, "swarm": SwarmTestbed,
}


def backend_class(name: str) -> type[Testbed]:
    """The Testbed class of a backend name; ConfigError for an unknown one."""
    try:
        return BACKEND_CLASSES[name]
    except KeyError:
        raise ConfigError(f"--backend: {name!r} is not a backend; use one of "
                          f"{', '.join(BACKENDS)}", field="backend") from None


def up(spec: TestbedSpec, *, run_id: str, name: str, workdir: Path, seed: int = 0,
       detached: bool = False, progress: Progress = quiet,
       scenario_path: str | None = None) -> Testbed:
    """Sweep testbeds that killed runs left, then stand this one up (the backend reaps what
    it made if start-up fails)."""
    swept = sweep_stale()
    if swept.testbeds:
        progress(f"reaped {len(swept.testbeds)} stale testbed(s) left by killed runs")
    return backend_class(spec.backend).up(spec, run_id=run_id, name=name, workdir=workdir,
                                          seed=seed, detached=detached, progress=progress,
                                          scenario_path=scenario_path)


def attach(record: TestbedRecord) -> Testbed:
    """A handle on a testbed that another process stood up (status, down, faults)."""
    spec = TestbedSpec.model_validate(record.spec)
    return backend_class(record.backend).attach(spec, record)
