"""``builtin:kv``: closed-loop read/write users against ``GET/PUT /kv/{key}``.

Runs only inside the load process (imports locust). Each user is one history ``process``,
sticks to one target node (round-robin by process id), draws its think times, keys and
operations from a ``random.Random`` seeded by (seed, process), and records an ``invoke``
before each request and exactly one completion after it.

:class:`EdgeproofUser` is the reusable base: user locustfiles may subclass it and call
:meth:`EdgeproofUser.operation` to get the same recording for their own requests.
"""

from __future__ import annotations

import random
import socket
import time
from typing import Any

import gevent
from locust import FastHttpUser, task

READ, WRITE = "read", "write"
VALUE_STRIDE = 1_000_000_000  # write values: process * stride + counter (unique per history)


def _root(err: BaseException) -> BaseException:
    """The underlying error (geventhttpclient wraps it: ``RetriesExceeded(original=...)``)."""
    for _ in range(5):
        inner = getattr(err, "original", None) or err.__cause__
        if not isinstance(inner, BaseException):
            break
        err = inner
    return err


def _is_timeout(err: BaseException) -> bool:
    """True for errors that leave the outcome unknown because the reply never came in time."""
    return isinstance(err, TimeoutError | socket.timeout | gevent.Timeout)


def _error_outcome(f: str, err: BaseException) -> str:
    """A transport error's completion type: timeouts are ``info``; a refused connection was
    never sent (``fail``); other errors fail a read but leave a write's effect unknown."""
    err = _root(err)
    if _is_timeout(err):
        return "info"
    if isinstance(err, ConnectionRefusedError):
        return "fail"
    return "fail" if f == READ else "info"


def _status(resp: Any) -> int | None:
    """The HTTP status of a response, or None when there was no response (transport error)."""
    try:
        status = resp.status_code
    except AttributeError:  # locust's stand-in response for a socket error has none
        return None
    return int(status) if status else None


def classify_read(status: int, body: Any) -> tuple[str, Any]:
    """(type, value) of a completed read: 200 ok with the value, 404 ok with null, else fail."""
    if status == 200 and isinstance(body, dict) and "value" in body:
        return "ok", body["value"]
    if status == 404:
        return "ok", None
    return "fail", None


def classify_write(status: int) -> str:
    """Type of a completed write: 2xx ok; 412, 501 and other 4xx fail; other 5xx info."""
    if 200 <= status < 300:
        return "ok"
    if status == 501 or 400 <= status < 500:
        return "fail"
    return "info"


class EdgeproofUser(FastHttpUser):
    """Base user: process id, target node, seeded RNG, exponential think time, recording."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        ctx = environment.edgeproof
        self.ctx = ctx
        self.process: int = ctx.next_process()
        target = ctx.target_for(self.process)
        self.node: str = target["node"]
        self.host = target["url"]
        timeout_s = ctx.spec["timeout_ms"] / 1000.0
        self.network_timeout = timeout_s
        self.connection_timeout = timeout_s
        self.rng = random.Random(f"{ctx.spec['seed']}/{self.process}")
        super().__init__(environment)

    def wait_time(self) -> float:
        """Exponential think time with mean ``think_time_ms`` (0 means none)."""
        mean_s = self.ctx.spec["think_time_ms"] / 1000.0
        return self.rng.expovariate(1.0 / mean_s) if mean_s > 0 else 0.0

    def operation(
        self, f: str, key: str | None, value: Any, method: str, path: str,
        body: Any = None, classify: Any = None,
    ) -> tuple[str, Any]:
        """Record invoke, send one request, classify it, record the completion; return
        (type, value). ``classify(status, json_or_None) -> (type, value)``."""
        self.ctx.invoke(self.process, f, key, value, self.node)
        outcome: tuple[str, Any] = ("info", value)
        start = time.perf_counter()
        self._in_request = True
        try:
            outcome = self._send(f, value, method, path, body, classify)
        except BaseException as exc:  # killed mid-request (GreenletExit): outcome unknown
            if self._in_request:  # Locust never reported it: count it, so stats == history
                self.environment.events.request.fire(
                    request_type=method, name=f, response_time=(time.perf_counter() - start) * 1e3,
                    response_length=0, exception=exc, context={}, response=None, url=path,
                    start_time=time.time(),
                )
            raise
        finally:
            self.ctx.complete(self.process, outcome[0], f, key, outcome[1], self.node)
        return outcome

    def _send(
        self, f: str, value: Any, method: str, path: str, body: Any, classify: Any
    ) -> tuple[str, Any]:
        with self.client.request(method, path, name=f, json=body, catch_response=True) as resp:
            self._in_request = False  # from here on the with-block reports to Locust
            status = _status(resp)
            if status is None:  # no HTTP response at all: a transport error
                err = getattr(resp, "error", None) or ConnectionError("no response")
                type_ = _error_outcome(f, err)
                resp.failure(f"{type_}: {err!r}")
                return type_, value
            try:
                data = resp.json() if resp.content else None
            except ValueError:
                data = None
            type_, val = classify(status, data) if classify else (
                ("ok", value) if 200 <= status < 300 else ("fail", value))
            if type_ == "ok":
                resp.success()
            else:
                resp.failure(f"{type_}: HTTP {status}")
            return type_, val


class KvUser(EdgeproofUser):
    """Reads with probability ``read_fraction``, else writes a unique int; keys uniform."""

    def on_start(self) -> None:
        self.counter = 0

    @task
    def kv_op(self) -> None:
        spec = self.ctx.spec
        key = f"k{self.rng.randrange(int(spec['keys']))}"
        if self.rng.random() < spec["read_fraction"]:
            self.operation(READ, key, None, "GET", f"/kv/{key}", classify=classify_read)
        else:
            self.counter += 1
            value = self.process * VALUE_STRIDE + self.counter
            self.operation(
                WRITE, key, value, "PUT", f"/kv/{key}", body={"value": value},
                classify=lambda status, _body, v=value: (classify_write(status), v),
            )
