"""Harness side of the load: start ``python -m workloads.loadproc`` and follow it.

Never imports locust (it monkey-patches the process with gevent). :func:`run_load` is the
one-call form; :class:`LoadProcess` gives progress lines while the load runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError

GRACE_S = 15.0  # start-up + stop (stop_timeout) + stats writing, beyond duration_s
ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class LoadSpec:
    """What the load process runs; mirrors spec.json (see workloads/loadproc.py)."""

    targets: list[dict[str, str]]
    history_path: str
    stats_path: str
    locustfile: str = "builtin:kv"
    users: int = 10
    think_time_ms: float = 50.0
    duration_s: float = 30.0
    keys: int = 10
    read_fraction: float = 0.5
    timeout_ms: float = 2000.0
    seed: int = 0
    spawn_rate: float | None = None
    cas_fraction: float = 0.0
    shape: str = "closed"  # closed | open | step | ramp | spike
    rate_rps: float | None = None  # open loop: Poisson arrivals per second
    workers: int = 0  # > 0: a Locust master and this many worker processes
    worker_prefix: list[list[str]] | None = None  # argv prefix of worker i (another host/clock)
    step_users: int | None = None
    step_s: float | None = None
    ramp_s: float | None = None
    ramp_from_users: int | None = None
    spike_users: int | None = None
    spike_at_s: float | None = None
    spike_s: float | None = None
    devices: dict[str, Any] | None = None  # builtin:devices settings (DevicesSpec)
    sinks: list[dict[str, str]] | None = None  # [{node, url}]: where readings end up
    extra: dict[str, Any] = field(default_factory=dict)

    OPTIONAL = ("cas_fraction", "shape", "rate_rps", "workers", "step_users", "step_s",
                "ramp_s", "ramp_from_users", "spike_users", "spike_at_s", "spike_s")

    @classmethod
    def from_workload(
        cls, workload: Any, *, targets: list[dict[str, str]], out_dir: str | Path, seed: int = 0
    ) -> LoadSpec:
        """Build from a scenario's WorkloadSpec; history and stats go into ``out_dir``."""
        out = Path(out_dir)
        fields = {k: getattr(workload, k) for k in (
            "locustfile", "users", "think_time_ms", "duration_s", "keys", "read_fraction",
            "timeout_ms", "spawn_rate")}
        defaults = cls(targets=[], history_path="", stats_path="")
        fields.update({k: getattr(workload, k, getattr(defaults, k)) for k in cls.OPTIONAL})
        devices = getattr(workload, "devices", None)
        fields["devices"] = devices.model_dump() if devices is not None else None
        return cls(targets=targets, history_path=str(out / "history.jsonl"),
                   stats_path=str(out / "locust_stats.json"), seed=seed, **fields)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @property
    def wait_budget_s(self) -> float:
        """How long a whole run may take: duration, the last timeouts, start-up and stop."""
        startup = 10.0 if self.workers else 0.0
        return self.duration_s + self.timeout_ms / 1000.0 + GRACE_S + startup + self.drain_s

    @property
    def drain_s(self) -> float:
        """How long the load may watch the sink after the devices stopped."""
        return float((self.devices or {}).get("drain_s", 0.0))

    @property
    def log_path(self) -> Path:
        """Where the load process's stderr (Locust's log) goes."""
        return Path(self.stats_path).with_suffix(".log")


@dataclass
class LoadResult:
    """How a load process ended."""

    returncode: int
    history_path: str
    stats: dict[str, Any] | None
    progress: list[dict[str, Any]]
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.stats is not None


_EOF = object()


class LoadProcess:
    """A running load process (own session). Use as a context manager: it is killed if the
    block raises or leaves before it ends."""

    def __init__(self, spec: LoadSpec, on_progress: ProgressFn | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        spec_path = Path(spec.stats_path).with_suffix(".spec.json")
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        Path(spec.history_path).parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        self._log = spec.log_path.open("wb")
        env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workloads.loadproc", "--spec", str(spec_path)],
                stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env,
            )
        except OSError as exc:
            self._log.close()
            raise InfrastructureError(f"could not start the load process: {exc}") from exc
        self._reader = threading.Thread(target=self._read, name="loadproc-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # stray non-JSON output from a user locustfile
            if not isinstance(line, dict):
                continue
            self.lines.append(line)
            self._queue.put(line)
            if self.on_progress is not None:
                with contextlib.suppress(Exception):
                    self.on_progress(line)
        self._queue.put(_EOF)

    def progress(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield progress lines as they arrive until the process closes stdout (or until
        ``timeout`` seconds pass without a line)."""
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            if item is _EOF:
                self._queue.put(_EOF)  # later calls end at once too
                return
            yield item

    def wait(self, timeout: float | None = None) -> LoadResult:
        """Wait for the end; on timeout terminate it (SIGTERM, then SIGKILL) and raise
        InfrastructureError."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.terminate()
            raise InfrastructureError(
                f"the load process did not finish within {timeout:.0f} s; it was stopped "
                f"(log: {self.spec.log_path})"
            ) from None
        self._reader.join(timeout=5)
        self._log.close()
        return LoadResult(rc, self.spec.history_path, self._stats(), list(self.lines),
                          self._stderr_tail())

    def _stats(self) -> dict[str, Any] | None:
        path = Path(self.spec.stats_path)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _stderr_tail(self, n: int = 20) -> str:
        try:
            text = self.spec.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-n:])

    def terminate(self, grace_s: float | None = None) -> None:
        """SIGTERM the process group (users stop, in-flight requests get ``timeout_ms`` to
        finish), SIGKILL it after ``grace_s`` (default: timeout + 5 s); idempotent."""
        if grace_s is None:
            grace_s = self.spec.timeout_ms / 1000.0 + 5.0
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if not self._log.closed:
            self._log.close()

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()


def run_load(spec: LoadSpec, on_progress: ProgressFn | None = None,
             grace_s: float = GRACE_S) -> LoadResult:
    """Run one load to its end, bounded by ``duration_s + grace_s``."""
    with LoadProcess(spec, on_progress=on_progress) as lp:
        return lp.wait(timeout=spec.wait_budget_s - GRACE_S + grace_s)
