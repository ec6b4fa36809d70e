"""The operation history: append-only JSONL, one event per line (the README's run directory).

An event is ``{"process", "type", "f", "key", "value", "node", "time_ns"}`` where ``type`` is
``invoke`` or a completion (``ok``, ``fail``, ``info`` = outcome unknown) and ``time_ns`` is
``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by every process of the machine).

This module must not import locust (nor pandas at import time: the load process imports it
before gevent's monkey-patching is complete).
"""

from __future__ import annotations

import collections
import functools
import heapq
import json
import logging
import operator
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workloads import native

if TYPE_CHECKING:
    import pandas as pd  # cost: frames only when asked for (see the module docstring)

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = ("ok", "fail", "info")
FUNCTIONS = ("read", "write", "cas", "ingest", "send", "recv")
FIELDS = ("process", "type", "f", "key", "value", "node", "time_ns")
log = logging.getLogger("edgeproof.history")
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


_JSON_OF: dict[Any, str] = {None: "null"}  # JSON of None and of recurring strings
_CACHED_MAX = 65_536


def _enc(v: Any) -> str:
    """JSON of one field value (strings are cached: functions, keys and nodes recur)."""
    t = type(v)
    if t is int:
        return str(v)
    if t is str:
        out = _JSON_OF.get(v)
        if out is None:
            out = json.dumps(v)
            if len(_JSON_OF) < _CACHED_MAX:
                _JSON_OF[v] = out
        return out
    if v is None:
        return "null"
    return json.dumps(v, separators=(",", ":"))


def event_line(process: int, type_: str, f: str, key: Any, value: Any, node: str | None,
               time_ns: int) -> bytes:
    """One event as its JSONL line (same text as ``json.dumps`` of :func:`event` with
    compact separators)."""
    return _line(process, type_, f, key, value, node, time_ns).encode()


def _line(process: int, type_: str, f: str, key: Any, value: Any, node: str | None,
          time_ns: int) -> str:
    """:func:`event_line` as text. The common fields (None, a string seen before) are one
    dict look-up each: only None and ``str`` keys are cached, so ``True``, ``1`` or ``1.0``
    never hit."""
    get = _JSON_OF.get
    try:
        fj, kj, vj, nj = get(f), get(key), get(value), get(node)
    except TypeError:  # an unhashable value (a list, a dict): encoded below
        fj = kj = vj = nj = None
    return (f'{{"process":{process if type(process) is int else _enc(process)},'
            f'"type":"{type_}","f":{fj or _enc(f)},"key":{kj or _enc(key)},'
            f'"value":{vj or _enc(value)},"node":{nj or _enc(node)},'
            f'"time_ns":{time_ns}}}\n')


Event = tuple[int, str, str, Any, Any, "str | None", int]  # (process, type, f, key, value,
# node, time_ns): an event as a buffered writer keeps it until it is written out


class EventSink(Protocol):
    """What :attr:`HistoryWriter.pending` is: events (or whole lines) are appended to it."""

    def append(self, ev: Event | str, /) -> None: ...

    def __len__(self) -> int: ...


