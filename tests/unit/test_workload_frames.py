"""Per-second windows of a history, Locust stats as DataFrames, merging history parts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from workloads.history import (
    WINDOW_COLUMNS,
    HistoryWriter,
    event,
    merge_parts,
    operations,
    read_history,
    validate_pairs,
    windows,
)
from workloads.stats import ENTRY_COLUMNS, stats_frames

S = 1_000_000_000


def _op(p: int, start: int, end: int, type_: str = "ok", f: str = "read") -> list[dict]:
    return [event(p, "invoke", f, "k", None, "n", start), event(p, type_, f, "k", 1, "n", end)]


def test_windows_counts_throughput_errors_and_quantiles() -> None:
    t0 = 10 * S
    evs = (_op(0, t0, t0 + S // 100) + _op(0, t0 + S // 10, t0 + S // 10 + S // 50)
           + _op(1, t0 + S // 2, t0 + S // 2 + S // 1000, "fail")
           + _op(1, t0 + 2 * S + 5, t0 + 2 * S + 10, "info", "write"))
    w = windows(operations(evs), t0)
    assert list(w.columns) == WINDOW_COLUMNS
    assert list(w["second"]) == [0, 1, 2]
    first = w.iloc[0]
    assert (first["ops"], first["ok"], first["fail"], first["throughput_rps"]) == (3, 2, 1, 3)
    assert math.isclose(first["error_rate"], 1 / 3)
    assert math.isclose(first["latency_mean_ms"], 15.0)  # ok ops only: 10 and 20 ms
    assert w.iloc[1]["ops"] == 0 and math.isnan(w.iloc[1]["latency_p99_ms"])
    assert w.iloc[2]["info"] == 1 and w.iloc[2]["error_rate"] == 1.0


def test_windows_of_empty_history() -> None:
    assert list(windows(operations([]), 0).columns) == WINDOW_COLUMNS


def test_stats_frames(tmp_path: Path) -> None:
    entry = dict.fromkeys(ENTRY_COLUMNS, 1) | {"name": "read", "method": "GET"}
    stats = {"entries": [entry], "total": entry | {"name": "Aggregated"}, "errors": [],
             "history": {"invoke": 3, "ok": 2, "fail": 1, "info": 0}, "started_ns": 1,
             "ended_ns": 2, "duration_s": 1.0, "users": 3, "shape": "open",
             "arrivals": {"rate_rps": 5.0, "count": 4, "waited": 0, "max_lag_ms": 0.1}}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats))
    frames = stats_frames(path)
    assert set(frames) == {"entries", "total", "errors", "history", "run"}
    assert list(frames["entries"].columns) == ENTRY_COLUMNS
    assert frames["total"]["name"].iloc[0] == "Aggregated"
    assert frames["history"]["ok"].iloc[0] == 2
    assert frames["run"]["arrivals_count"].iloc[0] == 4
    assert len(frames["errors"]) == 0


def test_merge_parts_orders_by_time_and_drops_torn_tails(tmp_path: Path) -> None:
    a, b = tmp_path / "h.w0.jsonl", tmp_path / "h.w1.jsonl"
    with HistoryWriter(a) as w:
        for ev in _op(0, 1, 4) + _op(2, 6, 9):
            w.write(ev)
    with HistoryWriter(b) as w:
        for ev in _op(1, 2, 3) + _op(3, 5, 7):
            w.write(ev)
    with b.open("a") as f:
        f.write('{"process": 3, "type": "inv')  # a worker killed mid-line
    counts = merge_parts([a, b], tmp_path / "h.jsonl")
    merged = read_history(tmp_path / "h.jsonl")
    validate_pairs(merged)
    assert [e["time_ns"] for e in merged] == sorted(e["time_ns"] for e in merged)
    assert counts == {"invoke": 4, "ok": 4, "fail": 0, "info": 0}
