"""Per-process clock skew with libfaketime, movable at run time without a restart.

Each node runs with ``LD_PRELOAD=libfaketime`` reading its offset from a file of its own
(``FAKETIME_TIMESTAMP_FILE`` with ``FAKETIME_NO_CACHE=1``), so writing ``+30`` to that file moves
the node's wall clock 30 s ahead at once. ``DONT_FAKE_MONOTONIC=1`` keeps monotonic clocks (and so
event-loop timers) real. Caveat of libfaketime 0.9.10 with that setting: ``clock_nanosleep`` with
an absolute monotonic deadline (Python's ``time.sleep``) fails with EINVAL; asyncio is unaffected.
Go programs do not use libc for time, so libfaketime cannot skew them (etcd, for one).
"""

from __future__ import annotations

import os
from pathlib import Path

CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


def find_libfaketime() -> str | None:
    """The libfaketime shared object, from ``$EDGEPROOF_LIBFAKETIME`` or the usual places."""
    env = os.environ.get("EDGEPROOF_LIBFAKETIME")
    if env:
        return env if Path(env).is_file() else None
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def format_offset(offset_s: float) -> str:
    """libfaketime's relative offset syntax: ``+1.5`` or ``-30``."""
    return f"{offset_s:+.6f}"


def write_offset(clock_file: str | Path, offset_s: float) -> None:
    """Move the node's clock: atomically replace the offset file (read on every call)."""
    path = Path(clock_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(format_offset(offset_s) + "\n")
    tmp.replace(path)


def read_offset(clock_file: str | Path) -> float:
    """The offset currently set (0 when the file is missing or empty)."""
    try:
        text = Path(clock_file).read_text().strip()
    except OSError:
        return 0.0
    return float(text) if text else 0.0


def faketime_env(clock_file: str | Path, lib: str) -> dict[str, str]:
    """Environment that puts one process under libfaketime, reading the given file."""
    write_offset(clock_file, read_offset(clock_file))
    return {
        "LD_PRELOAD": lib,
        "FAKETIME_TIMESTAMP_FILE": str(clock_file),
        "FAKETIME_NO_CACHE": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
