"""Aligning a Locust worker's clock with its master's over Locust's own message channel.

Cristian's algorithm (Cristian 1989, "Probabilistic clock synchronization"): the worker sends
its time ``t0``, the master answers with its time ``tm``, the worker reads ``t1``; the master's
clock then read ``tm`` somewhere in ``[t0, t1]``, so ``offset = tm - (t0 + t1) / 2`` is off by
at most ``(t1 - t0) / 2``. The least round trip of a few samples gives the tightest bound.
Measured at the start and the end of the load, the two offsets bound the drift too: the
alignment's error is the worse of the two bounds plus half their difference.

Imported by the load process after gevent's monkey-patching (workloads/loadproc.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent.queue

PING, PONG = "edgeproof_clock_ping", "edgeproof_clock_pong"
SAMPLES = 7
REPLY_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ClockSample:
    """One offset estimate: add ``offset_ns`` to this clock to read the master's; true within
    ``error_ns`` (half the round trip)."""

    offset_ns: int
    error_ns: int

    def as_dict(self) -> dict[str, int]:
        return {"offset_ns": self.offset_ns, "error_ns": self.error_ns}


def answer(runner: Any) -> Any:
    """The master's handler of a ping: its own time, straight back to the worker that asked."""
    def on_ping(environment: Any = None, msg: Any = None, **_kw: Any) -> None:
        runner.send_message(PONG, {"t0": msg.data["t0"], "tm": time.monotonic_ns()},
                            client_id=msg.node_id)
    return on_ping


class ClockProbe:
    """The worker's side: pings the master and keeps the best (least round trip) sample."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.replies: gevent.queue.Queue[dict[str, int]] = gevent.queue.Queue()
        runner.register_message(PONG, lambda environment=None, msg=None, **_kw:
                                self.replies.put(msg.data))

    def sample(self, samples: int = SAMPLES) -> ClockSample | None:
        """The least round trip's estimate of ``samples`` pings (None: no answer at all)."""
        best: ClockSample | None = None
        for _ in range(samples):
            got = self._one()
            if got is not None and (best is None or got.error_ns < best.error_ns):
                best = got
        return best

    def _one(self) -> ClockSample | None:
        t0 = time.monotonic_ns()
        self.runner.send_message(PING, {"t0": t0})
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = self.replies.get(timeout=left)
            except gevent.queue.Empty:
                return None
            if reply["t0"] == t0:  # an answer to an earlier, timed-out ping is dropped
                t1 = time.monotonic_ns()
                return ClockSample(reply["tm"] - (t0 + t1) // 2, (t1 - t0 + 1) // 2)
        return None


def alignment(start: ClockSample | None, end: ClockSample | None) -> dict[str, Any]:
    """A worker's alignment from its start and end samples: the mean offset, and an error
    bound that covers both samples' bounds and the drift between them (None: unmeasured)."""
    if start is None or end is None:
        return {"offset_ns": None, "error_ns": None, "drift_ns": None,
                "start": start.as_dict() if start else None,
                "end": end.as_dict() if end else None}
    drift = end.offset_ns - start.offset_ns
    return {"offset_ns": (start.offset_ns + end.offset_ns) // 2,
            "error_ns": max(start.error_ns, end.error_ns) + (abs(drift) + 1) // 2,
            "drift_ns": drift, "start": start.as_dict(), "end": end.as_dict()}
