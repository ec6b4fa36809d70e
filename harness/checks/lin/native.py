"""The compiled core of the checker (``_native/lincheck.c``), through ctypes.

Why: reading and checking a large history in CPython costs seconds and ~200 bytes of objects
per operation; the core reads, pairs and checks it in flat arrays, with the same algorithms
step for step (same verdicts, same step counts). It is optional: without the built library
(``scripts/setup.sh`` builds it; ``python -m harness.checks.lin.native build`` does it by
hand), with a library older than its source, or with ``EDGEPROOF_LIN_NATIVE=0``, every
caller uses the pure-Python modules instead.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from harness.checks.lin.ops import INF, Op, freeze, op_of_pair

HERE = Path(__file__).resolve().parent / "_native"
SOURCE = HERE / "lincheck.c"
LIBRARY = HERE / "liblincheck.so"
ABI = 1
CFLAGS = ("-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-shared", "-fPIC")
VERDICTS = ("pass", "fail", "unknown")
ALGORITHMS = ("read-mapping", "wgl")
F_CODES = {"read": 0, "write": 1, "cas": 2}
INT64_MAX = 2**63 - 1
NULL_ID = 1

_P, _I64, _U8 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint8
_I64P = ctypes.POINTER(ctypes.c_int64)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "lc_abi": (ctypes.c_int, []),
    "lc_load": (_P, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), _I64P]),
    "lc_free": (None, [_P]),
    "lc_n_ops": (_I64, [_P]),
    "lc_n_keys": (_I64, [_P]),
    "lc_n_events": (_I64, [_P]),
    "lc_values_recorded": (ctypes.c_int32, [_P]),
    "lc_key_text": (_I64, [_P, _I64, ctypes.c_char_p, _I64]),
    "lc_key_size": (_I64, [_P, _I64]),
    "lc_key_ops": (_I64, [_P, _I64, _P, _P, _P]),
    "lc_check_key": (ctypes.c_int, [_P, _I64, ctypes.c_double, _I64, _P,
                                    ctypes.POINTER(ctypes.c_double)]),
    "lc_wgl": (ctypes.c_int, [_I64, _P, _P, _P, _P, _P, _P, ctypes.c_double, _I64, _I64P]),
    "lc_read_mapping": (ctypes.c_int, [_I64, _P, _P, _P, _P, _P]),
}


def build(out: Path = LIBRARY, cc: str = "gcc") -> Path:
    """Compile the core to ``out`` (atomically: a concurrent reader never sees half a file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".liblincheck-", suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *CFLAGS, "-o", tmp, str(SOURCE)], check=True)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def fresh(path: Path = LIBRARY) -> bool:
    """True when the library exists and is not older than its source."""
    return path.is_file() and (not SOURCE.exists()
                               or path.stat().st_mtime >= SOURCE.stat().st_mtime)


