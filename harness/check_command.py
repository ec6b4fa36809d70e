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

from harness.checks.lin.check import MODELS, LinResult, check_file, check_ops
from harness.checks.lin.ops import REGISTER_FUNCTIONS, fmt, op_dict, ops_from_pairs, paused_gc
from harness.checks.verdict import Verdict, overall_verdict
from harness.errors import ConfigError
from workloads.history import pairs, read_history

Pair = tuple[dict[str, Any], dict[str, Any] | None]

FORMAT_HINT = ('each line must be {"process", "type": "invoke|ok|fail|info", '
               '"f": "read|write|cas", "key", "value", "node", "time_ns"}')


def _line_numbers(path: Path) -> list[int]:
    """File line number of each event (read_history skips blank lines)."""
    with path.open(encoding="utf-8") as fh:
        return [i for i, line in enumerate(fh, start=1) if line.strip()]


def _event_error(ev: dict[str, Any]) -> str | None:
    """What an event lacks that the checker needs (None: nothing)."""
    if isinstance(ev["process"], list | dict):  # operations are paired by it (a dict key)
        return f"'process' must be a number or a name, got {fmt(ev['process'])}; {FORMAT_HINT}"
    t = ev.get("time_ns")
    if isinstance(t, bool) or not isinstance(t, int | float):
        return f"'time_ns' must be a number (nanoseconds), got {t!r}; {FORMAT_HINT}"
    f = ev.get("f")
    if not isinstance(f, str):
        return f"'f' is missing; {FORMAT_HINT}"
    if f in REGISTER_FUNCTIONS and "key" not in ev:
        return f"a {f} needs a 'key'; {FORMAT_HINT}"
    if f == "cas" and ev["type"] == "invoke":
        v = ev.get("value")
        if not isinstance(v, list) or len(v) != 2:
            return (f"a cas invoke's value must be a list of two, the expected and the new "
                    f"value, got {fmt(v)}")
    return None


def _bad_utf8_line(path: Path) -> int:
    """The number of the first line that is not UTF-8."""
    with path.open("rb") as fh:
        for i, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return i
    return 1


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{path}: no such history file; give the path of a history.jsonl "
                          "(written by `edgeproof run`, or any history in this format)")


def _load_pairs(path: Path) -> tuple[list[dict[str, Any]], list[Pair]]:
    """Read, validate and pair a history file in one pass of each; ConfigError (exit 2) with
    the file line on bad input."""
    _require_file(path)
    try:
        events = read_history(path)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: line {_bad_utf8_line(path)}: not UTF-8 text; a history is "
                          f"UTF-8 JSON lines (re-encode it, e.g. iconv -t UTF-8); "
                          f"{FORMAT_HINT}") from None
    except ValueError as exc:
        raise ConfigError(f"{exc}; {FORMAT_HINT}") from None
    for i, ev in enumerate(events):
        problem = _event_error(ev)
        if problem is not None:
            raise ConfigError(f"{path}: line {_line_numbers(path)[i]}: {problem}")
    try:
        paired = pairs(events, strict=True)
    except ValueError as exc:
        lines = _line_numbers(path)
        msg = re.sub(r"line (\d+)", lambda m: f"line {lines[int(m.group(1)) - 1]}", str(exc))
        raise ConfigError(f"{path}: {msg}; every process must complete (ok, fail or info) "
                          "an operation before it invokes the next") from None
    return events, paired


def load_events(path_s: str) -> list[dict[str, Any]]:
    """Read and validate a history file; ConfigError (exit 2) on bad input."""
    return _load_pairs(Path(path_s))[0]


def run_check(path: str, model: str, budget_s: float) -> LinResult:
    """Load, validate and check a history against ``model``: on the compiled core when it is
    built and the file is one it reads exactly, else in Python (the same verdicts; bad input
    is always reported by the Python reader, with its line)."""
    if model not in MODELS:
        raise ConfigError(f"--model: {model!r} is not a consistency model edgeproof checks; "
                          f"use one of: {', '.join(MODELS)}")
    _require_file(Path(path))
    with paused_gc():
        try:
            res = check_file(path, budget_s=budget_s)
        except ValueError:  # a line the core took but Python cannot (a 5,000-digit number)
            res = None  # the Python reader reports it, with its line
        if res is None:
            res = check_ops(ops_from_pairs(_load_pairs(Path(path))[1]), budget_s=budget_s)
    return res


def as_json(res: LinResult) -> str:
    """The verdict as indented JSON (``--json``)."""
    return json.dumps(res.as_dict(), indent=2, default=str)


def witness_tables(res: LinResult) -> list[Any]:
    """One rich table per violating key: the minimal witness, in invoke order."""
    from rich.table import Table  # cost: rich, only when there is a witness to show
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
