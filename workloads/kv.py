"""``builtin:kv``: read / write / compare-and-set users against ``GET/PUT /kv/{key}``.

Runs only inside the load process (imports locust). Each user is one history ``process``,
sticks to one target node (round-robin by process id), draws its think times, keys and
operations from a ``random.Random`` seeded by (seed, process), and records an ``invoke``
before each request and exactly one completion after it.

:class:`EdgeproofUser` is the reusable base: user locustfiles may subclass it and call
:meth:`EdgeproofUser.operation` to get the same recording for their own requests.
"""

from __future__ import annotations

import random
import time
from typing import Any

from locust import FastHttpUser, task
from locust.exception import StopUser

from workloads.recorder import error_outcome

READ, WRITE, CAS = "read", "write", "cas"
VALUE_STRIDE = 1_000_000_000  # write values: process * stride + counter (unique per history)


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
    edgeproof_targets = True  # picks its own target node (the load process leaves it be)
    edgeproof_records = True  # records its operations itself (not each Locust request)

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
        self._edgeproof_process = self.process  # record() from a subclass uses the same id
        self._timing: str | None = None  # the last response's Server-Timing header
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
        if self.ctx.stopping:  # the run is ending: start no new operation
            raise StopUser()
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
        if outcome[0] == "ok" and self._timing:
            self.ctx.note_timing(self.node, f, (time.perf_counter() - start) * 1e3,
                                 self._timing)
        return outcome

    def _send(
        self, f: str, value: Any, method: str, path: str, body: Any, classify: Any
    ) -> tuple[str, Any]:
        with self.client.request(method, path, name=f, json=body, catch_response=True) as resp:
            self._in_request = False  # from here on the with-block reports to Locust
            status = _status(resp)
            self._timing = (resp.headers.get("Server-Timing") if status is not None
                            and resp.headers is not None else None)
            if status is None:  # no HTTP response at all: a transport error
                err = getattr(resp, "error", None) or ConnectionError("no response")
                type_ = error_outcome(f, err)
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


def classify_cas(status: int) -> str:
    """Type of a completed compare-and-set: 2xx ok; 412 (version mismatch) and 501 (mode
    without CAS) fail; other statuses as a write."""
    if status in (412, 501):
        return "fail"
    return classify_write(status)


class KvUser(EdgeproofUser):
    """Per operation: a read with probability ``read_fraction``, a compare-and-set with
    ``cas_fraction``, else a write; keys uniform. Write and CAS values are unique ints.

    A CAS sends ``{"value": new, "if_version": n}`` where ``n`` is the version this user last
    saw for the key (0 = absent) and records ``value = [expected, new]`` (``expected`` the
    value it saw with that version, Jepsen style)."""

    def on_start(self) -> None:
        self.counter = 0
        self.seen: dict[str, tuple[int, Any]] = {}  # key -> (version, value) last seen

    def _remember(self, key: str, body: Any, value: Any = None) -> None:
        if isinstance(body, dict) and isinstance(body.get("version"), int):
            self.seen[key] = (body["version"], body.get("value", value))

    def _next_value(self) -> int:
        self.counter += 1
        return self.process * VALUE_STRIDE + self.counter

    @task
    def kv_op(self) -> None:
        spec = self.ctx.spec
        key = f"k{self.rng.randrange(int(spec['keys']))}"
        draw = self.rng.random()
        if draw < spec["read_fraction"]:
            self.read(key)
        elif draw < spec["read_fraction"] + spec.get("cas_fraction", 0.0):
            self.cas(key)
        else:
            self.write(key)

    def read(self, key: str) -> None:
        def classify(status: int, body: Any) -> tuple[str, Any]:
            if status == 404:
                self.seen[key] = (0, None)
            self._remember(key, body)
            return classify_read(status, body)

        self.operation(READ, key, None, "GET", f"/kv/{key}", classify=classify)

    def write(self, key: str) -> None:
        value = self._next_value()

        def classify(status: int, body: Any) -> tuple[str, Any]:
            self._remember(key, body, value)
            return classify_write(status), value

        self.operation(WRITE, key, value, "PUT", f"/kv/{key}", body={"value": value},
                       classify=classify)

    def cas(self, key: str) -> None:
        version, expected = self.seen.get(key, (0, None))
        new = self._next_value()
        pair = [expected, new]

        def classify(status: int, body: Any) -> tuple[str, Any]:
            self._remember(key, body, new)  # 2xx: the new version; 412: the current one
            return classify_cas(status), pair

        self.operation(CAS, key, pair, "PUT", f"/kv/{key}",
                       body={"value": new, "if_version": version}, classify=classify)
