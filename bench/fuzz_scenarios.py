"""Bad input through the real CLI (issue 13, item 1): exit codes, tracebacks, time to reject.

Writes ``--n`` scenario files, each a shipped example (three-edge, certification,
latency-step, quorum-partition) with one mutation drawn from a seeded random (``--seed``): a
field deleted, text or a boolean for a number, NaN/inf, huge and negative numbers, a
5,000-digit number, a list for a mapping, other shapes, 600-deep nesting, a key with rich
markup, a duplicate key, bad UTF-8 bytes, UTF-16/32 or Latin-1, a control character, a
truncated file, a flipped byte. Each goes through ``edgeproof predict FILE`` (load and
validate, nothing started: the CLI has no separate validate command); ``--run-share`` of the
files refused in-process also go through ``edgeproof run FILE`` (only those: a valid file
would start a testbed). ``--histories`` broken history files (not UTF-8, UTF-16, torn lines,
1000- and 100,000-deep lines, lines that are not objects, fields missing or of the wrong
type, unpaired operations, a 5,000-digit value, truncation, flipped bytes) go through
``edgeproof check FILE``. Every command runs as a subprocess from a temporary folder outside
the checkout, one at a time, with its own state dir.

Counts exit codes per command and mutation kind, tracebacks (``Traceback`` in stdout or
stderr), disagreements (``disagree``: a scenario refused by the in-process loader but not
exit 2 here, or the reverse; a history that the reader's documented rules make bad input
but not exit 2; torn, cut and flipped files may be valid and are not counted), and the wall
time to reject (exit 2, interpreter start-up included): p50 and max.
``--max-s`` bounds the whole run (the files left are not run). Prints a table and one JSON
line (the last line of stdout).

    .venv/bin/python bench/fuzz_scenarios.py [--n 1000] [--histories 100] [--seed 0]
        [--max-s 1800] [--run-share 0.02]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
EDGEPROOF = str(Path(sys.executable).with_name("edgeproof"))
EXAMPLES = ("three-edge", "certification", "latency-step", "quorum-partition")
COUNTS = ("seed", "users", "keys", "workers", "memory_mb", "min_samples")
DEPTH = 600
TIMEOUT_S = 120.0

FieldPath = tuple[str | int, ...]

# ---------------------------------------------------------------- writing YAML


class Raw(str):
    """Scalar text written as it is (``.nan``, ``yes``, ``[[[...]]]``, a long number)."""


class Pairs(list[tuple[str, Any]]):
    """A mapping as (key, value) pairs, so that one key can be written twice."""


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _items(m: dict[str, Any] | Pairs) -> list[tuple[str, Any]]:
    """A mapping's (key, value) pairs, duplicates kept."""
    return list(m) if isinstance(m, Pairs) else list(m.items())


def _key(k: Any) -> str:
    """A key, plain when YAML reads it back as that text, else quoted."""
    s = str(k)
    return s if _PLAIN_KEY.fullmatch(s) and s.lower() not in _YAML_WORDS else json.dumps(s)


def _scalar(v: Any) -> str:
    """One value as YAML flow text."""
    if isinstance(v, Raw):
        return str(v)
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        return repr(v) if math.isfinite(v) else (".inf" if v > 0 else "-.inf")
    return json.dumps(str(v), ensure_ascii=False)


def flow(v: Any) -> str:
    """A value in YAML flow style."""
    if isinstance(v, dict | Pairs):
        return "{" + ", ".join(f"{_key(k)}: {flow(x)}" for k, x in _items(v)) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return _scalar(v)


def _nested(v: Any) -> bool:
    """A non-empty mapping or list (written over several lines in block style)."""
    return isinstance(v, dict | Pairs | list) and len(v) > 0


def block(v: Any, indent: int = 0) -> list[str]:
    """A value in YAML block style, as lines."""
    pad = " " * indent
    if not _nested(v):
        return [pad + flow(v)]
    out: list[str] = []
    if isinstance(v, dict | Pairs):
        for k, x in _items(v):
            out += ([f"{pad}{_key(k)}:", *block(x, indent + 2)] if _nested(x)
                    else [f"{pad}{_key(k)}: {flow(x)}"])
        return out
    for x in v:
        sub = block(x, indent + 2)
        out += [f"{pad}- {sub[0][indent + 2:]}", *sub[1:]]
    return out


