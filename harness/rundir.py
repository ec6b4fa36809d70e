"""A run directory as a public value: the one reader of what ``edgeproof run`` wrote.

``RunDir(path)`` gives the results, the scenario as it ran, the history, one row per
operation and per-second windows (pandas DataFrames, built on first use), Locust's stats,
and the run's :class:`~harness.checks.evidence.Evidence`, from which ``edgeproof check
RUN_DIR`` judges the run again. Where runs go by default is decided here too.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import rollouts
from harness.checks.evidence import Evidence
from harness.errors import ConfigError
from harness.headroom import Headroom
from harness.measure import PhaseMeasurement, with_phase_times
from harness.names import safe_name
from harness.phases import Phase
from harness.scenario import Scenario, load_scenario
from workloads.final_reads import FINAL_PROCESS_BASE
from workloads.history import operations, read_history, windows

if TYPE_CHECKING:  # cost: pandas only for the annotations
    import pandas as pd

def reports_root() -> Path:
    """Where runs go by default: ``reports/`` under the current working directory."""
    return Path.cwd() / "reports"


def default_out(name: str, kind: str = "") -> Path:
    """Where a run (``kind`` ''), a certification or an exploration writes by default:
    ``<cwd>/reports/<timestamp>-[<kind>-]<name>/`` (absolute), the name made a safe folder
    name (:func:`harness.names.safe_name`), so it never leaves the reports folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return reports_root() / f"{stamp}-{kind + '-' if kind else ''}{safe_name(name)}"


def point_latest(out: Path) -> None:
    """Make ``reports/latest`` point at ``out`` when it is a run under the reports folder,
    replacing the link atomically (a reader sees the old run or the new one, never none)."""
    root = reports_root()
    if out.parent != root:
        return
    tmp = root / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(out.name, target_is_directory=True)
    os.replace(tmp, root / "latest")


class RunDir:
    """A run directory written by ``edgeproof run`` (or the pytest plugin), read lazily."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        """The run directory."""
        if not (self.path / "results.json").is_file():
            raise ConfigError(
                f"{self.path}: not a run directory (no results.json); give a folder that "
                "`edgeproof run` wrote, e.g. reports/<timestamp>-<name>/", path=str(self.path))

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @cached_property
    def results(self) -> dict[str, Any]:
        """results.json as a dict."""
        return dict(json.loads((self.path / "results.json").read_text(encoding="utf-8")))

    @cached_property
    def scenario(self) -> Scenario:
        """The scenario as it ran (scenario.yaml of the run directory)."""
        return load_scenario(self.path / "scenario.yaml", files=False)

    @cached_property
    def locust_stats(self) -> dict[str, Any]:
        """Locust's statistics (locust_stats.json) as a dict ({} if absent)."""
        path = self.path / "locust_stats.json"
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}

    @property
    def t0_ns(self) -> int:
        """When the load started, on the harness's monotonic clock (history ``time_ns``)."""
        t0 = self.results.get("t0_ns") or self.locust_stats.get("started_ns")
        if t0:
            return int(t0)
        return int(self.operations["start_ns"].min())

    @cached_property
    def history(self) -> list[dict[str, Any]]:
        """The history events (history.jsonl; a torn last line dropped)."""
        return read_history(self.path / "history.jsonl")

    @cached_property
    def operations(self) -> pd.DataFrame:
        """One row per operation (invoke paired with its completion), with latency_ms and
        start_s/end_s from t0."""
        ops = operations(self.history)
        t0 = self.results.get("t0_ns") or self.locust_stats.get("started_ns")
        return with_phase_times(ops, int(t0) if t0 else int(ops["start_ns"].min()))

    @cached_property
    def load_operations(self) -> pd.DataFrame:
        """The load's own operations (:attr:`operations` without the final reads)."""
        ops = self.operations
        return ops[ops["process"] < FINAL_PROCESS_BASE]

    @cached_property
    def windows(self) -> pd.DataFrame:
        """Per-second figures of the load from t0: ops, ok/fail/info, throughput, error rate,
        latency."""
        return windows(self.load_operations, self.t0_ns)

    @cached_property
    def stats(self) -> dict[str, pd.DataFrame]:
        """Locust's statistics as DataFrames (entries, total, errors, history, run)."""
        from workloads.stats import stats_frames  # cost: pandas, only when frames are asked

        return stats_frames(self.locust_stats)

    def _phase_problems(self, phs: list[Phase]) -> dict[str, str]:
        """Phases the harness ran hot in, judged again from the stored samples (the run's
        own judgement where it kept none)."""
        harness = self.results.get("harness") or {}
        if "samples" not in harness:
            return dict(harness.get("phase_problems") or {})
        watch = Headroom(None)
        for row in harness["samples"]:
            watch.add(row)
        return watch.phase_problems(phs)

    def evidence(self) -> Evidence:
        """The run's evidence, as the checks saw it when the run ended."""
        stored = self.results.get("phases") or []
        phs = [Phase.from_dict(p) for p in stored]
        return Evidence(
            scenario=self.scenario,
            phases=phs,
            measured=[PhaseMeasurement.from_dict(p) for p in stored],
            predicted=[dict(p.get("predicted") or {}) for p in stored],
            ops=self.operations,
            harness_problem=(self.results.get("harness") or {}).get("problem"),
            phase_problems=self._phase_problems(phs),
            faults=list(self.results.get("faults") or []),
            testbed_lost=self.results.get("testbed_lost"),
            control=rollouts.read(self.path),
            clock_error_ns=(self.results.get("clock_alignment") or {"error_ns": 0})["error_ns"])
