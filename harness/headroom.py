"""Headroom: the harness watching its own instruments, so that a verdict says ``unknown:
harness saturated`` when the load generator, Toxiproxy or the host, rather than the system
under test, was the bottleneck."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from harness.phases import Phase

SATURATED_CPU = 90.0  # percent of one core for a harness process, of all cores for the host
# Percent of the time some runnable task waited for a CPU (PSI, /proc/pressure/cpu "some
# avg10"): a host can read under 90% busy while hundreds of processes queue for its cores
# (a 500-node fleet on 2 cores), and every latency then carries that queueing.
SATURATED_PRESSURE = 50.0
PRESSURE = Path("/proc/pressure/cpu")
PHASE_MIN_SAMPLES = 2  # a phase judged on its own samples needs this many (one a second)
PHASE_HOT_SHARE = 0.25  # a phase is saturated when this share of its seconds ran hot


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
        self.samples: list[dict[str, float | None]] = []  # per second: at_s and each figure
        psutil.cpu_percent(interval=None)
        self._proxy = None
        if toxiproxy_pid:
            with contextlib.suppress(psutil.Error):
                self._proxy = psutil.Process(toxiproxy_pid)
                self._proxy.cpu_percent(interval=None)

    def sample(self, line: dict[str, Any]) -> None:
        """One sample, at a progress line of the load process."""
        row: dict[str, float | None] = {
            "at_s": float(line.get("elapsed_s", len(self.samples))),
            "host": psutil.cpu_percent(interval=None), "pressure": cpu_pressure(),
            "load": None if line.get("cpu_percent") is None else float(line["cpu_percent"]),
            "proxy": None}
        if self._proxy is not None:
            with contextlib.suppress(psutil.Error):
                row["proxy"] = self._proxy.cpu_percent(interval=None)
        self.add(row)

    def add(self, row: dict[str, float | None]) -> None:
        """Keep one sample (``at_s``, ``host``, ``pressure``, ``load``, ``proxy``)."""
        self.samples.append(row)
        for key, into in (("host", self.host), ("pressure", self.pressure),
                          ("load", self.load), ("proxy", self.proxy)):
            if (v := row.get(key)) is not None:
                into.append(float(v))

    def problem(self) -> str | None:
        """Why the harness, not the system under test, may have been the bottleneck."""
        hot = _hot(self.host[1:], self.load[1:], self.proxy[1:], self.pressure[1:])
        return f"harness saturated ({'; '.join(hot)})" if hot else None

    def phase_problems(self, phases: Iterable[Phase]) -> dict[str, str]:
        """Phases in which a CPU (host, load generator, Toxiproxy) ran over 90% for a
        quarter of their seconds or more, by name: a burst the whole run's medians hide (a
        push rollout to 500 nodes is 1-2 s of both cores) makes that phase's verdicts
        unknown instead of wrong."""
        out: dict[str, str] = {}
        rows = self.samples[1:]  # the first CPU sample of a process means nothing
        for ph in phases:
            inside = [r for r in rows if ph.start_s <= float(r["at_s"] or 0.0) < ph.end_s]
            if len(inside) < PHASE_MIN_SAMPLES:
                continue
            # CPU only: PSI avg10 trails by ten seconds (a testbed's start-up would read as
            # its first phase's), so pressure is judged over the whole run alone
            hot = [(r, why) for r in inside if (why := _hot_second(r))]
            if hot and len(hot) >= PHASE_HOT_SHARE * len(inside):
                worst = max(hot, key=lambda h: float(h[0].get("host") or 0.0))
                out[ph.name] = (f"harness saturated in this phase ({len(hot)} of "
                                f"{len(inside)} s hot, e.g. at "
                                f"{float(worst[0]['at_s'] or 0):.0f} s: {worst[1]})")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The figures as results.json reports them (``harness``)."""
        def med(v: list[float]) -> float | None:
            return statistics.median(v[1:]) if len(v) > 1 else None
        return {"host_cpu_percent_median": med(self.host),
                "load_cpu_percent_median": med(self.load),
                "toxiproxy_cpu_percent_median": med(self.proxy),
                "host_cpu_pressure_median": med(self.pressure),
                "saturated": self.problem() is not None, "problem": self.problem(),
                "samples": self.samples}


def _hot_second(row: dict[str, float | None]) -> str:
    """What ran over its threshold in one second's sample ('' if nothing did)."""
    names = (("host", "host CPU"), ("load", "load generator CPU"), ("proxy", "Toxiproxy CPU"))
    hot = [f"{name} {float(v):.0f}% > {SATURATED_CPU:.0f}%" for key, name in names
           if (v := row.get(key)) is not None and float(v) > SATURATED_CPU]
    return ", ".join(hot)


def _hot(host: list[float], load: list[float], proxy: list[float],
         pressure: list[float]) -> list[str]:
    """What ran over its threshold, by the median of its samples."""
    med = {k: statistics.median(v) for k, v in
           (("host", host), ("load generator", load), ("Toxiproxy", proxy)) if v}
    hot = [f"{k} CPU median {v:.0f}% > {SATURATED_CPU:.0f}%" for k, v in med.items()
           if v > SATURATED_CPU]
    if pressure and (waited := statistics.median(pressure)) > SATURATED_PRESSURE:
        hot.append(f"host CPU pressure median {waited:.0f}% > {SATURATED_PRESSURE:.0f}% "
                   "of the time tasks waited for a core")
    return hot
