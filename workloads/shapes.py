"""Load shapes: closed loop (users with their own think time), open loop (Poisson arrivals
handed to a pool of idle users), and step, ramp and spike user counts (Locust LoadTestShape).

Runs only inside the load process (imports locust).
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any

import gevent
from gevent.queue import Queue
from locust import LoadTestShape, User
from locust.user.users import LOCUST_STATE_RUNNING, LOCUST_STATE_WAITING

SHAPES = ("closed", "open", "step", "ramp", "spike")
log = logging.getLogger("edgeproof.load")


class Arrivals:
    """Poisson arrivals at ``rate_rps`` put on a queue that idle users take from. An arrival
    that finds no idle user has to wait: it is counted (``waited``) and logged once."""

    def __init__(self, rate_rps: float, seed: Any) -> None:
        self.rate = rate_rps
        self.rng = random.Random(f"{seed}/arrivals")
        self.queue: Queue = Queue()
        self.idle = 0
        self.count = 0
        self.waited = 0
        self.max_lag_ms = 0.0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        """Begin generating arrivals (from now on)."""
        self._greenlet = gevent.spawn(self._run, time.monotonic())

    def stop(self) -> None:
        """Stop generating arrivals; users waiting for one stay blocked until stopped."""
        if self._greenlet is not None:
            self._greenlet.kill()

    def _run(self, t: float) -> None:
        while True:
            t += self.rng.expovariate(self.rate)
            gevent.sleep(max(0.0, t - time.monotonic()))
            self.count += 1
            if self.idle <= self.queue.qsize():
                self._late()
            self.queue.put(t)

    def _late(self) -> None:
        self.waited += 1
        if self.waited == 1:
            log.warning("open loop: an arrival found no idle user and has to wait; the load "
                        "is no longer open (raise `users`, the pool size)")

    def take(self) -> None:
        """Block until the next arrival (the caller is an idle user)."""
        self.idle += 1
        try:
            t = self.queue.get()
        finally:
            self.idle -= 1
        self.max_lag_ms = max(self.max_lag_ms, (time.monotonic() - t) * 1000.0)

    def as_dict(self) -> dict[str, Any]:
        return {"rate_rps": self.rate, "count": self.count, "waited": self.waited,
                "max_lag_ms": round(self.max_lag_ms, 3)}


def open_loop_class(cls: type[User], arrivals: Arrivals) -> type[User]:
    """A subclass of ``cls`` (same name) whose every task run waits for an arrival instead of
    thinking; while it waits the user is idle and can be stopped at once."""

    def on_start(self: Any) -> None:
        cls.on_start(self)
        self._state = LOCUST_STATE_WAITING
        arrivals.take()
        self._state = LOCUST_STATE_RUNNING

    def wait_time(self: Any) -> float:
        arrivals.take()
        return 0.0

    return type(cls.__name__, (cls,), {"on_start": on_start, "wait_time": wait_time,
                                       "__module__": cls.__module__})


def pool_size(rate_rps: float, timeout_s: float, users: int) -> int:
    """Users enough that an arrival never waits while every operation ends within the
    timeout: at most rate x timeout operations are in flight (plus slack), never < users."""
    return max(users, math.ceil(rate_rps * timeout_s * 1.2) + 2)


class StepShape(LoadTestShape):
    """``step_users`` more users every ``step_s`` seconds, up to ``users``."""

    def __init__(self, users: int, step_users: int, step_s: float) -> None:
        super().__init__()
        self.users, self.step_users, self.step_s = users, step_users, step_s

    def tick(self) -> tuple[int, float]:
        steps = int(self.get_run_time() // self.step_s) + 1
        n = min(self.users, self.step_users * steps)
        return n, float(max(n, 1))


class RampShape(LoadTestShape):
    """From ``from_users`` to ``users`` linearly over ``ramp_s`` seconds, then hold."""

    def __init__(self, users: int, ramp_s: float, from_users: int = 1) -> None:
        super().__init__()
        self.users, self.ramp_s, self.from_users = users, ramp_s, from_users

    def tick(self) -> tuple[int, float]:
        frac = min(1.0, self.get_run_time() / self.ramp_s)
        n = round(self.from_users + (self.users - self.from_users) * frac)
        return max(n, 1), float(max(self.users, 1))


class SpikeShape(LoadTestShape):
    """``users``, except ``spike_users`` from ``spike_at_s`` for ``spike_s`` seconds."""

    def __init__(self, users: int, spike_users: int, spike_at_s: float, spike_s: float) -> None:
        super().__init__()
        self.users, self.spike_users = users, spike_users
        self.spike_at_s, self.spike_s = spike_at_s, spike_s

    def tick(self) -> tuple[int, float]:
        t = self.get_run_time()
        n = self.spike_users if self.spike_at_s <= t < self.spike_at_s + self.spike_s \
            else self.users
        return n, float(max(self.users, self.spike_users))


def make_shape(spec: dict[str, Any]) -> LoadTestShape | None:
    """The LoadTestShape of a spec's ``shape`` (None for closed and open loops)."""
    shape, users = spec.get("shape", "closed"), int(spec["users"])
    if shape == "step":
        return StepShape(users, int(spec["step_users"] or 1), float(spec["step_s"] or 10.0))
    if shape == "ramp":
        return RampShape(users, float(spec["ramp_s"] or spec["duration_s"]),
                         int(spec.get("ramp_from_users") or 1))
    if shape == "spike":
        return SpikeShape(users, int(spec["spike_users"] or 2 * users),
                          float(spec["spike_at_s"] or 0.0), float(spec["spike_s"] or 0.0))
    return None