def dump(doc: Any, style: str) -> str:
    """A whole document in ``block`` or ``flow`` style."""
    if style == "flow" or not _nested(doc):
        return flow(doc) + "\n"
    return "\n".join(block(doc)) + "\n"


# ---------------------------------------------------------------- scenario mutations


def walk(v: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any]]:
    """Every value of a document with its path (the root's is ``()``)."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, (*path, i))


def _replaced(doc: Any, path: FieldPath, value: Any) -> Any:
    """A copy of ``doc`` with the value at ``path`` replaced."""
    if not path:
        return value
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return out


def _deleted(doc: Any, path: FieldPath) -> Any:
    """A copy of ``doc`` without the field (or list item) at ``path``."""
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return out


def _value_mutation(rng: random.Random, doc: Any, kind: str) -> Any:
    """The document (data) with one value changed as ``kind`` says."""
    every = [p for p, _ in walk(doc)]
    nums = [p for p, v in walk(doc) if isinstance(v, int | float) and not isinstance(v, bool)]
    maps = [p for p, v in walk(doc) if isinstance(v, dict)]
    at_of = dict(walk(doc))
    pick = rng.choice
    if kind == "delete":
        return _deleted(doc, pick(every[1:]))
    if kind == "text_for_number":
        return _replaced(doc, pick(nums), pick(["5", "2.5", "1e3", "many", "", "0x10", " 7"]))
    if kind == "bool_for_number":
        return _replaced(doc, pick(nums), Raw(pick(["true", "false", "yes", "off", "True"])))
    if kind == "nan_inf":
        return _replaced(doc, pick(nums), Raw(pick([".nan", ".NaN", ".inf", "-.inf", "+.inf"])))
    if kind == "huge_count":
        return _replaced(doc, pick([p for p in nums if p[-1] in COUNTS]),
                         pick([2**64, 10**30, -(2**64)]))
    if kind == "huge":
        return _replaced(doc, pick(nums), pick([1e20, 2**64, 1e308, -1e20, 2**63, 10**40]))
    if kind == "negative":
        return _replaced(doc, pick(nums), pick([-1, -0.5, -1e9, -0.0, -(2**31)]))
    if kind == "long_int":
        digits = pick([101, 4301, 6000])
        return _replaced(doc, pick(every[1:]),
                         Raw(pick(["9" * digits, "0x" + "f" * digits, "-" + "1" * digits])))
    if kind == "list_for_mapping":
        at = pick(maps)
        return _replaced(doc, at, pick([[], list(at_of[at].values()), [at_of[at]]]))
    if kind == "wrong_shape":
        return _replaced(doc, pick(every), pick([[], {}, None, [1, 2], {"x": 1}, "x", 3]))
    if kind == "deep":
        return _replaced(doc, pick(every), Raw(pick([
            "[" * DEPTH + "]" * DEPTH, "{a: " * DEPTH + "1" + "}" * DEPTH,
            "[{a: " * (DEPTH // 2) + "1" + "}]" * (DEPTH // 2)])))
    if kind == "markup_key":  # rich markup in a key: the message must print it as text
        at = pick(maps)
        key = pick(["[/x]", "[bold]", "[/]", "[link=x]", "[red]seed"])
        return _replaced(doc, at, {**at_of[at], key: pick([1, "x", None])})
    if kind == "duplicate_key":
        at = pick([p for p in maps if at_of[p]])
        pairs = list(at_of[at].items())
        i = rng.randrange(len(pairs))
        value = pairs[i][1] if rng.random() < 0.5 else pick([1, "x", None, []])
        pairs.insert(rng.randint(i + 1, len(pairs)), (pairs[i][0], value))
        return _replaced(doc, at, Pairs(pairs))
    raise ValueError(kind)


def _byte_mutation(rng: random.Random, text: str, kind: str) -> bytes:
    """The file's bytes changed as ``kind`` says."""
    raw = text.encode("utf-8")
    at = rng.randint(0, len(raw))
    if kind == "bad_utf8":
        bad = rng.choice([b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                          b"\xf8\x88\x80\x80\x80", b"\xe2\x82"])
        return raw[:at] + bad + raw[at:]
    if kind == "other_encoding":
        enc = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"])
        return (("# réseau du café\n" + text) if enc == "latin-1" else text).encode(enc)
    if kind == "control_char":
        return raw[:at] + bytes([rng.choice([0, 1, 7, 8, 11, 12, 27, 127])]) + raw[at:]
    if kind == "truncate":
        return raw[:at]
    if kind == "byte_flip":
        i = min(at, len(raw) - 1)
        return raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:]
    raise ValueError(kind)


