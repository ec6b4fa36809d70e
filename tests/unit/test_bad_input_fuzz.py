"""Bad input never gives a traceback (issue 13, item 1): the shipped example scenarios,
mutated (a field deleted, a value of the wrong type, NaN/inf, huge and negative numbers, bad
bytes, other encodings, deep nesting, duplicate keys), only ever raise ConfigError from
``load_scenario`` (what every CLI command calls); the mutations known to be invalid always
raise it, as one line that starts with the file's path. The real CLI, run from outside the
checkout, exits 2 without a traceback on bad scenario and history files.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import check_command
from harness.errors import ConfigError
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NAMES = ("three-edge", "certification", "latency-step", "quorum-partition")
EXAMPLES = {n: ROOT / "examples" / f"{n}.yaml" for n in EXAMPLE_NAMES
            if (ROOT / "examples" / f"{n}.yaml").is_file()}
DOCS: dict[str, Any] = {n: yaml.safe_load(p.read_text()) for n, p in EXAMPLES.items()}
EDGEPROOF = str(Path(sys.executable).with_name("edgeproof"))
# examples per mutation kind (x 19 kinds: ~5 s here); more for a longer hunt
PER_KIND = int(os.environ.get("EDGEPROOF_FUZZ_EXAMPLES", "25"))
COUNTS = ("seed", "users", "keys", "workers", "memory_mb", "min_samples")  # whole numbers
DEPTH = 600

FieldPath = tuple[str | int, ...]
Draw = Callable[..., Any]


# ---------------------------------------------------------------- writing YAML


class Raw(str):
    """Scalar text written as it is (``.nan``, ``yes``, ``[[[...]]]``, a 5,000-digit number)."""


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


def scalar(v: Any) -> str:
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
    """A value in flow style: ``{a: 1, b: [x, y]}``."""
    if isinstance(v, dict | Pairs):
        return "{" + ", ".join(f"{_key(k)}: {flow(x)}" for k, x in _items(v)) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return scalar(v)


def _nested(v: Any) -> bool:
    """A non-empty mapping or list (written over several lines in block style)."""
    return isinstance(v, dict | Pairs | list) and len(v) > 0


def block(v: Any, indent: int = 0) -> list[str]:
    """A value in block style, as lines."""
    pad = " " * indent
    if not _nested(v):
        return [pad + flow(v)]
    out: list[str] = []
    if isinstance(v, dict | Pairs):
        for k, x in _items(v):
            if _nested(x):
                out += [f"{pad}{_key(k)}:", *block(x, indent + 2)]
            else:
                out.append(f"{pad}{_key(k)}: {flow(x)}")
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


# ---------------------------------------------------------------- where to mutate


def walk(v: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any]]:
    """Every value of a document with its path (the root's is ``()``)."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, (*path, i))


def is_number(v: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def numbers(doc: Any) -> list[FieldPath]:
    """The paths of a document's numbers."""
    return [p for p, v in walk(doc) if is_number(v)]


def replaced(doc: Any, path: FieldPath, value: Any) -> Any:
    """A copy of ``doc`` with the value at ``path`` replaced."""
    if not path:
        return value
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return out


def deleted(doc: Any, path: FieldPath) -> Any:
    """A copy of ``doc`` without the field (or list item) at ``path``."""
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return out


# ---------------------------------------------------------------- the mutations


def _deep(draw: Draw) -> Raw:
    """A value nested DEPTH levels deep, in flow style."""
    form = draw(st.sampled_from(["list", "map", "mixed"]))
    if form == "list":
        return Raw("[" * DEPTH + "]" * DEPTH)
    if form == "map":
        return Raw("{a: " * DEPTH + "1" + "}" * DEPTH)
    return Raw("[{a: " * (DEPTH // 2) + "1" + "}]" * (DEPTH // 2))


def _at(draw: Draw, paths: list[FieldPath]) -> FieldPath:
    """One of ``paths``."""
    return draw(st.sampled_from(paths))


def _value_mutation(draw: Draw, doc: Any, kind: str) -> Any:
    """The mutated document (data) for a kind that changes one value."""
    nums = numbers(doc)
    if kind == "delete":
        return deleted(doc, _at(draw, [p for p, _ in walk(doc) if p]))
    if kind == "text_for_number":
        text = draw(st.sampled_from(["5", "2.5", "1e3", "many", "", "0x10", "1_000", " 7"]))
        return replaced(doc, _at(draw, nums), text)
    if kind == "bool_for_number":
        return replaced(doc, _at(draw, nums),
                        Raw(draw(st.sampled_from(["true", "false", "yes", "off", "True"]))))
    if kind == "nan":
        return replaced(doc, _at(draw, nums), Raw(draw(st.sampled_from([".nan", ".NaN"]))))
    if kind == "inf":
        return replaced(doc, _at(draw, nums),
                        Raw(draw(st.sampled_from([".inf", "-.inf", "+.inf", ".Inf"]))))
    if kind == "huge_count":
        counts = [p for p in nums if p[-1] in COUNTS]
        return replaced(doc, _at(draw, counts), draw(st.sampled_from([2**64, 10**30, -2**64])))
    if kind == "huge":
        big = draw(st.sampled_from([1e20, 2**64, 1e308, -1e20, 2**63, 10**40]))
        return replaced(doc, _at(draw, nums), big)
    if kind == "negative":
        neg = draw(st.sampled_from([-1, -0.5, -1e9, -0.0, -(2**31)]))
        return replaced(doc, _at(draw, nums), neg)
    if kind == "long_int":  # a whole number Python will not even convert (over 4,300 digits)
        digits = draw(st.sampled_from([101, 4301, 6000]))
        text = draw(st.sampled_from(["9" * digits, "0x" + "f" * digits, "-" + "1" * digits]))
        return replaced(doc, _at(draw, [p for p, _ in walk(doc) if p]), Raw(text))
    if kind == "list_for_mapping":
        maps = [p for p, v in walk(doc) if isinstance(v, dict)]
        at = _at(draw, maps)
        value = doc if not at else dict(walk(doc))[at]
        return replaced(doc, at, draw(st.sampled_from([[], list(value.values()),
                                                       [value]])))
    if kind == "wrong_shape":
        at = _at(draw, [p for p, _ in walk(doc)])
        return replaced(doc, at, draw(st.sampled_from([[], {}, None, [1, 2], {"x": 1}, "x"])))
    if kind == "deep":
        return replaced(doc, _at(draw, [p for p, _ in walk(doc)]), _deep(draw))
    if kind == "unknown_key":  # rich markup in a key must reach the terminal as text
        maps = [p for p, v in walk(doc) if isinstance(v, dict)]
        at = _at(draw, maps)
        target = doc if not at else dict(walk(doc))[at]
        key = draw(st.sampled_from(["[/x]", "[bold]", "[/]", "colour", "seed2", "nodes ", "é"]))
        return replaced(doc, at, {**target, key: draw(st.sampled_from([1, "x", None]))})
    if kind == "duplicate_key":
        maps = [p for p, v in walk(doc) if isinstance(v, dict) and v]
        at = _at(draw, maps)
        target = doc if not at else dict(walk(doc))[at]
        pairs = list(target.items())
        i = draw(st.integers(0, len(pairs) - 1))
        again = draw(st.sampled_from(["same", "other"]))
        value = pairs[i][1] if again == "same" else draw(st.sampled_from([1, "x", None, []]))
        pairs.insert(draw(st.integers(i + 1, len(pairs))), (pairs[i][0], value))
        return replaced(doc, at, Pairs(pairs))
    raise AssertionError(kind)


def _byte_mutation(draw: Draw, text: str, kind: str) -> bytes:
    """The mutated file (bytes) for a kind that changes the file's bytes."""
    raw = text.encode("utf-8")
    at = draw(st.integers(0, len(raw)))
    if kind == "bad_utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc0\xaf",
                                    b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]))
        return raw[:at] + bad + raw[at:]
    if kind == "other_encoding":
        enc = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"]))
        if enc == "latin-1":  # a comment written in Latin-1: byte 0xe9 is not UTF-8
            return ("# réseau du café\n" + text).encode(enc)
        return text.encode(enc)  # utf-16/utf-32 start with a BOM; -le/-be have NUL bytes
    if kind == "control_char":
        ch = draw(st.sampled_from([0x00, 0x01, 0x07, 0x08, 0x0B, 0x0C, 0x1B, 0x7F]))
        return raw[:at] + bytes([ch]) + raw[at:]
    if kind == "truncate":
        return raw[:at]
    if kind == "byte_flip":
        if not raw:
            return raw
        i = min(at, len(raw) - 1)
        return raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1:]
    raise AssertionError(kind)


