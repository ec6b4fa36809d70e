"""``builtin:devices``: sensor devices feeding a store-and-forward pipeline, and the sink
watcher that sees their readings arrive.

- :class:`DeviceUser`: one device per Locust user, pinned to one gateway (round-robin over
  the client nodes), one reading per request ``POST /ingest {"device", "id", "value"}``,
  recorded as ``f: send`` (key = device, value = the reading's id, node = the gateway; ok
  when the gateway acked it, fail when it refused it, info when the outcome is unknown).
  Gaps are Poisson, or periodic bursts that conform to a token bucket (burst, rate).
- :class:`SinkUser`: one user that long-polls each sink's ``GET /received`` (directly, not
  through a link: observing is not part of the system under test) and records every receipt
  as an invoke/ok pair ``f: recv`` (value = id, key = the gateway it entered at, node = the
  sink) at the moment it saw it. After the devices stop it drains: it watches until every
  acked reading arrived, nothing arrived for ``quiet_s``, or ``drain_s`` passed.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import User, task
from locust.exception import StopUser

from workloads.kv import EdgeproofUser

POLL_WAIT_MS = 500  # a long poll's longest wait at the sink
SINK_PROCESS = 9_999_999  # the watcher's history process (devices take 0, 1, ... in order)


def classify_send(status: int) -> str:
    """2xx ok (acked); 507 (buffer refused it) and other 4xx fail; other 5xx info."""
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500 or status == 507:
        return "fail"
    return "info"


def reading_id(device: str, seq: int) -> str:
    """A reading's unique id: its device and its sequence number there."""
    return f"{device}:{seq:07d}"


class Pending:
    """Acked readings the sink watcher has not seen yet (to know when the drain is done)."""

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.seen: set[str] = set()
        self.last_receipt = time.monotonic()

    def ack(self, rid: str) -> None:
        if rid not in self.seen:
            self.acked.add(rid)

    def saw(self, rid: str) -> None:
        self.seen.add(rid)
        self.acked.discard(rid)
        self.last_receipt = time.monotonic()


def pending_of(ctx: Any) -> Pending:
    """The run's one :class:`Pending` (made on first use)."""
    if not hasattr(ctx, "devices_pending"):
        ctx.devices_pending = Pending()
    return ctx.devices_pending


class DeviceUser(EdgeproofUser):
    """A device sending readings to its gateway at ``devices.rate_hz``."""

    def on_start(self) -> None:
        cfg = self.ctx.spec.get("devices") or {}
        self.rate = float(cfg.get("rate_hz", 1.0))
        self.periodic = cfg.get("arrivals", "poisson") == "periodic"
        self.burst = int(cfg.get("burst", 1)) if self.periodic else 1
        self.device = f"dev-{self.process}"
        self.seq = 0
        self.pending = pending_of(self.ctx)
        period = self.burst / self.rate
        self.next_slot = time.monotonic() + self.rng.uniform(0.0, period)  # seeded phase

    def wait_time(self) -> float:
        """Poisson: exponential gaps; periodic: until the next burst's slot."""
        if not self.periodic:
            return self.rng.expovariate(self.rate)
        return max(0.0, self.next_slot - time.monotonic())

    @task
    def send(self) -> None:
        if self.periodic:  # slots never compress: a late burst pushes the next one back
            self.next_slot = max(self.next_slot, time.monotonic()) + self.burst / self.rate
        for _ in range(self.burst):
            self._one()

    def _one(self) -> None:
        self.seq += 1
        rid = reading_id(self.device, self.seq)
        body = {"device": self.device, "id": rid, "value": round(self.rng.gauss(20, 2), 3)}
        type_, _ = self.operation("send", self.device, rid, "POST", "/ingest", body=body,
                                  classify=lambda status, _b: (classify_send(status), rid))
        if type_ == "ok":
            self.pending.ack(rid)


class SinkUser(User):
    """Watches every sink and records each receipt as ``f: recv``."""

    fixed_count = 1
    edgeproof_targets = True
    edgeproof_records = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ctx = environment.edgeproof
        self.process = SINK_PROCESS
        self.sinks = list(self.ctx.spec.get("sinks") or [])
        self.cursor = {s["node"]: 0 for s in self.sinks}
        self.pending = pending_of(self.ctx)
        cfg = self.ctx.spec.get("devices") or {}
        self.drain_s, self.quiet_s = float(cfg.get("drain_s", 30)), float(cfg.get("quiet_s", 3))
        self.ctx.finishers.append(self.drain)
        self.done = False

    def wait_time(self) -> float:
        return 0.0

    @task
    def watch(self) -> None:
        if self.done or not self.sinks:
            raise StopUser()
        polls = [gevent.spawn(self._poll, s) for s in self.sinks]
        gevent.joinall(polls)

    def _poll(self, sink: dict[str, str]) -> None:
        node = sink["node"]
        try:
            body = _get_json(sink["url"], f"/received?after={self.cursor[node]}"
                             f"&wait_ms={POLL_WAIT_MS}", POLL_WAIT_MS / 1000 + 5)
        except (OSError, ValueError, http.client.HTTPException):
            gevent.sleep(0.2)  # the sink is down (a crash fault): try again soon
            return
        for rid, gateway in body.get("readings", []):
            self.ctx.invoke(self.process, "recv", gateway, rid, node)
            self.ctx.complete(self.process, "ok", "recv", gateway, rid, node)
            self.pending.saw(rid)
        self.cursor[node] = int(body.get("next", self.cursor[node]))

    def drain(self) -> None:
        """Block (gevent) until the drain is over; then the watcher stops."""
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and self.pending.acked:
            if time.monotonic() - self.pending.last_receipt > self.quiet_s:
                break
            gevent.sleep(0.1)
        gevent.sleep(POLL_WAIT_MS / 1000)  # the poll in flight lands
        self.done = True


def _get_json(url: str, path: str, timeout_s: float) -> dict[str, Any]:
    """GET a JSON object (a fresh connection each time: polls are few and long)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                      timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
    finally:
        conn.close()
    if resp.status != 200 or not isinstance(data, dict):
        raise ValueError(f"GET {url}{path}: HTTP {resp.status}")
    return data
