"""Redis with a primary and a replica: users of the primary write, users of the replica read,
each recorded for a consistency check (values unique in the history).

edgeproof spreads the users over the client targets (the primary and the replica, in the
order of ``testbed.clients.nodes``); a user's node decides its role. Redis replication is
asynchronous, so reads from the replica can be stale even without a fault: reported per
phase, not hidden.
"""

from __future__ import annotations

import random
import time
from urllib.parse import urlsplit

import redis
from locust import User, task

from workloads import record

STRIDE = 1_000_000_000


class RedisUser(User):
    """Writes at the primary (the first client target) or reads at the replica."""

    def on_start(self) -> None:
        ctx = self.environment.edgeproof
        spec = ctx.spec
        self.process = ctx.process_of(self)
        self.node = ctx.node_of(self)
        self.writer = self.node == ctx.targets[0]["node"]
        addr = urlsplit(self.host)
        timeout = float(spec["timeout_ms"]) / 1000
        self.db = redis.Redis(host=addr.hostname, port=addr.port, socket_timeout=timeout,
                              socket_connect_timeout=timeout)
        self.rng = random.Random(f"{spec['seed']}/{self.process}")
        self.keys = [f"k{i}" for i in range(int(spec["keys"]))]
        self.think_s = float(spec["think_time_ms"]) / 1000
        self.counter = 0

    def wait_time(self) -> float:
        return self.rng.expovariate(1 / self.think_s) if self.think_s > 0 else 0.0

    @task
    def operation(self) -> None:
        key = self.rng.choice(self.keys)
        try:
            if self.writer:
                self.counter += 1
                value = self.process * STRIDE + self.counter
                with record(self, "write", key, value):
                    self._fire("SET", lambda: self.db.set(key, value))
            else:
                with record(self, "read", key) as op:
                    raw = self._fire("GET", lambda: self.db.get(key))
                    op.ok(None if raw is None else int(raw))
        except redis.RedisError:
            pass  # recorded (a write that timed out is info: it may have taken effect)

    def _fire(self, name: str, call: object) -> object:
        """One Redis call, reported to Locust as a request (the recorder's outcome rules)."""
        t = time.perf_counter()
        exc: BaseException | None = None
        try:
            return call()  # type: ignore[operator]
        except redis.RedisError as err:
            exc = err
            raise
        finally:
            self.environment.events.request.fire(
                request_type="redis", name=name, response_time=(time.perf_counter() - t) * 1e3,
                response_length=0, exception=exc, context={}, response=None, url=None,
                start_time=time.time())