VALUE_KINDS = ("delete", "text_for_number", "bool_for_number", "nan", "inf", "huge_count",
               "huge", "negative", "long_int", "list_for_mapping", "wrong_shape", "deep",
               "unknown_key", "duplicate_key")
BYTE_KINDS = ("bad_utf8", "other_encoding", "control_char", "truncate", "byte_flip")
# invalid whatever the document and place: ConfigError, one line, starting with the path
MUST_REFUSE = {"text_for_number", "bool_for_number", "nan", "inf", "huge_count", "long_int",
               "deep", "duplicate_key", "bad_utf8", "other_encoding", "control_char",
               "list_for_mapping", "unknown_key"}


def outcome(path: Path) -> ConfigError | None:
    """What ``load_scenario`` (the CLI's loader) makes of the file: None when it loads, the
    ConfigError when it is refused; any other exception fails the test (a traceback)."""
    try:
        load_scenario(path)
    except ConfigError as exc:
        return exc
    except Exception as exc:  # the bug this file hunts
        pytest.fail(f"{path.name}: {type(exc).__name__} instead of ConfigError: {exc!r}"[:2000])
    return None


def assert_readable(exc: ConfigError, path: Path) -> None:
    """Every line of the message names the file first; no traceback, no pydantic."""
    msg = str(exc)
    assert msg, "an empty message"
    for line in msg.splitlines():
        assert line.startswith(f"{path}: "), msg[:2000]
    assert "Traceback" not in msg and "pydantic" not in msg.lower(), msg[:2000]


