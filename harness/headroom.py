"""Headroom: the harness watching its own instruments, so that a verdict says ``unknown:
harness saturated`` when the load generator, Toxiproxy or the host, rather than the system
under test, was the bottleneck."""

from __future__ import annotations

import contextlib
import statistics
from pathlib import Path
from typing import Any

import psutil

SATURATED_CPU = 90.0  # percent of one core for a harness process, of all cores for the host
# Percent of the time some runnable task waited for a CPU (PSI, /proc/pressure/cpu "some
# avg10"): a host can read under 90% busy while hundreds of processes queue for its cores
# (a 500-node fleet on 2 cores), and every latency then carries that queueing.
SATURATED_PRESSURE = 50.0
PRESSURE = Path("/proc/pressure/cpu")


def cpu_pressure() -> float | None:
    """The host's CPU pressure (PSI ``some avg10``, percent), None where the kernel has none."""
    try:
        line = PRESSURE.read_text().splitlines()[0]
        return float(line.split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


class Headroom:
    """Watches the harness's own instruments while the load runs: host CPU, the load
    generator's CPU (from its progress lines) and Toxiproxy's CPU, one sample a second."""

    def __init__(self, toxiproxy_pid: int | None) -> None:
        self.host: list[float] = []
        self.load: list[float] = []
        self.proxy: list[float] = []
        self.pressure: list[float] = []
        psutil.cpu_percent(interval=None)
        self._proxy = None
        if toxiproxy_pid:
            with contextlib.suppress(psutil.Error):
                self._proxy = psutil.Process(toxiproxy_pid)
                self._proxy.cpu_percent(interval=None)

    def sample(self, line: dict[str, Any]) -> None:
        """One sample, at a progress line of the load process."""
        self.host.append(psutil.cpu_percent(interval=None))
        if (waited := cpu_pressure()) is not None:
            self.pressure.append(waited)
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
        hot = [f"{k} CPU median {v:.0f}% > {SATURATED_CPU:.0f}%" for k, v in med.items()
               if v > SATURATED_CPU]
        if len(self.pressure) > 1 and (
                waited := statistics.median(self.pressure[1:])) > SATURATED_PRESSURE:
            hot.append(f"host CPU pressure median {waited:.0f}% > {SATURATED_PRESSURE:.0f}% "
                       "of the time tasks waited for a core")
        return f"harness saturated ({'; '.join(hot)})" if hot else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as results.json reports them (``harness``)."""
        def med(v: list[float]) -> float | None:
            return statistics.median(v[1:]) if len(v) > 1 else None
        return {"host_cpu_percent_median": med(self.host),
                "load_cpu_percent_median": med(self.load),
                "toxiproxy_cpu_percent_median": med(self.proxy),
                "host_cpu_pressure_median": med(self.pressure),
                "saturated": self.problem() is not None, "problem": self.problem()}
