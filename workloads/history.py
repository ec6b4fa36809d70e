"""The operation history: append-only JSONL, one event per line (DESIGN.md, "Run directory").

An event is ``{"process", "type", "f", "key", "value", "node", "time_ns"}`` where ``type`` is
``invoke`` or a completion (``ok``, ``fail``, ``info`` = outcome unknown) and ``time_ns`` is
``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by every process of the machine).

This module must not import locust (nor pandas at import time: the load process imports it
before gevent's monkey-patching is complete).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = ("ok", "fail", "info")
FUNCTIONS = ("read", "write", "cas", "ingest")
FIELDS = ("process", "type", "f", "key", "value", "node", "time_ns")
OP_COLUMNS = [
    "process", "f", "key", "value", "node", "type", "start_ns", "end_ns", "latency_ms",
]


def event(
    process: int, type_: str, f: str, key: str | None, value: Any, node: str | None,
    time_ns: int | None = None,
) -> dict[str, Any]:
    """Build one history event (``time_ns`` defaults to now on the monotonic clock)."""
    return {
        "process": process, "type": type_, "f": f, "key": key, "value": value, "node": node,
        "time_ns": time.monotonic_ns() if time_ns is None else time_ns,
    }


class HistoryWriter:
    """Append-only JSONL writer; every line is flushed as written, so a crash loses at most
    the line being written. Safe to share between threads and greenlets."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def write(self, ev: dict[str, Any]) -> None:
        """Append one event and flush it to the OS."""
        line = json.dumps(ev, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is None:
                raise ValueError(f"{self.path}: history writer is closed")
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def record(
        self, process: int, type_: str, f: str, key: str | None, value: Any, node: str | None
    ) -> dict[str, Any]:
        """Build an event stamped now, append it and return it."""
        ev = event(process, type_, f, key, value, node)
        self.write(ev)
        return ev

    def close(self) -> None:
        """Flush and close; further writes raise."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a history file; a torn (unparsable) last line is dropped, any other bad line raises
    ValueError naming the file and line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    events: list[dict[str, Any]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):
                break  # torn tail: the writer died mid-line
            raise ValueError(f"{path}: line {i} is not valid JSON ({exc.msg})") from None
        if not isinstance(ev, dict) or "process" not in ev or ev.get("type") not in TYPES:
            raise ValueError(
                f"{path}: line {i} is not a history event (needs 'process' and a 'type' "
                f"of {', '.join(TYPES)})"
            )
        events.append(ev)
    return events


def to_dataframe(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The events as a DataFrame with the history columns, in file order."""
    import pandas as pd

    rows = list(events)
    df = pd.DataFrame(rows, columns=list(FIELDS))
    df["value"] = pd.Series([r.get("value") for r in rows], dtype=object)
    return df


def _pairs(
    events: Iterable[dict[str, Any]], strict: bool
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Yield (invoke, completion-or-None) in invoke order; in strict mode raise on bad pairing."""
    open_: dict[Any, tuple[int, dict[str, Any]]] = {}
    order: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    index: dict[int, int] = {}
    for line, ev in enumerate(events, start=1):
        proc = ev["process"]
        if ev["type"] == "invoke":
            if proc in open_ and strict:
                raise ValueError(
                    f"line {line}: process {proc} invokes again while its invoke on line "
                    f"{open_[proc][0]} has no completion"
                )
            open_[proc] = (line, ev)
            index[id(ev)] = len(order)
            order.append((ev, None))
        elif proc in open_:
            _, inv = open_.pop(proc)
            order[index[id(inv)]] = (inv, ev)
        elif strict:
            raise ValueError(
                f"line {line}: process {proc} completes ({ev['type']}) without an open invoke"
            )
    return order


def validate_pairs(events: Iterable[dict[str, Any]]) -> None:
    """Raise ValueError naming the line if a process invokes twice without a completion in
    between, or completes without an invoke. A trailing open invoke is allowed."""
    _pairs(events, strict=True)


def operations(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per operation: each invoke paired with its process's next completion.

    ``value`` is the completion's for reads, the invoke's otherwise; an invoke with no
    completion becomes ``info`` with ``end_ns`` and ``latency_ms`` NaN.
    """
    import pandas as pd

    rows = []
    for inv, comp in _pairs(events, strict=False):
        end = comp["time_ns"] if comp is not None else None
        value = inv.get("value")
        if inv["f"] == "read" and comp is not None:
            value = comp.get("value")
        rows.append({
            "process": inv["process"], "f": inv["f"], "key": inv.get("key"), "value": value,
            "node": inv.get("node"), "type": comp["type"] if comp is not None else "info",
            "start_ns": inv["time_ns"], "end_ns": end,
        })
    df = pd.DataFrame(rows, columns=OP_COLUMNS[:-1])
    df["value"] = pd.Series([r["value"] for r in rows], dtype=object)  # no int -> float
    df["end_ns"] = df["end_ns"].astype("float64")
    df["latency_ms"] = (df["end_ns"] - df["start_ns"]) / 1e6
    return df[OP_COLUMNS]