def load_library(path: Path) -> ctypes.CDLL | None:
    """The library at ``path`` with its signatures declared, or None if it does not load."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is None:
            return None
        fn.restype, fn.argtypes = res, args
    return lib if lib.lc_abi() == ABI else None


@cache
def library() -> ctypes.CDLL | None:
    """The built core, or None (not built, stale, disabled by EDGEPROOF_LIN_NATIVE=0)."""
    if os.environ.get("EDGEPROOF_LIN_NATIVE", "1") == "0" or not fresh(LIBRARY):
        return None
    return load_library(LIBRARY)


def available() -> bool:
    """Whether checks run on the compiled core."""
    return library() is not None


# ------------------------------------------------------------------ a history file


class NativeHistory:
    """A history file read, paired and grouped per key by the core (freed on close)."""

    def __init__(self, lib: ctypes.CDLL, handle: int, path: Path) -> None:
        self.lib, self.handle, self.path = lib, handle, path
        self.events = lib.lc_n_events(handle)  # lines read as events
        self.ops = lib.lc_n_ops(handle)  # the register operations the checker uses
        self.keys = lib.lc_n_keys(handle)
        self.values_recorded = bool(lib.lc_values_recorded(handle))

    def key(self, k: int) -> Any:
        """Key number ``k`` as the Python reader gives it (frozen)."""
        buf = ctypes.create_string_buffer(256)
        n = self.lib.lc_key_text(self.handle, k, buf, 256)
        if n > 256:
            buf = ctypes.create_string_buffer(n)
            self.lib.lc_key_text(self.handle, k, buf, n)
        return freeze(json.loads(buf.raw[:n]))

    def check_key(self, k: int, budget_s: float | None, max_steps: int | None
                  ) -> tuple[str, str, int, int, float]:
        """(verdict, algorithm, ops, steps, seconds) of key ``k``."""
        out = (ctypes.c_int64 * 4)()
        el = ctypes.c_double()
        if self.lib.lc_check_key(self.handle, k, budget_s or 0.0,
                                 -1 if max_steps is None else max_steps, out, el):
            raise MemoryError(f"{self.path}: out of memory checking key {self.key(k)}")
        return VERDICTS[out[0]], ALGORITHMS[out[1]], out[2], out[3], el.value

    def key_ops(self, k: int) -> list[Op]:
        """The ops of key ``k`` as :func:`ops.ops_from_events` builds them (lines re-read)."""
        n = self.lib.lc_key_size(self.handle, k)
        inv, comp, pair = (array("q", bytes(8 * n)) for _ in range(3))
        self.lib.lc_key_ops(self.handle, k, _addr(inv), _addr(comp), _addr(pair))
        with self.path.open("rb") as fh:
            fd = fh.fileno()
            return [op_of_pair(p, _line_at(fd, a), _line_at(fd, b) if b >= 0 else None)
                    for a, b, p in zip(inv, comp, pair, strict=True)]

    def observed(self) -> bool:
        """Whether any register operation completed ok (its completion lines are read until
        one is: usually the first)."""
        with self.path.open("rb") as fh:
            fd = fh.fileno()
            for k in range(self.keys):
                n = self.lib.lc_key_size(self.handle, k)
                inv, comp, pair = (array("q", bytes(8 * n)) for _ in range(3))
                self.lib.lc_key_ops(self.handle, k, _addr(inv), _addr(comp), _addr(pair))
                if any(b >= 0 and _line_at(fd, b).get("type") == "ok" for b in comp):
                    return True
        return False

    def close(self) -> None:
        if self.handle:
            self.lib.lc_free(self.handle)
            self.handle = 0

    def __enter__(self) -> NativeHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _addr(buf: array) -> int:
    return buf.buffer_info()[0]


def _line_at(fd: int, offset: int) -> dict[str, Any]:
    """The event on the line starting at byte ``offset``."""
    chunk = b""
    while b"\n" not in chunk:
        more = os.pread(fd, 4096, offset + len(chunk))
        if not more:
            break
        chunk += more
    return json.loads(chunk.split(b"\n", 1)[0])


def load_history(path: str | Path, lib: ctypes.CDLL | None = None) -> NativeHistory | None:
    """The history read by the core (``lib``, default the built one); None when there is no
    core or the file needs the Python reader (a bad line, a pairing error, values the core
    does not model exactly)."""
    lib = lib or library()
    if lib is None:
        return None
    status, line = ctypes.c_int(), ctypes.c_int64()
    handle = lib.lc_load(os.fsencode(path), ctypes.byref(status), ctypes.byref(line))
    return NativeHistory(lib, handle, Path(path)) if handle else None


# ------------------------------------------------------------------ ops from Python


class _Unsupported(Exception):
    """Ops the core cannot model exactly (times beyond int64, float times, NaN values)."""


def _arrays(ops: Sequence[Op]) -> tuple[bytes, bytes, array, array, array, array]:
    """One key's ops as the core's arrays; equal values (Python's ==) share one id."""
    ids: dict[Any, int] = {None: NULL_ID}

    def vid(v: Any) -> int:
        got = ids.get(v)
        if got is None:
            if v != v:  # NaN: equal to itself as a dict key, not under ==
                raise _Unsupported
            got = ids[v] = len(ids) + 1
        return got

    ends = [o.end for o in ops]
    if INT64_MAX in ends or -INT64_MAX - 1 in ends:  # the core's infinities
        raise _Unsupported
    try:
        start = array("q", [o.start for o in ops])
        end = array("q", [INT64_MAX if e == INF else e for e in ends])
    except (TypeError, OverflowError):
        raise _Unsupported from None
    if ops and (max(start) == INT64_MAX or min(start) == -INT64_MAX - 1):
        raise _Unsupported
    cas = [o.f == "cas" for o in ops]
    v0 = array("q", [vid(o.value[0] if c else o.value) for o, c in zip(ops, cas, strict=True)])
    v1 = array("q", [vid(o.value[1]) if c else NULL_ID for o, c in zip(ops, cas, strict=True)])
    f = bytes(F_CODES[o.f] for o in ops)
    ok = bytes(o.type == "ok" for o in ops)
    return f, ok, start, end, v0, v1


def wgl(ops: Sequence[Op], *, max_steps: int | None = None, timeout_s: float | None = None,
        lib: ctypes.CDLL | None = None) -> tuple[str, int] | None:
    """:func:`wgl.wgl_check` on the core (same verdict and steps), or None without one."""
    lib = lib or library()
    if lib is None:
        return None
    try:
        f, ok, start, end, v0, v1 = _arrays(ops)
    except _Unsupported:
        return None
    steps = ctypes.c_int64()
    r = lib.lc_wgl(len(ops), f, ok, _addr(start), _addr(end), _addr(v0), _addr(v1),
                   timeout_s or 0.0, -1 if max_steps is None else max_steps,
                   ctypes.byref(steps))
    if r < 0:
        raise MemoryError("out of memory in the linearizability search")
    return VERDICTS[r], steps.value


def read_mapping_holds(ops: Sequence[Op], lib: ctypes.CDLL | None = None) -> bool | None:
    """Whether :func:`mapping.read_mapping_check` finds no conflict, on the core; None
    without one."""
    lib = lib or library()
    if lib is None:
        return None
    try:
        f, ok, start, end, v0, _ = _arrays(ops)
    except _Unsupported:
        return None
    r = lib.lc_read_mapping(len(ops), f, ok, _addr(start), _addr(end), _addr(v0))
    if r < 0:
        raise MemoryError("out of memory in the read-mapping check")
    return r == 0


def main(argv: list[str]) -> int:
    """``python -m harness.checks.lin.native build [--if-stale]``: compile the core."""
    if not argv or argv[0] != "build":
        print("usage: python -m harness.checks.lin.native build [--if-stale]", file=sys.stderr)
        return 2
    if "--if-stale" in argv and fresh(LIBRARY) and load_library(LIBRARY) is not None:
        return 0
    print(f"built {build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