# ---------------------------------------------------------------- the properties


@pytest.mark.parametrize("style", ["block", "flow"])
@pytest.mark.parametrize("name", sorted(DOCS))
def test_unmutated_examples_load_in_both_styles(tmp_path: Path, name: str, style: str) -> None:
    """The fuzz's starting points are valid as this file writes them."""
    assert len(DOCS) >= 3, "the examples the fuzz starts from"
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump(DOCS[name], style))
    assert outcome(path) is None


@pytest.mark.parametrize("kind", [*VALUE_KINDS, *BYTE_KINDS])
@settings(max_examples=PER_KIND, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_bad_input_is_only_ever_a_config_error(tmp_path_factory: pytest.TempPathFactory,
                                               kind: str, data: st.DataObject) -> None:
    """A mutated example is loaded or refused with ConfigError, never anything else; a
    mutation known to be invalid is always refused, in one line that starts with the path."""
    name = data.draw(st.sampled_from(sorted(DOCS)), label="example")
    style = data.draw(st.sampled_from(["block", "flow"]), label="style")
    doc = DOCS[name]
    if kind in VALUE_KINDS:
        body = dump(_value_mutation(data.draw, doc, kind), style).encode("utf-8")
    else:
        body = _byte_mutation(data.draw, dump(doc, style), kind)
    path = tmp_path_factory.mktemp(kind) / f"{name}.yaml"
    path.write_bytes(body)
    exc = outcome(path)
    if kind in MUST_REFUSE:
        assert exc is not None, f"{kind} was accepted: {body[:3000]!r}"
        assert "\n" not in str(exc), f"one problem, one line: {exc}"[:2000]
        assert exc.path == str(path)
    if exc is not None:
        assert_readable(exc, path)


# ---------------------------------------------------------------- the real CLI


def _cli(args: list[str], cwd: Path, entry: str = "console") -> subprocess.CompletedProcess[str]:
    """Run edgeproof from ``cwd`` (outside the checkout): the console script, or the full
    CLI (harness.cli:main) that the console script hands everything but ``check FILE``."""
    cmd = [EDGEPROOF, *args] if entry == "console" else [
        sys.executable, "-c", "from harness.cli import main; main()", *args]
    env = {**os.environ, "EDGEPROOF_STATE_DIR": str(cwd / "state"), "NO_COLOR": "1",
           "COLUMNS": "200"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          errors="replace", timeout=120)


def _assert_exit_2(res: subprocess.CompletedProcess[str], path: Path) -> None:
    both = res.stdout + res.stderr
    assert "Traceback" not in both, both[-3000:]
    assert res.returncode == 2, (res.returncode, both[-3000:])
    assert res.stderr.startswith(f"error: {path}: "), res.stderr[:2000]
    assert res.stderr.strip().count("\n") == 0, f"one paragraph: {res.stderr[:2000]}"


def test_cli_refuses_bad_scenarios_with_exit_2(tmp_path: Path) -> None:
    """`edgeproof predict` (load and validate, nothing started: the CLI has no separate
    validate command) and `edgeproof run`: exit 2, one paragraph, no traceback."""
    text = EXAMPLES["three-edge"].read_text()
    bad = {
        "not-utf8.yaml": text.encode().replace(b"seed: 7", b"seed: 7\xff"),
        "deep.yaml": text.replace("seed: 7", "seed: " + "[" * DEPTH + "]" * DEPTH).encode(),
        "duplicate.yaml": text.replace("seed: 7", "seed: 7\nseed: 8").encode(),
        "long-int.yaml": text.replace("seed: 7", "seed: " + "9" * 5000).encode(),
        "markup.yaml": text.replace("seed: 7", '"[/x]": 7').encode(),  # rich markup, as text
    }
    for name, body in bad.items():
        path = tmp_path / name
        path.write_bytes(body)
        res = _cli(["predict", str(path)], tmp_path)
        _assert_exit_2(res, path)
        if name == "markup.yaml":
            assert "unknown field '[/x]'" in res.stderr, res.stderr
    path = tmp_path / "not-utf8.yaml"
    assert outcome(path) is not None  # refused in-process first: `run` never starts a testbed
    _assert_exit_2(_cli(["run", str(path)], tmp_path), path)


def _event(process: int, type_: str, f: str, value: Any, t: int) -> str:
    """One history line."""
    return json.dumps({"process": process, "type": type_, "f": f, "key": "k", "value": value,
                       "node": "edge-1", "time_ns": t})


GOOD_HISTORY = [_event(0, "invoke", "write", 1, 1000), _event(0, "ok", "write", 1, 2000),
                _event(1, "invoke", "read", None, 3000), _event(1, "ok", "read", 1, 4000)]


def _history(lines: list[str]) -> bytes:
    """A history file of ``lines``."""
    return ("\n".join(lines) + "\n").encode()


BAD_HISTORIES: dict[str, bytes] = {
    "not-utf8": _history(GOOD_HISTORY[:2]).replace(b'"edge-1"', b'"edge-\xff"', 1)
    + _history(GOOD_HISTORY[2:]),
    "utf16": _history(GOOD_HISTORY).decode().encode("utf-16"),
    "torn-middle": _history([GOOD_HISTORY[0], GOOD_HISTORY[1][:25], *GOOD_HISTORY[2:]]),
    "deep-1000": _history([GOOD_HISTORY[0].replace('"value": 1', '"value": '
                                                   + "[" * 1000 + "]" * 1000),
                           *GOOD_HISTORY[1:]]),
    "deep-100000": _history(["[" * 100_000, *GOOD_HISTORY]),
    "not-an-object": _history([*GOOD_HISTORY[:2], "[1, 2]", *GOOD_HISTORY[2:]]),
    "a-number": _history(["42", *GOOD_HISTORY]),
    "process-a-list": _history([e.replace('"process": 0', '"process": [0]')
                                for e in GOOD_HISTORY]),
    # the compiled core takes it; the witness of the violation used to be re-read in Python
    "long-int": _history([_event(0, "invoke", "write", 1, 1000),
                          _event(0, "ok", "write", 1, 2000),
                          _event(1, "invoke", "read", None, 3000),
                          _event(1, "ok", "read", 1, 4000).replace(
                              '"value": 1', '"value": ' + "9" * 5000)]),
}


@pytest.mark.parametrize("case", sorted(BAD_HISTORIES))
def test_bad_history_is_a_config_error(tmp_path: Path, case: str) -> None:
    """In-process, the check command's loader refuses each broken history with ConfigError,
    one line that names the file and the line."""
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(BAD_HISTORIES[case])
    with pytest.raises(ConfigError) as info:
        check_command.run_check(str(path), "linearizable", 5.0)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith(f"{path}: line "), msg[:2000]


@pytest.mark.parametrize("entry", ["console", "full"])
def test_cli_check_refuses_bad_histories_with_exit_2(tmp_path: Path, entry: str) -> None:
    """`edgeproof check FILE` on broken histories: exit 2 (bad input, as the CLI documents),
    one paragraph, no traceback; a torn last line is dropped (the writer died mid-line)."""
    cases = sorted(BAD_HISTORIES) if entry == "console" else [
        "deep-1000", "long-int", "not-utf8", "process-a-list", "torn-middle"]
    for case in cases:
        path = tmp_path / f"{case}.jsonl"
        path.write_bytes(BAD_HISTORIES[case])
        res = _cli(["check", str(path)], tmp_path, entry)
        both = res.stdout + res.stderr
        assert "Traceback" not in both, (case, both[-3000:])
        assert res.returncode == 2, (case, res.returncode, both[-3000:])
        assert res.stderr.startswith("error: ") and res.stderr.strip().count("\n") == 0, \
            (case, res.stderr[:2000])
    torn_last = tmp_path / "torn-last.jsonl"
    torn_last.write_bytes(_history([*GOOD_HISTORY, GOOD_HISTORY[0][:30]]))
    res = _cli(["check", str(torn_last)], tmp_path, entry)
    assert "Traceback" not in res.stdout + res.stderr
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
