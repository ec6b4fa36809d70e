"""Locust's own statistics (the load process's ``stats_path`` JSON) as pandas DataFrames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

ENTRY_COLUMNS = [
    "name", "method", "num_requests", "num_failures", "avg_response_time",
    "median_response_time", "p95_response_time", "p99_response_time", "min_response_time",
    "max_response_time", "total_rps",
]


def load_stats(path: str | Path) -> dict[str, Any]:
    """Read a stats JSON file written by the load process."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def stats_frames(stats: dict[str, Any] | str | Path) -> dict[str, pd.DataFrame]:
    """Frames of a stats dict (or its file): ``entries`` (one row per request name and
    method), ``total`` (one row), ``errors``, ``history`` (counts per event type) and
    ``run`` (one row: span, users, warnings, open-loop arrival figures)."""
    if not isinstance(stats, dict):
        stats = load_stats(stats)
    entries = pd.DataFrame(stats.get("entries", []), columns=ENTRY_COLUMNS)
    total = pd.DataFrame([stats["total"]] if stats.get("total") else [], columns=ENTRY_COLUMNS)
    errors = pd.DataFrame(stats.get("errors", []),
                          columns=["method", "name", "error", "occurrences"])
    history = pd.DataFrame([stats.get("history", {})])
    run_keys = ("started_ns", "ended_ns", "duration_s", "interrupted", "users", "shape",
                "workers", "cpu_warning", "arrivals_waited")
    run = pd.DataFrame([{k: stats.get(k) for k in run_keys} | _flat(stats.get("arrivals"))])
    return {"entries": entries, "total": total, "errors": errors, "history": history,
            "run": run}


def _flat(arrivals: dict[str, Any] | None) -> dict[str, Any]:
    return {f"arrivals_{k}": v for k, v in (arrivals or {}).items()}