VALUE_KINDS = ("delete", "text_for_number", "bool_for_number", "nan_inf", "huge_count",
               "huge", "negative", "long_int", "list_for_mapping", "wrong_shape", "deep",
               "markup_key", "duplicate_key")
BYTE_KINDS = ("bad_utf8", "other_encoding", "control_char", "truncate", "byte_flip")


def scenario_file(rng: random.Random, docs: dict[str, Any], kind: str) -> bytes:
    """One mutated scenario file."""
    doc = docs[rng.choice(sorted(docs))]
    style = rng.choice(["block", "flow"])
    if kind in VALUE_KINDS:
        return dump(_value_mutation(rng, doc, kind), style).encode("utf-8")
    return _byte_mutation(rng, dump(doc, style), kind)


# ---------------------------------------------------------------- history mutations


def _history(rng: random.Random) -> list[dict[str, Any]]:
    """A small valid history: writes and reads of a few keys by three processes."""
    events: list[dict[str, Any]] = []
    t, last = 1000, {}
    for i in range(rng.randint(2, 8)):
        p, key = i % 3, f"k{rng.randrange(2)}"
        f = rng.choice(["read", "write"])
        value = i if f == "write" else None
        events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                       "node": "edge-1", "time_ns": t})
        got = value if f == "write" else last.get(key)
        if f == "write":
            last[key] = value
        events.append({"process": p, "type": "ok", "f": f, "key": key, "value": got,
                       "node": "edge-1", "time_ns": t + 500})
        t += 1000
    return events


# values of the wrong type per field (a float time is allowed, a process may be any name)
WRONG: dict[str, list[Any]] = {"time_ns": ["x", None, [1], {"a": 1}, True],
                               "type": ["x", None, 1, [1]], "f": [None, 1, [1]],
                               "process": [[1], {"a": 1}]}
HISTORY_KINDS = ("not_utf8", "utf16", "torn_middle", "torn_last", "deep_1000",
                 "deep_100000", "not_an_object", "missing_field", "wrong_type", "unpaired",
                 "long_int", "truncate", "byte_flip")


# kinds that may leave a valid history: a torn last line is dropped (the writer died
# mid-line), a cut file ends in one or at a line's end, a flipped byte may change a digit
MAY_PASS = ("torn_last", "truncate", "byte_flip")