class HistoryWriter:
    """Append-only JSONL writer to a file opened with O_APPEND.

    Unbuffered (the default), each event is one ``write(2)`` of one whole line as it is
    appended, so a crash loses at most the line being written and lines of concurrent writers
    (threads, greenlets) never interleave. With ``buffer_lines > 0`` (the load process, where
    two system calls and two lines of text per operation were the larger part of the
    recorder's cost) events collect in memory as tuples (:data:`Event`) and are encoded and
    written out whole, in order, in one ``write(2)`` once ``buffer_lines`` are pending and on
    :meth:`flush` and :meth:`close`: a crash (SIGKILL) then loses at most the events not yet
    flushed, and what is on disk is still the history up to a line boundary (at worst a torn
    last line, which :func:`read_history` drops). A buffered writer is for one thread (any
    number of greenlets in it).

    The fast path (the recorder, the load process): append an :data:`Event` to
    :attr:`pending` (read it anew each time: a closed writer's raises ValueError) and call
    :meth:`flush` once ``len(pending) >= buffer_lines``. The text is the same as
    :func:`event_line`'s."""

    def __init__(self, path: str | Path, buffer_lines: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self.buffer_lines = max(0, buffer_lines)
        self.buffered = buffer_lines > 0
        self.pending: EventSink = [] if self.buffered else _Direct(self)
        self._written = 0  # events written out (the buffered ones are in pending)
        self._types = dict.fromkeys(TYPES, 0)  # events written out, by type

    @property
    def count(self) -> int:
        """Events appended so far (written or buffered)."""
        return self._written + len(self.pending)

    def type_counts(self) -> dict[str, int]:
        """Events appended so far (written or buffered) by type (``invoke``, ``ok``, ...)."""
        counts = dict(self._types)
        pending = self.pending
        if isinstance(pending, list):
            for ev in pending:
                t = ev[1] if type(ev) is tuple else _type_of_line(ev)
                if t in counts:
                    counts[t] += 1
        return counts

    def _put(self, line: bytes, type_: str | None) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError(f"{self.path}: history writer is closed")
        os.write(fd, line)
        self._written += 1
        if type_ in self._types:
            self._types[type_] += 1

    def flush(self) -> None:
        """Encode and write the buffered events out (a no-op when unbuffered or nothing is
        pending). A value that JSON cannot encode is written as its ``repr`` (and logged)."""
        buf, fd = self.pending, self._fd
        if not buf or fd is None or not isinstance(buf, list):
            return
        self.pending = []
        data = encode_batch(buf, self._types)
        self._written += len(buf)
        _write_all(fd, data)

    def write(self, ev: dict[str, Any]) -> None:
        """Append one event (any dict) as one line."""
        line = json.dumps(ev, separators=(",", ":")) + "\n"
        if not self.buffered:
            self._put(line.encode(), ev.get("type"))
        else:
            self._buffer(line)

    def _buffer(self, ev: Event | str) -> None:
        pending = self.pending
        pending.append(ev)  # raises once closed
        if len(pending) >= self.buffer_lines:
            self.flush()

    def append(self, process: int, type_: str, f: str, key: Any, value: Any,
               node: str | None) -> int:
        """Append an event stamped now; return its ``time_ns``."""
        if type_ not in TYPES:
            raise ValueError(f"event type {type_!r}: must be one of {', '.join(TYPES)}")
        now = time.monotonic_ns()
        self._buffer((process, type_, f, key, value, node, now))
        return now

    def append_at(self, process: int, type_: str, f: str, key: Any, value: Any,
                  node: str | None, time_ns: int) -> None:
        """Append an event stamped ``time_ns`` (an operation recorded after the fact)."""
        if type_ not in TYPES:
            raise ValueError(f"event type {type_!r}: must be one of {', '.join(TYPES)}")
        self._buffer((process, type_, f, key, value, node, time_ns))

    def record(
        self, process: int, type_: str, f: str, key: str | None, value: Any, node: str | None
    ) -> dict[str, Any]:
        """Build an event stamped now, append it and return it."""
        now = self.append(process, type_, f, key, value, node)
        return event(process, type_, f, key, value, node, now)

    def close(self) -> None:
        """Flush and close; further writes raise."""
        with self._lock:
            if self._fd is not None:
                try:
                    self.flush()
                finally:
                    os.close(self._fd)
                    self._fd = None
                    self.pending = _CLOSED

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Direct:
    """:attr:`HistoryWriter.pending` of an unbuffered writer: each event is written out as
    it is appended (one ``write(2)`` of one line); never holds any."""

    __slots__ = ("writer",)

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer

    def append(self, ev: Event | str, /) -> None:
        if type(ev) is str:
            self.writer._put(ev.encode(), _type_of_line(ev))
        else:
            self.writer._put(_line(*ev).encode(), ev[1])

    def __len__(self) -> int:
        return 0


class _Closed:
    """:attr:`HistoryWriter.pending` once the writer is closed: appending raises."""

    def append(self, ev: Event | str, /) -> None:
        raise ValueError("history writer is closed")

    def __len__(self) -> int:
        return 0


_CLOSED = _Closed()


def _type_of_line(line: str) -> str | None:
    try:
        return json.loads(line).get("type")
    except (ValueError, AttributeError):
        return None


_HEAD: dict[tuple[int, str, str, Any], str] = {}  # (process, type, f, key) -> the line's
# text up to the value: '{"process":P,"type":"T","f":F,"key":K,"value":' (str/None f and key)
_TAIL: dict[Any, str] = {}  # node -> ',"node":N,"time_ns":'
_type_at = operator.itemgetter(1)


def _encode(events: list[Event | str], types: dict[str, int]) -> str:
    """The JSONL text of buffered events (a whole line passes as it is), counting them by
    type into ``types``; each line the same text as :func:`event_line`."""
    get, head_of, tail_of = _JSON_OF.get, _HEAD.get, _TAIL.get
    out: list[str] = []
    add = out.append
    for ev in events:
        if type(ev) is str:
            add(ev)
            t = _type_of_line(ev)
            if t in types:
                types[t] += 1
            continue
        p, t, f, k, v, n, ts = ev
        try:
            head, vj, tail = head_of(ev[:4]), get(v), tail_of(n)
        except TypeError:  # an unhashable key, value or node: encoded below
            head = vj = tail = None
        try:
            if head is None or type(p) is not int:  # (True, ...) == (1, ...): not the same text
                head = _head(p, t, f, k)
            if vj is None:
                vj = str(v) if type(v) is int else _enc(v)
            if tail is None:
                tail = _tail(n)
            add(f"{head}{vj}{tail}{ts}}}\n")
        except (TypeError, ValueError) as exc:  # not JSON: the repr, never a lost event
            log.warning("history: event of process %s not JSON (%s); its repr is written",
                        p, exc)
            add(json.dumps(event(p, t, f, k, v, n, ts), separators=(",", ":"),
                           default=repr) + "\n")
    for t, c in collections.Counter(map(_type_at, events)).items():
        if t in types:  # (a whole line's second character is no type)
            types[t] += c
    return "".join(out)


def encode_one(ev: Event | str, types: dict[str, int]) -> str:
    """One buffered event's line by :func:`_encode` (the compiled encoder's fallback for a
    whole line or an event with a field it does not write itself), counted into ``types``."""
    return _encode([ev], types)


def encode_batch_python(events: list[Event | str], types: dict[str, int]) -> bytes:
    return _encode(events, types).encode()


def encode_batch(events: list[Event | str], types: dict[str, int]) -> bytes:
    """The JSONL bytes of buffered events, counted by type into ``types``: compiled
    (workloads/native.py, the same bytes) where it is built, else :func:`_encode`. The
    choice is made at the first flush, so importing this module loads no extension."""
    return _encoder()(events, types)


@functools.cache
def _encoder() -> Callable[[list[Any], dict[str, int]], bytes]:
    mod = native.module()
    if mod is None:
        return encode_batch_python
    enc = mod.encode
    return lambda events, types: enc(events, types, encode_one)


def _head(p: Any, t: str, f: Any, k: Any) -> str:
    s = (f'{{"process":{p if type(p) is int else _enc(p)},"type":"{t}","f":{_enc(f)},'
         f'"key":{_enc(k)},"value":')
    if (type(p) is int and type(f) is str and (k is None or type(k) is str)
            and len(_HEAD) < _CACHED_MAX):
        _HEAD[(p, t, f, k)] = s  # only int/str/None: True, 1 and 1.0 are equal keys
    return s


def _tail(n: Any) -> str:
    s = f',"node":{_enc(n)},"time_ns":'
    if (n is None or type(n) is str) and len(_TAIL) < _CACHED_MAX:
        _TAIL[n] = s
    return s


def _write_all(fd: int, data: bytes) -> None:
    """``write(2)`` until all of ``data`` is out (a regular file may take less at a time)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a history file; a torn (unparsable) last line is dropped, any other bad line raises
    ValueError naming the file and line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    raw = _DECODER.raw_decode
    events: list[dict[str, Any]] = []
    append = events.append
    last = len(lines)
    for i, line in enumerate(lines, start=1):
        try:  # the fast path: a line that is exactly one JSON value
            ev, end = raw(line)
            if end != len(line):
                ev = _loads_line(path, line, i, last)
        except (ValueError, RecursionError):  # not JSON, nested too deep, a 5,000-digit number
            ev = _loads_line(path, line, i, last)
        if type(ev) is not dict or "process" not in ev or ev.get("type") not in TYPES:
            if ev is _SKIP:
                continue
            if ev is _TORN:
                break
            raise ValueError(
                f"{path}: line {i} is not a history event (needs 'process' and a 'type' "
                f"of {', '.join(TYPES)})"
            )
        append(ev)
    return events


_DECODER = json.JSONDecoder()
_SKIP, _TORN = object(), object()  # a blank line; a torn last line


def _loads_line(path: str | Path, line: str, i: int, last: int) -> Any:
    """``json.loads`` of one line with the reader's rules: blank lines are skipped, a torn
    last line is dropped (the writer died mid-line), any other bad line raises."""
    if not line.strip():
        return _SKIP
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        if i == last:
            return _TORN
        raise ValueError(f"{path}: line {i} is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError(f"{path}: line {i} is nested too deep to read (an event is one flat "
                         "JSON object)") from None
    except ValueError as exc:  # JSON that Python will not build: an over-4,300-digit number
        raise ValueError(f"{path}: line {i} cannot be read ({exc})") from None


def to_dataframe(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The events as a DataFrame with the history columns, in file order."""
    import pandas as pd  # cost: frames only when asked for (see the module docstring)

    rows = list(events)
    df = pd.DataFrame(rows, columns=list(FIELDS))
    df["value"] = pd.Series([r.get("value") for r in rows], dtype=object)
    return df


def pairs(
    events: Iterable[dict[str, Any]], strict: bool = False
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(invoke, completion or None) per operation, in invoke order: each invoke paired with its
    process's next completion; in strict mode a bad pairing raises ValueError naming the line.
    Pure Python (no pandas), for readers that need no frame."""
    open_: dict[Any, tuple[int, int]] = {}  # process -> (line, index in order)
    order: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for line, ev in enumerate(events, start=1):
        proc = ev["process"]
        if ev["type"] == "invoke":
            if strict and proc in open_:
                raise ValueError(
                    f"line {line}: process {proc} invokes again while its invoke on line "
                    f"{open_[proc][0]} has no completion"
                )
            open_[proc] = (line, len(order))
            order.append((ev, None))
            continue
        got = open_.pop(proc, None)
        if got is not None:
            order[got[1]] = (order[got[1]][0], ev)
        elif strict:
            raise ValueError(
                f"line {line}: process {proc} completes ({ev['type']}) without an open invoke"
            )
    return order


def validate_pairs(events: Iterable[dict[str, Any]]) -> None:
    """Raise ValueError naming the line if a process invokes twice without a completion in
    between, or completes without an invoke. A trailing open invoke is allowed."""
    pairs(events, strict=True)


def operations(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per operation: each invoke paired with its process's next completion.

    ``value`` is the completion's for reads, the invoke's otherwise; an invoke with no
    completion becomes ``info`` with ``end_ns`` and ``latency_ms`` NaN.
    """
    import pandas as pd  # cost: frames only when asked for (see the module docstring)

    rows = []
    for inv, comp in pairs(events, strict=False):
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


WINDOW_COLUMNS = [
    "second", "ops", "ok", "fail", "info", "throughput_rps", "error_rate",
    "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
]


def windows(ops: pd.DataFrame, t0_ns: int, width_s: float = 1.0) -> pd.DataFrame:
    """Per-window (default per-second) figures of an :func:`operations` frame, windows counted
    from ``t0_ns``: completions, throughput, error rate (fail + info over all) and latency
    quantiles of the ``ok`` operations. An operation falls in the window of its completion
    (of its invoke if it never completed); empty windows in between are rows of zeros/NaN."""
    import pandas as pd  # cost: frames only when asked for (see the module docstring)

    if len(ops) == 0:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    at = ops["end_ns"].fillna(ops["start_ns"].astype("float64"))
    sec = ((at - t0_ns) // (width_s * 1e9)).astype("int64")
    df = ops.assign(second=sec)
    counts = pd.crosstab(df["second"], df["type"]).reindex(columns=list(COMPLETIONS),
                                                            fill_value=0)
    lat = df[df["type"] == "ok"].groupby("second")["latency_ms"]
    out = pd.DataFrame({"ops": counts.sum(axis=1), **{t: counts[t] for t in COMPLETIONS}})
    out["throughput_rps"] = out["ops"] / width_s
    out["error_rate"] = (out["fail"] + out["info"]) / out["ops"]
    out["latency_mean_ms"] = lat.mean()
    for q in (50, 95, 99):
        out[f"latency_p{q}_ms"] = lat.quantile(q / 100)
    full = range(int(sec.min()), int(sec.max()) + 1)
    out = out.reindex(full)
    out[["ops", *COMPLETIONS, "throughput_rps"]] = out[
        ["ops", *COMPLETIONS, "throughput_rps"]].fillna(0)
    out = out.astype({c: "int64" for c in ("ops", *COMPLETIONS)})
    return out.rename_axis("second").reset_index()[WINDOW_COLUMNS]


def merge_parts(parts: Iterable[str | Path], out: str | Path,
                offsets_ns: Sequence[int] | None = None) -> dict[str, int]:
    """Merge history parts (each in time order, as a writer leaves them) into one file in
    ``time_ns`` order, keeping each part's order among equal times; torn tails are dropped.
    ``offsets_ns[i]`` is added to every time of part i (its clock aligned with the others').
    Processes must already be distinct across parts. Returns the counts per type."""
    streams: list[Iterable[dict[str, Any]]] = [read_history(p) for p in parts]
    if offsets_ns is not None:
        streams = [_shifted(s, int(o)) if o else s
                   for s, o in zip(streams, offsets_ns, strict=True)]
    counts = dict.fromkeys(TYPES, 0)
    with HistoryWriter(out) as w:
        for ev in heapq.merge(*streams, key=lambda e: e["time_ns"]):
            w.write(ev)
            counts[ev["type"]] += 1
    return counts


def _shifted(events: Iterable[dict[str, Any]], offset_ns: int) -> Iterator[dict[str, Any]]:
    for e in events:
        yield {**e, "time_ns": e["time_ns"] + offset_ns}
