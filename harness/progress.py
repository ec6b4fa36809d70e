"""Progress of long work, where a person or a CI log can see it.

In a terminal, a live status line (rich); when the output is a file or a pipe (CI), a plain
timestamped line: at once for what happens once (calibrating, a cell finished), and every
``every_s`` seconds for what repeats (the load's per-second progress), as Locust's headless
stats do; with ``quiet``, nothing. Lines that must stay (one per cell or explore run) are
printed in both modes.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

REPEATING = ("phase ", "ready ")  # progress that comes every second


class Progress:
    """A ``say(message)`` for long work; use as a context manager."""

    def __init__(self, console: Console, *, quiet: bool = False, every_s: float = 5.0,
                 stream: TextIO | None = None, live: bool | None = None) -> None:
        self.console = console
        self.quiet = quiet
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._status: Any = None
        self._last_at = 0.0
        self._last_kind = ""

    def __enter__(self) -> Progress:
        if self.live and not self.quiet:
            self._status = self.console.status("starting")
            self._status.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._status is not None:
            self._status.__exit__(et, exc, tb)
            self._status = None

    def __call__(self, message: str) -> None:
        """A transient progress message."""
        if self.quiet:
            return
        if self._status is not None:
            self._status.update(escape(message))
            return
        kind = next((p for p in REPEATING if message.startswith(p)), "")
        head = message.split(" · ")[0] if kind else message
        now = time.monotonic()
        if kind and head == self._last_kind and now - self._last_at < self.every_s:
            return
        self._last_kind, self._last_at = head, now
        self._line(message)

    def keep(self, message: str) -> None:
        """A message that stays (one per cell or run), in a terminal too."""
        if self.quiet:
            return
        if self._status is not None:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)
            return
        self._line(message)

    def _line(self, message: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {message}", file=self.stream, flush=True)
