"""The history format: writer/reader, torn tails, operation pairing, validation."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from types import ModuleType

import pytest

from workloads.history import (
    OP_COLUMNS,
    HistoryWriter,
    event,
    operations,
    pairs,
    read_history,
    to_dataframe,
    validate_pairs,
)


def _ev(process: int, type_: str, f: str = "write", key: str = "k1", value=None, t: int = 0):
    return event(process, type_, f, key, value, "edge-1", time_ns=t)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.jsonl"
    with HistoryWriter(path) as w:
        w.record(0, "invoke", "write", "k1", 7, "edge-1")
        w.record(0, "ok", "write", "k1", 7, "edge-1")
        assert w.count == 2
    events = read_history(path)
    assert [e["type"] for e in events] == ["invoke", "ok"]
    assert events[0]["value"] == 7 and events[0]["node"] == "edge-1"
    assert set(events[0]) == {"process", "type", "f", "key", "value", "node", "time_ns"}
    assert events[0]["time_ns"] <= events[1]["time_ns"]


def test_lines_are_on_disk_before_close(tmp_path: Path) -> None:
    w = HistoryWriter(tmp_path / "h.jsonl")
    w.record(1, "invoke", "read", "k0", None, "edge-2")
    assert len(read_history(tmp_path / "h.jsonl")) == 1  # flushed, not buffered
    w.close()
    with pytest.raises(ValueError):
        w.record(1, "ok", "read", "k0", None, "edge-2")


def test_concurrent_writers_do_not_interleave(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)

    def work(p: int) -> None:
        for i in range(200):
            w.record(p, "invoke", "write", "k1", i, "edge-1")
            w.record(p, "ok", "write", "k1", i, "edge-1")

    threads = [threading.Thread(target=work, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    events = read_history(path)
    assert len(events) == 1600
    validate_pairs(events)


def test_torn_tail_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = [_ev(0, "invoke", t=1), _ev(0, "ok", t=2)]
    text = "".join(json.dumps(e) + "\n" for e in good) + '{"process": 0, "type": "inv'
    path.write_text(text)
    assert read_history(path) == good


def test_bad_middle_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(_ev(0, "invoke")) + "\nnot json\n" + json.dumps(_ev(0, "ok")) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        read_history(path)


def test_operations_pairs_by_process() -> None:
    events = [
        _ev(0, "invoke", "write", "k1", 10, t=1_000_000),
        _ev(1, "invoke", "read", "k1", None, t=2_000_000),
        _ev(0, "ok", "write", "k1", 10, t=4_000_000),
        _ev(1, "ok", "read", "k1", 10, t=5_000_000),
        _ev(2, "invoke", "write", "k2", 20, t=6_000_000),
        _ev(2, "fail", "write", "k2", 20, t=7_000_000),
        _ev(3, "invoke", "write", "k1", 30, t=8_000_000),  # dangling: outcome unknown
    ]
    ops = operations(events)
    assert list(ops.columns) == OP_COLUMNS
    assert len(ops) == 4
    w, r, f, dangling = (ops.iloc[i] for i in range(4))
    assert (w["type"], w["value"], w["latency_ms"]) == ("ok", 10, 3.0)
    assert (r["f"], r["type"], r["value"]) == ("read", "ok", 10)  # completion's value
    assert (f["type"], f["value"]) == ("fail", 20)
    assert dangling["type"] == "info" and dangling["value"] == 30
    assert math.isnan(dangling["end_ns"]) and math.isnan(dangling["latency_ms"])


def test_operations_keeps_int_values_exact() -> None:
    big = 7 * 1_000_000_000 + 123_456_789
    events = [_ev(0, "invoke", "read", t=1), _ev(0, "ok", "read", value=None, t=2),
              _ev(0, "invoke", "read", t=3), _ev(0, "ok", "read", value=big, t=4)]
    ops = operations(events)
    assert ops["value"].iloc[0] is None and ops["value"].iloc[1] == big
    assert isinstance(ops["value"].iloc[1], int)


def test_operations_of_empty_history() -> None:
    ops = operations([])
    assert list(ops.columns) == OP_COLUMNS and len(ops) == 0


def test_to_dataframe_columns() -> None:
    df = to_dataframe([_ev(0, "invoke", t=5)])
    assert list(df.columns) == ["process", "type", "f", "key", "value", "node", "time_ns"]
    assert df["time_ns"].iloc[0] == 5


def test_validate_pairs_catches_double_invoke() -> None:
    events = [_ev(0, "invoke"), _ev(1, "invoke"), _ev(0, "invoke")]
    with pytest.raises(ValueError, match=r"line 3: process 0 .*line 1"):
        validate_pairs(events)


def test_validate_pairs_catches_completion_without_invoke() -> None:
    events = [_ev(0, "invoke"), _ev(0, "ok"), _ev(0, "info")]
    with pytest.raises(ValueError, match="line 3"):
        validate_pairs(events)


def test_validate_pairs_accepts_trailing_open_invoke() -> None:
    validate_pairs([_ev(0, "invoke"), _ev(0, "ok"), _ev(0, "invoke")])


def test_reader_takes_any_spacing_json_takes(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    evs = [_ev(0, "invoke", t=1), _ev(0, "ok", t=2), _ev(1, "invoke", t=3)]
    lines = ["  " + json.dumps(evs[0]), json.dumps(evs[1]) + " \t", "", " \t ",
             json.dumps(evs[2], indent=None, separators=(" , ", " : "))]
    path.write_text("\r\n".join(lines) + "\r\n")
    assert read_history(path) == evs


def test_extra_data_on_a_line_is_an_error_unless_it_is_the_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    one, two = json.dumps(_ev(0, "invoke", t=1)), json.dumps(_ev(0, "ok", t=2))
    path.write_text(f"{one} {two}\n{two}\n")
    with pytest.raises(ValueError, match="line 1 is not valid JSON"):
        read_history(path)
    path.write_text(f"{one}\n{two} {two}\n")
    assert read_history(path) == [_ev(0, "invoke", t=1)]


def test_a_torn_line_followed_by_a_blank_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(_ev(0, "invoke", t=1)) + '\n{"process": 0, "ty\n\n')
    with pytest.raises(ValueError, match="line 2"):
        read_history(path)


def test_pairs_keeps_invoke_order_and_a_reinvoke_leaves_the_first_open() -> None:
    events = [_ev(0, "invoke", t=1), _ev(1, "invoke", t=2), _ev(1, "ok", t=3),
              _ev(0, "invoke", t=4), _ev(0, "ok", t=5)]
    got = pairs(events)
    assert [(i["time_ns"], c and c["time_ns"]) for i, c in got] == [(1, None), (2, 3), (4, 5)]


def _reference_line(process, type_, f, key, value, node, time_ns) -> str:
    return json.dumps(event(process, type_, f, key, value, node, time_ns),
                      separators=(",", ":")) + "\n"


def test_buffered_lines_are_the_same_text_as_json_dumps(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    pool = [None, True, False, 0, 1, 1.0, -3, 2**70, 0.5, "k1", "", "é\u2028\"\\", "1", "null",
            [1, "a"], {"x": [None]}, float("inf")]
    events = [(rng.randrange(100), rng.choice(["invoke", "ok", "fail", "info"]),
               rng.choice(["read", "write", True, 1, "f\"q"]), rng.choice(pool),
               rng.choice(pool), rng.choice([None, "edge-1", "nœud", 1]), rng.randrange(2**63))
              for _ in range(5000)]
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path, buffer_lines=64)
    for ev in events:
        w.append_at(*ev)
    w.close()
    want = "".join(_reference_line(*ev) for ev in events)
    assert path.read_text(encoding="utf-8") == want


def test_the_compiled_encoder_writes_the_same_bytes_and_counts(
        compiled_recorder: ModuleType) -> None:
    """workloads/_native/recorder.c's encode against the pure-Python one: random events, odd
    fields (bools, floats, big ints, non-ASCII, escapes, lists) and whole lines among them."""
    import random

    from workloads import history

    rng = random.Random(11)
    pool = [None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**63, 1.5, "k", "", "a\x7f",
            "tab\t", "é", "\"q\"", [1], {"a": 1}, object]
    events: list = []
    for i in range(4000):
        if i % 97 == 0:
            events.append('{"process":1,"type":"ok","f":"read","key":null,"value":1,'
                          '"node":null,"time_ns":5}\n')
            continue
        events.append((rng.choice([0, 7, True, "p"]), rng.choice(["invoke", "ok", "fail", "x"]),
                       rng.choice(["read", "w\u00ff", 3]), rng.choice(pool), rng.choice(pool),
                       rng.choice([None, "edge-1", "n\n"]), rng.choice([0, 2**64, 12345])))
    want_types = dict.fromkeys(history.TYPES, 0)
    got_types = dict.fromkeys(history.TYPES, 0)
    want = history.encode_batch_python(events, want_types)
    got = compiled_recorder.encode(events, got_types, history.encode_one)
    assert got == want and got_types == want_types and sum(got_types.values()) > 3000


def test_buffered_writer_holds_lines_until_flush_and_counts_by_type(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path, buffer_lines=4)
    w.append(0, "invoke", "write", "k1", 1, "edge-1")
    w.pending.append((0, "ok", "write", "k1", 1, "edge-1", 5))  # the recorder's fast path
    assert path.read_text() == "" and w.count == 2
    assert w.type_counts() == {"invoke": 1, "ok": 1, "fail": 0, "info": 0}
    w.flush()
    assert [e["type"] for e in read_history(path)] == ["invoke", "ok"]
    for i in range(4):  # the fourth pending line writes all four out
        w.append(1, "invoke" if i % 2 == 0 else "info", "read", "k1", None, None)
    assert len(read_history(path)) == 6 and len(w.pending) == 0
    assert w.type_counts() == {"invoke": 3, "ok": 1, "fail": 0, "info": 2}
    w.close()
    with pytest.raises(ValueError):
        w.pending.append((0, "invoke", "read", "k1", None, None, 7))
    with pytest.raises(ValueError):
        w.append(0, "invoke", "read", "k1", None, None)


def test_a_value_json_cannot_encode_is_written_as_its_repr(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, buffer_lines=8) as w:
        w.append(0, "invoke", "write", "k1", object, "edge-1")
        w.append(0, "ok", "write", "k1", 3, "edge-1")
    events = read_history(path)
    assert events[0]["value"] == repr(object) and events[1]["value"] == 3


def test_unbuffered_pending_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)
    w.pending.append((2, "invoke", "read", "k1", None, "edge-1", 9))
    assert read_history(path)[0]["time_ns"] == 9 and len(w.pending) == 0
    assert w.type_counts()["invoke"] == 1
    w.close()
