"""Headroom: the harness watching its own instruments, so that a verdict says ``unknown:
harness saturated`` when the load generator, Toxiproxy or the host, rather than the system
under test, was the bottleneck."""

from __future__ import annotations

import contextlib
import statistics
from typing import Any

import psutil

SATURATED_CPU = 90.0  # percent of one core for a harness process, of all cores for the host


class Headroom:
    """Watches the harness's own instruments while the load runs: host CPU, the load
    generator's CPU (from its progress lines) and Toxiproxy's CPU, one sample a second."""

    def __init__(self, toxiproxy_pid: int | None) -> None:
        self.host: list[float] = []
        self.load: list[float] = []
        self.proxy: list[float] = []
        psutil.cpu_percent(interval=None)
        self._proxy = None
        if toxiproxy_pid:
            with contextlib.suppress(psutil.Error):
                self._proxy = psutil.Process(toxiproxy_pid)
                self._proxy.cpu_percent(interval=None)

    def sample(self, line: dict[str, Any]) -> None:
        """One sample, at a progress line of the load process."""
        self.host.append(psutil.cpu_percent(interval=None))
        if line.get("cpu_percent") is not None:
            self.load.append(float(line["cpu_percent"]))
        if self._proxy is not None:
            with contextlib.suppress(psutil.Error):
                self.proxy.append(self._proxy.cpu_percent(interval=None))

    def problem(self) -> str | None:
        """Why the harness, not the system under test, may have been the bottleneck."""
        med = {k: statistics.median(v) for k, v in
               (("host", self.host[1:]), ("load generator", self.load[1:]),
                ("Toxiproxy", self.proxy[1:])) if v}
        hot = [f"{k} CPU median {v:.0f}%" for k, v in med.items() if v > SATURATED_CPU]
        return f"harness saturated ({'; '.join(hot)} > {SATURATED_CPU:.0f}%)" if hot else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as results.json reports them (``harness``)."""
        def med(v: list[float]) -> float | None:
            return statistics.median(v[1:]) if len(v) > 1 else None
        return {"host_cpu_percent_median": med(self.host),
                "load_cpu_percent_median": med(self.load),
                "toxiproxy_cpu_percent_median": med(self.proxy),
                "saturated": self.problem() is not None, "problem": self.problem()}
