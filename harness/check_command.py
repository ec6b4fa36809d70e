"""`edgeproof check`: a recorded history against a consistency model, or a finished run
directory judged again from disk (Jepsen's ``analyze``).

``edgeproof check HISTORY.jsonl --model linearizable``: bad input (missing file, a malformed
line other than a torn tail, an event without the fields the check needs, unpaired
operations, an unknown model) raises :class:`ConfigError` with the file and line, so the CLI
prints one paragraph and exits 2.

``edgeproof check RUN_DIR``: the run's checks again, from its history (consistency,
durability, lost updates, staleness, availability) and from the predictions and measurements
it stored (latency); the same verdicts and exit code as the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rich.table import Table

from harness.checks.lin.check import MODELS, LinResult, check_ops
from harness.checks.lin.ops import REGISTER_FUNCTIONS, fmt, op_dict, ops_from_events
from harness.checks.verdict import Verdict, overall_verdict
from harness.errors import ConfigError
from workloads.history import read_history, validate_pairs

FORMAT_HINT = ('each line must be {"process", "type": "invoke|ok|fail|info", '
               '"f": "read|write|cas", "key", "value", "node", "time_ns"}')


def _line_numbers(path: Path) -> list[int]:
    """File line number of each event (read_history skips blank lines)."""
    with path.open(encoding="utf-8") as fh:
        return [i for i, line in enumerate(fh, start=1) if line.strip()]


def _check_event(ev: dict[str, Any], line: int, path: Path) -> None:
    """The fields the checker needs, with the line that lacks them."""
    t = ev.get("time_ns")
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ConfigError(f"{path}: line {line}: 'time_ns' must be a number (nanoseconds), "
                          f"got {t!r}; {FORMAT_HINT}")
    if not isinstance(ev.get("f"), str):
        raise ConfigError(f"{path}: line {line}: 'f' is missing; {FORMAT_HINT}")
    if ev["f"] in REGISTER_FUNCTIONS and "key" not in ev:
        raise ConfigError(f"{path}: line {line}: a {ev['f']} needs a 'key'; {FORMAT_HINT}")
    if ev["f"] == "cas" and ev["type"] == "invoke":
        v = ev.get("value")
        if not isinstance(v, list) or len(v) != 2:
            raise ConfigError(f"{path}: line {line}: a cas invoke's value must be a list of "
                              f"two, the expected and the new value, got {fmt(v)}")


def load_events(path_s: str) -> list[dict[str, Any]]:
    """Read and validate a history file; ConfigError (exit 2) on bad input."""
    path = Path(path_s)
    if not path.is_file():
        raise ConfigError(f"{path}: no such history file; give the path of a history.jsonl "
                          "(written by `edgeproof run`, or any history in this format)")
    try:
        events = read_history(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{exc}; {FORMAT_HINT}") from None
    lines = _line_numbers(path)
    for i, ev in enumerate(events):
        _check_event(ev, lines[i], path)
    try:
        validate_pairs(events)
    except ValueError as exc:
        msg = re.sub(r"line (\d+)", lambda m: f"line {lines[int(m.group(1)) - 1]}", str(exc))
        raise ConfigError(f"{path}: {msg}; every process must complete (ok, fail or info) "
                          "an operation before it invokes the next") from None
    return events


def run_check(path: str, model: str, budget_s: float) -> LinResult:
    """Load, validate and check a history against ``model``."""
    if model not in MODELS:
        raise ConfigError(f"--model: {model!r} is not a consistency model edgeproof checks; "
                          f"use one of: {', '.join(MODELS)}")
    events = load_events(path)
    return check_ops(ops_from_events(events), budget_s=budget_s)


def as_json(res: LinResult) -> str:
    return json.dumps(res.as_dict(), indent=2, default=str)


def witness_tables(res: LinResult) -> list[Any]:
    """One rich table per violating key: the minimal witness, in invoke order."""
    tables = []
    for k in res.violations:
        t = Table(title=f"key {fmt(k.key)}: minimal non-linearizable sub-history "
                        f"({len(k.witness)} ops{'' if k.minimal else ', not fully shrunk'})",
                  caption=k.explanation)
        for col in ("process", "f", "value", "type", "invoke ns", "complete ns", "node"):
            t.add_column(col, overflow="fold")
        for o in k.witness:
            d = op_dict(o)
            t.add_row(str(d["process"]), d["f"], fmt(d["value"]), d["type"],
                      str(d["start_ns"]), "-" if d["end_ns"] is None else str(d["end_ns"]),
                      str(d["node"]))
        tables.append(t)
    return tables


def recheck(run_dir: str | Path) -> tuple[Any, list[Verdict], str]:
    """A finished run's checks again, from its directory: (the run, verdicts, verdict)."""
    from harness.checks.registry import judge  # cost: pandas, only for a run directory
    from harness.rundir import RunDir  # cost: as above
    run = RunDir(run_dir)
    verdicts = judge(run.evidence())
    return run, verdicts, overall_verdict(verdicts)