def history_file(rng: random.Random, kind: str) -> bytes:
    """One broken (or, for ``torn_last``, merely torn) history file."""
    events = _history(rng)
    lines = [json.dumps(e) for e in events]
    i = rng.randrange(len(lines) - 1)  # a line that is not the last
    if kind == "not_utf8":
        lines[i] = lines[i].replace('"edge-1"', '"edge-\udcff"')
    elif kind == "utf16":
        return ("\n".join(lines) + "\n").encode(rng.choice(["utf-16", "utf-16-le"]))
    elif kind == "torn_middle":
        lines[i] = lines[i][:rng.randint(1, len(lines[i]) - 2)]
    elif kind == "torn_last":
        lines.append(lines[0][:rng.randint(1, len(lines[0]) - 2)])
    elif kind in ("deep_1000", "deep_100000"):
        depth = 1000 if kind == "deep_1000" else 100_000
        lines[i] = lines[i].replace('"value": ', '"value": ' + "[" * depth, 1).replace(
            ', "node"', "]" * depth + ', "node"', 1)
    elif kind == "not_an_object":
        lines.insert(i, rng.choice(["[1, 2]", "42", '"text"', "null", "true", "{}"]))
    elif kind == "missing_field":
        ev = dict(events[i])
        del ev[rng.choice(["process", "type", "f", "key", "time_ns"])]
        lines[i] = json.dumps(ev)
    elif kind == "wrong_type":
        ev = dict(events[i])
        name = rng.choice(sorted(WRONG))
        ev[name] = rng.choice(WRONG[name])
        lines[i] = json.dumps(ev)
    elif kind == "unpaired":
        del lines[rng.choice([j for j, e in enumerate(events) if e["type"] == "ok"])]
        lines.insert(0, lines[0])  # the same process invokes twice
    elif kind == "long_int":  # in a time, or in the last read's value (a violation's witness)
        j = i if rng.random() < 0.5 else len(lines) - 1
        name = "time_ns" if j == i else "value"
        lines[j] = lines[j].replace(f'"{name}": ', f'"{name}": 1' + "9" * 5000, 1)
    text = "\n".join(lines) + "\n"
    raw = text.encode("utf-8", errors="surrogateescape")
    if kind == "truncate":
        return raw[:rng.randint(0, len(raw))]
    if kind == "byte_flip":
        j = rng.randrange(len(raw))
        return raw[:j] + bytes([rng.randrange(256)]) + raw[j + 1:]
    return raw


# ---------------------------------------------------------------- running them


@dataclass
class Tally:
    """The results of one command on one mutation kind."""

    files: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    tracebacks: int = 0
    disagree: int = 0
    reject_s: list[float] = field(default_factory=list)


def refused_in_process(path: Path) -> bool | str:
    """True when ``load_scenario`` refuses the file with ConfigError, False when it loads,
    the exception's name when it raises anything else (a bug)."""
    try:
        load_scenario(path)
    except ConfigError:
        return True
    except Exception as exc:
        return type(exc).__name__
    return False


