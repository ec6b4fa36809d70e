"""Interrupts: SIGINT, SIGTERM and SIGHUP end a run, a certification or an exploration the
same way: heal, tear down, write what was measured so far, exit 130.

Inside :func:`interruptible` the first of these signals raises :class:`Interrupted` where
the main thread is (unless a :func:`shielded` section defers it); every later one is noted
and ignored until the outermost block ends, so a second Ctrl-C never stops a heal, a
teardown or the writing of the results. Blocks nest (a run inside a certification shares
one state); outside the main thread they do nothing, as signals cannot be set there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODE = 130  # what a shell reports for Ctrl-C; the CLI's "interrupted" exit code


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``outcome`` is what was written after the heal."""

    def __init__(self, signum: int, at: float) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.at = at  # time.monotonic() when the signal came
        self.outcome: Any = None

    @property
    def name(self) -> str:
        """The signal's name: ``SIGINT``, ``SIGTERM`` or ``SIGHUP``."""
        return signal.Signals(self.signum).name


@dataclass
class Guard:
    """The process's interrupt state while an :func:`interruptible` block is open."""

    depth: int = 0
    shield: int = 0
    first: Interrupted | None = None
    ignored: list[str] = field(default_factory=list)
    old: dict[int, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.first is not None

    def reset(self) -> None:
        self.shield, self.first, self.ignored = 0, None, []


GUARD = Guard()


def _note(text: str) -> None:
    """A line on stderr from the handler (a hung-up terminal is no reason to fail)."""
    with contextlib.suppress(OSError):
        os.write(2, f"edgeproof: {text}\n".encode())


def _handle(signum: int, _frame: Any) -> None:
    """First signal: raise Interrupted (or defer it inside a shield); later: ignore."""
    if GUARD.first is not None:
        GUARD.ignored.append(signal.Signals(signum).name)
        _note(f"{signal.Signals(signum).name} again: still healing, tearing down and writing "
              "the results; this is not interrupted (it takes a few seconds)")
        return
    GUARD.first = Interrupted(signum, time.monotonic())
    if GUARD.shield:
        _note(f"{GUARD.first.name}: finishing the teardown first, then stopping")
        return
    raise GUARD.first


@contextlib.contextmanager
def interruptible() -> Iterator[Guard]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield GUARD
        return
    outermost = GUARD.depth == 0
    if outermost:
        GUARD.reset()
        GUARD.old = {s: signal.signal(s, _handle) for s in SIGNALS}
    GUARD.depth += 1
    try:
        yield GUARD
    finally:
        GUARD.depth -= 1
        if outermost:
            for s, old in GUARD.old.items():
                signal.signal(s, old)
            GUARD.old = {}


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A first signal inside the block is deferred until the block ends (a teardown that
    had begun finishes); read :data:`GUARD` ``.first`` after it."""
    GUARD.shield += 1
    try:
        yield
    finally:
        GUARD.shield -= 1


def pending() -> Interrupted | None:
    """The signal that came (raised or deferred), if any, in the open block."""
    return GUARD.first


__all__ = ["EXIT_CODE", "GUARD", "Interrupted", "interruptible", "pending", "shielded"]
