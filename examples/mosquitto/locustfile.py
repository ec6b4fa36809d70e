"""Devices and a sink around an MQTT bridge (examples/mosquitto/mqtt-bridge.yaml), recorded
in edgeproof's pipeline history format so that the delivery check can judge it:

- ``Device`` (``users`` of them): publishes QoS 1 messages with unique ids to the edge
  broker, each one an ``f: send`` operation (key = the device, value = the message id, node
  = the edge broker): invoke before the PUBLISH, ok when its PUBACK arrives, info when none
  came within ``timeout_ms`` (the broker may have it or not).
- ``Sink`` (``fixed_count = 1``): subscribed to ``devices/#`` at the cloud broker; every
  message it gets is an ``f: recv`` invoke/ok pair at the moment of receipt (value = the id,
  node = the cloud broker). After the load it drains: it waits until every acked id arrived,
  nothing arrived for ``QUIET_S``, or ``DRAIN_S`` passed; devices wait for its subscription
  before their first message (a message the cloud broker gets before anyone subscribed is
  dropped there, by MQTT's rules, and would read as lost).

Both connect to the targets edgeproof gives (``ctx.targets``: the client proxies of the
nodes in ``testbed.clients.nodes``), so client-link faults reach them; the names of the
nodes they use are ``EDGE`` and ``CLOUD``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from locust import User, task
from locust.exception import StopUser
from paho.mqtt.client import CallbackAPIVersion, Client, MQTTMessage, MQTTv311

from workloads import record

EDGE, CLOUD = "edge-broker", "cloud-broker"
TOPIC = "devices"
DRAIN_S = 20.0  # the longest wait for the last messages after the load
QUIET_S = 3.0  # ... or this long without a receipt while some are still missing
CONNECT_S = 10.0


class Shared:
    """What the devices and the sink share in one load process: the sink's subscription,
    acked ids not seen yet, the last receipt's time."""

    def __init__(self) -> None:
        self.subscribed = threading.Event()  # gevent's, once Locust has patched threading
        self.missing: set[str] = set()
        self.seen: set[str] = set()
        self.last_receipt = time.monotonic()

    def acked(self, mid: str) -> None:
        if mid not in self.seen:
            self.missing.add(mid)

    def received(self, mid: str) -> None:
        self.seen.add(mid)
        self.missing.discard(mid)
        self.last_receipt = time.monotonic()


def shared(ctx: Any) -> Shared:
    """The load process's one :class:`Shared` (made on first use)."""
    if not hasattr(ctx, "mqtt_shared"):
        ctx.mqtt_shared = Shared()
    return ctx.mqtt_shared


def address(ctx: Any, node: str) -> tuple[str, int]:
    """(host, port) of a node's client proxy, from the targets edgeproof gave this run."""
    for t in ctx.targets:
        if t["node"] == node:
            url = urlsplit(t["url"])
            return str(url.hostname), int(url.port or 1883)
    names = ", ".join(t["node"] for t in ctx.targets)
    raise RuntimeError(f"no client target for {node!r} (targets: {names}); add it to "
                       "testbed.clients.nodes")


def connect(client_id: str, host: str, port: int, *, clean: bool = True) -> Client:
    """A paho client connected (CONNACK received) with its network loop running."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=MQTTv311)
    up = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: up.set() if not rc.is_failure else None
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not up.wait(CONNECT_S):
        client.loop_stop()
        raise RuntimeError(f"{client_id}: no CONNACK from {host}:{port} in {CONNECT_S} s")
    return client


class Device(User):
    """One device publishing to the edge broker, a message every ``think_time_ms`` on
    average (exponential gaps, seeded)."""

    edgeproof_targets = True  # it picks its own target: the edge broker's client proxy
    edgeproof_records = True  # its operations are the ``record`` blocks below

    def on_start(self) -> None:
        ctx = self.environment.edgeproof
        self.shared = shared(ctx)
        self.process = ctx.process_of(self)
        self.device = f"dev-{self.process}"
        self.rng = random.Random(f"{ctx.spec['seed']}/{self.process}")
        self.gap_s = float(ctx.spec["think_time_ms"]) / 1000
        self.timeout_s = float(ctx.spec["timeout_ms"]) / 1000
        self.seq = 0
        if not self.shared.subscribed.wait(CONNECT_S):
            raise RuntimeError("the sink did not subscribe at the cloud broker in time")
        self.client = connect(self.device, *address(ctx, EDGE))

    def on_stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def wait_time(self) -> float:
        return self.rng.expovariate(1 / self.gap_s) if self.gap_s > 0 else 0.0

    @task
    def publish(self) -> None:
        self.seq += 1
        mid = f"{self.device}:{self.seq:07d}"
        started = time.perf_counter()
        error: BaseException | None = None
        with record(self, "send", self.device, mid, node=EDGE) as op:
            try:
                info = self.client.publish(f"{TOPIC}/{self.device}", mid, qos=1)
                info.wait_for_publish(self.timeout_s)
                if info.is_published():
                    op.ok()
                else:
                    error = TimeoutError(f"no PUBACK in {self.timeout_s} s")
                    op.info()  # the broker may have it: outcome unknown
            except (ValueError, RuntimeError) as exc:  # not queued: never sent
                error = exc
                op.fail()
        if error is None:
            self.shared.acked(mid)
        self.environment.events.request.fire(
            request_type="MQTT", name="publish qos1",
            response_time=(time.perf_counter() - started) * 1e3, response_length=len(mid),
            exception=error, context={}, response=None, url=None, start_time=time.time())


class Sink(User):
    """Subscribed to every device's topic at the cloud broker; records each receipt."""

    fixed_count = 1
    edgeproof_targets = True
    edgeproof_records = True

    def on_start(self) -> None:
        ctx = self.environment.edgeproof
        self.ctx = ctx
        self.shared = shared(ctx)
        self.process = ctx.next_process()
        self.done = False
        ctx.finishers.append(self.drain)
        self.client = connect(f"sink-{self.process}", *address(ctx, CLOUD))
        self.client.on_message = self.on_message
        self.client.on_subscribe = lambda *_a: self.shared.subscribed.set()
        self.client.subscribe(f"{TOPIC}/#", qos=1)

    def on_message(self, _client: Client, _userdata: Any, msg: MQTTMessage) -> None:
        mid = msg.payload.decode()
        device = msg.topic.split("/", 1)[-1]
        self.ctx.invoke(self.process, "recv", device, mid, CLOUD)
        self.ctx.complete(self.process, "ok", "recv", device, mid, CLOUD)
        self.shared.received(mid)

    def wait_time(self) -> float:
        return 0.5

    @task
    def watch(self) -> None:
        if self.done:  # receipts come in on paho's network loop; this task only waits
            raise StopUser()

    def drain(self) -> None:
        """After the load (``ctx.finishers``): wait until every acked id arrived, nothing
        arrived for QUIET_S, or DRAIN_S passed; then stop listening."""
        deadline = time.monotonic() + DRAIN_S
        while self.shared.missing and time.monotonic() < deadline:
            if time.monotonic() - self.shared.last_receipt > QUIET_S:
                break
            time.sleep(0.1)  # gevent's sleep: the network loop runs meanwhile
        self.done = True
        self.client.disconnect()
        self.client.loop_stop()