def cli(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """(exit code, stdout + stderr, wall seconds) of one edgeproof command, run from ``cwd``."""
    env = {**os.environ, "EDGEPROOF_STATE_DIR": str(cwd / "state"), "NO_COLOR": "1"}
    t0 = time.perf_counter()
    try:
        res = subprocess.run([EDGEPROOF, *args], cwd=cwd, env=env, capture_output=True,
                             timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -9, "timeout", time.perf_counter() - t0
    took = time.perf_counter() - t0
    return res.returncode, (res.stdout + res.stderr).decode("utf-8", "replace"), took


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile of ``xs`` (nearest rank), None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def fmt(x: Any) -> str:
    """A table cell."""
    return f"{x:.3f}" if isinstance(x, float) else "-" if x is None else str(x)


def main() -> None:
    """Generate, run, tabulate."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="mutated scenario files")
    ap.add_argument("--histories", type=int, default=100, help="broken history files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-s", type=float, default=1800.0, help="bound on the whole run")
    ap.add_argument("--run-share", type=float, default=0.02,
                    help="share of the in-process-refused files also run by `edgeproof run`")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = {n: yaml.safe_load((ROOT / "examples" / f"{n}.yaml").read_text()) for n in EXAMPLES
            if (ROOT / "examples" / f"{n}.yaml").is_file()}
    kinds = (*VALUE_KINDS, *BYTE_KINDS)
    jobs = [("scenario", kinds[i % len(kinds)]) for i in range(args.n)]  # (what, kind)
    jobs += [("history", HISTORY_KINDS[i % len(HISTORY_KINDS)]) for i in range(args.histories)]
    rng.shuffle(jobs)
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    examples: list[dict[str, Any]] = []  # the first few files that gave a traceback
    crashed_in_process: Counter[str] = Counter()
    done = 0
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgeproof-fuzz-") as d:
        work = Path(d)
        for n, (what, kind) in enumerate(jobs):
            if time.perf_counter() - t_start > args.max_s:
                break
            if what == "scenario":
                path = work / f"s{n}.yaml"
                path.write_bytes(scenario_file(rng, docs, kind))
                expect = refused_in_process(path)
                if isinstance(expect, str):
                    crashed_in_process[f"{kind}: {expect}"] += 1
                commands = [("predict", ["predict", str(path)])]
                if expect is True and rng.random() < args.run_share:
                    commands.append(("run", ["run", str(path)]))
            else:
                path = work / f"h{n}.jsonl"
                path.write_bytes(history_file(rng, kind))
                expect = kind not in MAY_PASS
                commands = [("check", ["check", str(path)])]
            for cmd, argv in commands:
                code, output, took = cli(argv, work)
                t = tallies[(cmd, kind)]
                t.files += 1
                t.codes[code] += 1
                if "Traceback" in output:
                    t.tracebacks += 1
                    if len(examples) < 5:
                        examples.append({"command": cmd, "kind": kind,
                                         "file": path.read_bytes()[:300].decode("latin-1"),
                                         "output": output[-1500:]})
                if code == 2:
                    t.reject_s.append(took)
                if cmd != "check" and (expect is True) != (code == 2):
                    t.disagree += 1
                if cmd == "check" and expect and code != 2:
                    t.disagree += 1  # bad input, by the reader's documented rules
            path.unlink()
            done += 1
    wall = time.perf_counter() - t_start

    cols = ["command", "kind", "files", "exit 0", "exit 1", "exit 2", "other", "tracebacks",
            "disagree", "reject p50 s", "reject max s"]
    print(" | ".join(cols))
    per_cmd: dict[str, Tally] = defaultdict(Tally)
    for (cmd, kind), t in sorted(tallies.items()):
        other = sum(v for c, v in t.codes.items() if c not in (0, 1, 2))
        print(" | ".join(fmt(x) for x in (
            cmd, kind, t.files, t.codes[0], t.codes[1], t.codes[2], other, t.tracebacks,
            t.disagree, pct(t.reject_s, 0.5), max(t.reject_s, default=None))))
        agg = per_cmd[cmd]
        agg.files += t.files
        agg.codes.update(t.codes)
        agg.tracebacks += t.tracebacks
        agg.disagree += t.disagree
        agg.reject_s += t.reject_s
    summary: dict[str, Any] = {"seed": args.seed, "scenario_files": args.n,
                               "history_files": args.histories, "jobs_done": done,
                               "jobs_planned": len(jobs), "wall_s": round(wall, 1),
                               "stopped_early": done < len(jobs), "commands": {}}
    for cmd, t in sorted(per_cmd.items()):
        other = sum(v for c, v in t.codes.items() if c not in (0, 1, 2))
        print(" | ".join(fmt(x) for x in (
            cmd, "ALL", t.files, t.codes[0], t.codes[1], t.codes[2], other, t.tracebacks,
            t.disagree, pct(t.reject_s, 0.5), max(t.reject_s, default=None))))
        summary["commands"][cmd] = {
            "files": t.files, "exit_codes": {str(c): v for c, v in sorted(t.codes.items())},
            "tracebacks": t.tracebacks, "disagree": t.disagree,
            "reject_p50_s": pct(t.reject_s, 0.5), "reject_max_s": max(t.reject_s, default=None),
            "reject_mean_s": statistics.fmean(t.reject_s) if t.reject_s else None}
    tracebacks = sum(t.tracebacks for t in per_cmd.values())
    summary.update(tracebacks=tracebacks, in_process_crashes=dict(crashed_in_process),
                   traceback_examples=examples,
                   kinds={f"{c}:{k}": {"files": t.files,
                                       "exit_codes": {str(x): v for x, v in t.codes.items()},
                                       "tracebacks": t.tracebacks, "disagree": t.disagree}
                          for (c, k), t in sorted(tallies.items())},
                   pass_=tracebacks == 0 and not crashed_in_process)
    summary["pass"] = summary.pop("pass_")
    print(f"{done} of {len(jobs)} files in {wall:.0f} s; tracebacks: {tracebacks}; in-process "
          f"non-ConfigError: {sum(crashed_in_process.values())}: "
          f"{'PASS' if summary['pass'] else 'FAIL'}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
