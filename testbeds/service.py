"""The reference edge service: one node of a small replicated key-value and sensor-ingest store.

Run one process per node as ``python -m testbeds.service --config node.json``; the config keys
are those of `NodeConfig`. Every node talks to another member only through the address it was
given for it in ``peers`` (a link proxy), so link faults reach all node-to-node traffic.

Emulated hardware: the node is an M/M/c station. Each client request (GET/PUT /kv, POST /ingest)
waits in FIFO order for one of ``workers`` servers and holds it for an exponential time of mean
``service_ms`` (seeded by ``seed``); the replication protocol then runs outside the slot.
``POST /cpu`` holds a slot for real CPU work instead. Internal RPCs, /health, /clock and /metrics
pay nothing. Service time is ``await asyncio.sleep``: ``time.sleep`` raises EINVAL under
libfaketime 0.9.10 with DONT_FAKE_MONOTONIC=1. Durations use time.monotonic; time.time() is
only the node's wall clock (LWW timestamps, /clock), so clock-skew faults reach it.

Replication modes (see `testbeds.replication`):

- ``quorum``: ABD registers, linearizable per key; reads and writes need a majority of
  ``members`` (503 with ``reached``/``needed`` otherwise). Compare-and-set (``if_version``) is
  answered 501: ABD alone cannot make a read-modify-write linearizable; use ``primary`` mode.
- ``primary``: writes and CAS go to the primary (forwarded by the others), which serializes them
  per key and replicates synchronously to every member it has a peer address for; reads local.
- ``eventual``: last-writer-wins by the wall clock (tie-break: node name), asynchronous
  replication plus anti-entropy every ``anti_entropy_ms``; reads local. CAS checks the local
  replica only (not atomic across nodes, by design).

Each applied write is appended to ``data_dir/kv.jsonl`` and replayed at start.

Store-and-forward (see `testbeds.forward`): a node with a ``parent`` keeps the readings it
takes (``POST /ingest {"device", "id", "value"}`` from a device, ``POST /internal/batch`` from a
child; each pays one service time) in a buffer and forwards them in batches; the node without
a parent that children feed is the sink, answering ``GET /received?after=N&wait_ms=W``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import hashlib
import json
import logging
import random
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from testbeds.control import ControlConfig, ControlPlane
from testbeds.forward import Buffer, BufferFull, Forwarder, PipelineConfig, Sink, parse_readings
from testbeds.replication import (
    BUGS,
    Background,
    Entry,
    Peers,
    Replicator,
    Store,
    WallClock,
    lww_order,
    tag_order,
)

log = logging.getLogger("edgeproof.service")

MODES = ("quorum", "primary", "eventual")
MAX_CPU_ITERATIONS = 100_000_000
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """node.json is missing a field or has a bad value; the message says which."""


@dataclass(frozen=True)
class NodeConfig:
    """One node's settings, as written to node.json by the testbed backend."""

    name: str
    host: str
    port: int
    mode: str = "quorum"
    workers: int = 2
    service_ms: float = 2.0
    seed: int = 0
    members: list[str] = field(default_factory=list)
    peers: dict[str, str] = field(default_factory=dict)
    primary: str = ""
    anti_entropy_ms: float = 1000.0
    replica_timeout_ms: float = 1000.0
    data_dir: str | None = None
    log_level: str = "warning"
    bug: str | None = None  # a seeded bug, to show the checkers catch it (see replication)
    clock_file: str | None = None  # the node's own clock offset (replication.WallClock)
    distribution: str = "exponential"  # of the service time (ServiceTimes)
    parent: str | None = None  # forwards readings to this member (its address in peers)
    sink: bool = False  # the top of a tree: keeps what its children forward
    pipeline: dict[str, Any] | None = None  # PipelineConfig fields (forwarding nodes)
    control: dict[str, Any] | None = None  # ControlConfig fields (a control plane's nodes)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def parse_config(raw: Any) -> NodeConfig:
    """Validate a decoded node.json; fills `members` ([name]) and `primary` (first member)."""
    _check(isinstance(raw, dict), "expected a JSON object")
    for key in ("name", "host", "port"):
        _check(key in raw, f"missing field '{key}'")
    known = set(NodeConfig.__dataclass_fields__)
    try:
        cfg = NodeConfig(**{k: v for k, v in raw.items() if k in known})
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    _check(isinstance(cfg.name, str) and bool(cfg.name), "'name' must be a non-empty string")
    _check(isinstance(cfg.port, int) and 0 <= cfg.port < 65536, "'port' must be 0..65535")
    _check(cfg.mode in MODES, f"'mode' must be one of {', '.join(MODES)}, not {cfg.mode!r}")
    _check(isinstance(cfg.workers, int) and cfg.workers >= 1, "'workers' must be an int >= 1")
    _check(isinstance(cfg.service_ms, int | float) and cfg.service_ms >= 0,
           "'service_ms' must be a number >= 0")
    _check(isinstance(cfg.seed, int), "'seed' must be an integer")
    for key in ("anti_entropy_ms", "replica_timeout_ms"):
        value = getattr(cfg, key)
        _check(isinstance(value, int | float) and value > 0, f"'{key}' must be a number > 0")
    members = list(cfg.members) or [cfg.name]
    _check(cfg.name in members, f"'members' must include this node's name {cfg.name!r}")
    _check(isinstance(cfg.peers, dict), "'peers' must map member names to 'host:port'")
    _check(cfg.log_level.lower() in LOG_LEVELS, f"'log_level' must be one of {LOG_LEVELS}")
    _check(cfg.bug in (None, *BUGS), f"'bug' must be one of {BUGS} or absent, not {cfg.bug!r}")
    _check(cfg.clock_file is None or isinstance(cfg.clock_file, str),
           "'clock_file' must be a path (string) or absent")
    primary = cfg.primary or members[0]
    _check(primary in members, f"'primary' {primary!r} is not one of 'members'")
    _check(cfg.distribution in DISTRIBUTIONS,
           f"'distribution' must be one of {DISTRIBUTIONS}, not {cfg.distribution!r}")
    _check(cfg.parent is None or cfg.parent in cfg.peers,
           f"'parent' {cfg.parent!r} has no address in 'peers'")
    try:
        PipelineConfig.parse(cfg.pipeline or {})
        ControlConfig.parse(cfg.control)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return NodeConfig(**{**cfg.__dict__, "members": members, "primary": primary})


def load_config(path: Path) -> NodeConfig:
    """Read and validate node.json; raises ConfigError with a readable message."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_config(raw)


DISTRIBUTIONS = ("exponential", "deterministic", "uniform")


class ServiceTimes:
    """Service times (ms) of mean `mean_ms`: exponential (M/M/c), deterministic, or uniform
    on [0, 2 x mean] (bounded, for network calculus); a deterministic sequence per seed."""

    def __init__(self, mean_ms: float, seed: int, distribution: str = "exponential") -> None:
        self.mean_ms, self.distribution = mean_ms, distribution
        self._rng = random.Random(seed)

    def next_ms(self) -> float:
        if self.mean_ms <= 0 or self.distribution == "deterministic":
            return max(0.0, self.mean_ms)
        if self.distribution == "uniform":
            return self._rng.uniform(0.0, 2.0 * self.mean_ms)
        return self._rng.expovariate(1.0 / self.mean_ms)


class Station:
    """c servers with one FIFO queue; counts waiting, in service and completed jobs."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.busy = 0
        self.completed = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queue_length(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one server for the body of the `async with`."""
        await self._acquire()
        try:
            yield
        finally:
            self.completed += 1
            self._release()

    async def _acquire(self) -> None:
        if self.busy < self.workers and not self._waiters:
            self.busy += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            elif fut in self._waiters:
                self._waiters.remove(fut)
            raise

    def _release(self) -> None:
        """Hand the server to the next waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.busy -= 1


def spin(iterations: int) -> float:
    """CPU-bound work: sha256 chaining; returns the elapsed milliseconds."""
    start = time.monotonic()
    digest = b"edgeproof"
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest()
    return (time.monotonic() - start) * 1000.0


def _json_error(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}.get(status, web.HTTPBadRequest)
    return cls(text=json.dumps({"error": message}), content_type="application/json")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 saying what is wrong."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _json_error(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise _json_error(400, "body must be a JSON object")
    return body


def if_version_of(body: dict[str, Any]) -> int | None:
    """The optional `if_version` of a PUT, validated."""
    value = body.get("if_version")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _json_error(400, "'if_version' must be an integer >= 0")
    return value


def timed(resp: web.Response, wait_ms: float, held_ms: float, repl_t0: float) -> web.Response:
    """Add a standard Server-Timing header: queue wait, service and replication (ms)."""
    repl = (time.monotonic() - repl_t0) * 1000
    resp.headers["Server-Timing"] = (
        f"wait;dur={wait_ms:.3f}, service;dur={held_ms:.3f}, replication;dur={repl:.3f}")
    return resp


class Node:
    """One running node: its station, its replica, its peers and its HTTP handlers."""

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.station = Station(cfg.workers)
        self.times = ServiceTimes(cfg.service_ms, cfg.seed, cfg.distribution)
        order = lww_order if cfg.mode == "eventual" else tag_order
        self.store = Store(Path(cfg.data_dir) if cfg.data_dir else None, order)
        self.peers = Peers(cfg.peers, cfg.replica_timeout_ms / 1000.0)
        self.bg = Background()
        self.wall = WallClock(cfg.clock_file)
        self.repl = Replicator(cfg.name, cfg.mode, cfg.members, cfg.primary, self.store,
                               self.peers, self.bg, bug=cfg.bug, clock=self.wall)
        self.ingested: dict[str, int] = {}
        self.service_overshoot_ms = 0.0  # running mean of (held - sampled): timer granularity
        self.served = 0
        data = Path(cfg.data_dir) if cfg.data_dir else None
        self.pipe = PipelineConfig.parse(cfg.pipeline or {})
        self.buffer: Buffer | None = None
        self.forwarder: Forwarder | None = None
        self.sink = Sink(data) if cfg.sink else None
        self._upstream: dict[str, asyncio.Future[None]] = {}  # ack: upstream, by reading id
        if cfg.parent is not None:
            self.buffer = Buffer(data, self.pipe.capacity, self.pipe.overflow)
            self.forwarder = Forwarder(cfg.name, cfg.peers[cfg.parent], self.pipe, self.buffer,
                                       bug=cfg.bug)
            self.forwarder.acked = self._acked_upstream
        ctl = ControlConfig.parse(cfg.control)
        self.control = (ControlPlane(cfg.name, ctl, data, cfg.seed, bug=cfg.bug)
                        if ctl is not None else None)

    async def start(self) -> None:
        await self.peers.start()
        if self.repl.runs_anti_entropy():
            self.bg.spawn(self.repl.anti_entropy(self.cfg.anti_entropy_ms / 1000.0))
        if self.forwarder is not None:
            self.bg.spawn(self.forwarder.run())
        if self.control is not None:
            self.bg.spawn(self.control.run())

    async def close(self) -> None:
        await self.bg.close()
        await self.peers.close()
        self.store.close()
        for part in (self.buffer, self.sink, self.control):
            if part is not None:
                part.close()

    async def serve(self) -> tuple[float, float]:
        """Wait for a server and hold it for one sampled service time; (wait, held) in ms."""
        t0 = time.monotonic()
        async with self.station.slot():
            t1 = time.monotonic()
            sampled = self.times.next_ms()
            await asyncio.sleep(sampled / 1000.0)
            held = (time.monotonic() - t1) * 1000
        self.served += 1
        self.service_overshoot_ms += (held - sampled - self.service_overshoot_ms) / self.served
        return (t1 - t0) * 1000, held

    # --- client endpoints --------------------------------------------------------------
    async def get_kv(self, request: web.Request) -> web.Response:
        wait, held = await self.serve()
        t = time.monotonic()
        status, body = await self.repl.read(request.match_info["key"])
        return timed(web.json_response(body, status=status), wait, held, t)

    async def put_kv(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if "value" not in body:
            raise _json_error(400, "body must carry 'value'")
        if_version = if_version_of(body)
        wait, held = await self.serve()
        t = time.monotonic()
        status, reply = await self.repl.write(request.match_info["key"], body["value"],
                                              if_version)
        return timed(web.json_response(reply, status=status), wait, held, t)

    async def ingest(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if "id" in body:
            return await self._ingest_reading(body)
        device, readings = body.get("device"), body.get("readings")
        if not isinstance(device, str) or not isinstance(readings, list):
            raise _json_error(400, "body must be {\"device\": str, \"readings\": [...]}")
        await self.serve()
        self.ingested[device] = self.ingested.get(device, 0) + len(readings)
        return web.json_response({"accepted": len(readings)})

    async def _ingest_reading(self, body: dict[str, Any]) -> web.Response:
        """One device reading into the pipeline: acked after the local append, or once the
        parent has it (``ack: upstream``); 507 when the buffer refuses it."""
        rid, device = body.get("id"), body.get("device")
        if not isinstance(rid, str) or not rid or not isinstance(device, str):
            raise _json_error(400, "body must be {\"device\": str, \"id\": str, \"value\": ...}")
        if self.buffer is None and self.sink is None:
            return web.json_response({"error": f"{self.cfg.name} is not in a pipeline (no "
                                      "parent, no children)"}, status=409)
        wait, held = await self.serve()
        t = time.monotonic()
        self.ingested[device] = self.ingested.get(device, 0) + 1
        reading = [rid, self.cfg.name]
        if self.sink is not None:
            self.sink.receive([reading])
            return timed(web.json_response({"accepted": 1}), wait, held, t)
        assert self.buffer is not None
        upstream = self.pipe.ack == "upstream"
        if upstream:
            fut = self._upstream[rid] = asyncio.get_running_loop().create_future()
        try:
            await self.buffer.put([reading], self.pipe.timeout_ms / 1000.0)
        except BufferFull as exc:
            self._upstream.pop(rid, None)
            return web.json_response({"error": str(exc)}, status=507)
        if upstream:
            try:
                await fut
            finally:
                self._upstream.pop(rid, None)
        return timed(web.json_response({"accepted": 1}), wait, held, t)

    def _acked_upstream(self, readings: list[list[str]]) -> None:
        for r in readings:
            fut = self._upstream.get(r[0])
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def internal_batch(self, request: web.Request) -> web.Response:
        """A child's batch: into this node's buffer, or kept when this node is the sink."""
        body = await read_json(request)
        readings = parse_readings(body.get("readings"))
        if readings is None:
            raise _json_error(400, "'readings' must be a list of [id, gateway] strings")
        await self.serve()
        if self.sink is not None:
            self.sink.receive(readings)
            return web.json_response({"accepted": len(readings)})
        if self.buffer is None:
            return web.json_response({"error": f"{self.cfg.name} neither forwards nor sinks"},
                                     status=409)
        try:
            await self.buffer.put(readings, self.pipe.timeout_ms / 2000.0)
        except BufferFull as exc:
            return web.json_response({"error": str(exc)}, status=507)
        return web.json_response({"accepted": len(readings)})

    async def received(self, request: web.Request) -> web.Response:
        """The sink's receipts from index ``after`` (long-polled up to ``wait_ms``)."""
        if self.sink is None:
            return web.json_response({"error": f"{self.cfg.name} is not the sink"}, status=409)
        try:
            after = int(request.query.get("after", "0"))
            wait_ms = float(request.query.get("wait_ms", "0"))
        except ValueError:
            raise _json_error(400, "'after' is an int, 'wait_ms' a number") from None
        nxt, part = await self.sink.poll(max(0, after), min(max(wait_ms, 0.0), 30_000) / 1000)
        return web.json_response({"next": nxt, "readings": part,
                                  "duplicates": self.sink.duplicates})

    def pipeline_metrics(self) -> dict[str, Any]:
        """Backlog, drops and uplink counters of a forwarding node; receipts of a sink."""
        out: dict[str, Any] = {}
        if self.buffer is not None and self.forwarder is not None:
            fw = self.forwarder
            out.update(backlog=len(self.buffer), dropped=self.buffer.dropped,
                       refused=self.buffer.refused, capacity=self.buffer.capacity,
                       sent_batches=fw.sent_batches, sent_readings=fw.sent_readings,
                       send_failures=fw.failures, uplink_bytes=fw.bytes_sent,
                       retrying=fw.retrying_since is not None)
        if self.sink is not None:
            out.update(received=len(self.sink.log), distinct=len(self.sink.seen),
                       duplicates=self.sink.duplicates)
        return out

    async def cpu(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        n = body.get("iterations")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_CPU_ITERATIONS:
            raise _json_error(400, f"'iterations' must be an integer 0..{MAX_CPU_ITERATIONS}")
        async with self.station.slot():
            elapsed = await asyncio.get_running_loop().run_in_executor(None, spin, n)
        return web.json_response({"iterations": n, "elapsed_ms": elapsed})

    # --- observability -----------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "name": self.cfg.name, "mode": self.cfg.mode})

    async def clock(self, request: web.Request) -> web.Response:
        ns = self.wall.time_ns()
        return web.json_response({"name": self.cfg.name, "time": ns / 1e9, "time_ns": ns,
                                  "offset_s": self.wall.offset_s()})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response({
            "name": self.cfg.name, "queue_length": self.station.queue_length,
            "in_service": self.station.busy, "completed": self.station.completed,
            "workers": self.cfg.workers, "service_ms": self.cfg.service_ms,
            "replication_lag_ms": self.repl.lag_ms(), "keys": len(self.store.entries),
            "mode": self.cfg.mode, "ingested": sum(self.ingested.values()),
            "service_overshoot_ms": self.service_overshoot_ms, **self.pipeline_metrics(),
            **(self.control.metrics() if self.control is not None else {}),
        })

    # --- internal replica RPCs (free of service time) ----------------------------------
    async def internal_query(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response(self.repl.answer_query(str(body.get("key", ""))))

    async def internal_store(self, request: web.Request) -> web.Response:
        return web.json_response(self.repl.answer_store(await self._entry(request)))

    async def internal_sync(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        try:
            entries = [Entry.from_json(e) for e in body.get("entries", [])]
        except (KeyError, TypeError, ValueError):
            raise _json_error(400, "malformed entries") from None
        return web.json_response({"ok": True, "applied": self.store.merge(entries)})

    async def internal_forward(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if self.cfg.name != self.cfg.primary:
            return web.json_response({"error": f"{self.cfg.name} is not the primary"},
                                     status=503)
        status, reply = await self.repl.primary_write(
            str(body.get("key", "")), body.get("value"), if_version_of(body))
        return web.json_response(reply, status=status)

    async def _entry(self, request: web.Request) -> Entry:
        try:
            return Entry.from_json(await read_json(request))
        except (KeyError, TypeError, ValueError):
            raise _json_error(400, "malformed entry") from None


def make_app(node: Node) -> web.Application:
    """The aiohttp application of one node."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.add_routes([
        web.get("/kv/{key:.+}", node.get_kv), web.put("/kv/{key:.+}", node.put_kv),
        web.post("/ingest", node.ingest), web.post("/cpu", node.cpu),
        web.get("/health", node.health), web.get("/clock", node.clock),
        web.get("/metrics", node.metrics),
        web.post("/internal/query", node.internal_query),
        web.post("/internal/store", node.internal_store),
        web.post("/internal/sync", node.internal_sync),
        web.post("/internal/forward", node.internal_forward),
        web.post("/internal/batch", node.internal_batch),
        web.get("/received", node.received),
        *(node.control.routes() if node.control is not None else []),
    ])
    return app


def control_app(node: Node) -> web.Application:
    """The control port's application: the control plane's routes only (and /health)."""
    assert node.control is not None
    app = web.Application()
    app.add_routes([web.get("/health", node.health), *node.control.routes()])
    return app


async def run(cfg: NodeConfig) -> int:
    """Serve until SIGTERM/SIGINT (exit 0); 2 if the address cannot be bound."""
    node = Node(cfg)
    runner = web.AppRunner(make_app(node), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    runners = [runner]
    ctl_port = node.control.cfg.port if node.control is not None else None
    try:
        await web.TCPSite(runner, cfg.host, cfg.port).start()
        if ctl_port is not None:
            runners.append(web.AppRunner(control_app(node), access_log=None,
                                         handle_signals=False, shutdown_timeout=1.0))
            await runners[-1].setup()
            await web.TCPSite(runners[-1], cfg.host, ctl_port).start()
    except OSError as exc:
        reason = ("address already in use" if exc.errno == errno.EADDRINUSE
                  else (exc.strerror or str(exc)).lower())
        print(f"{cfg.name}: cannot listen on {cfg.host}:{cfg.port}"
              f"{f' or {ctl_port}' if ctl_port else ''}: {reason}; is another node or a "
              "leftover run using it? (`edgeproof clean` reaps leftovers)", file=sys.stderr)
        for r in runners:
            await r.cleanup()
        node.store.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    log.info("%s: serving %s on %s:%d", cfg.name, cfg.mode, cfg.host, cfg.port)
    await stop.wait()
    log.info("%s: shutting down", cfg.name)
    for r in runners:
        await r.cleanup()
    await node.close()
    return 0


def wait_for_start(fifo: Path) -> bool:
    """A standby node (imports done, nothing bound) blocks here until the testbed writes a
    byte to ``fifo`` (True: serve) or closes it without one (False: exit)."""
    with fifo.open("rb") as f:
        return f.read(1) != b""


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse --config, validate it, run the node (after ``--standby FIFO``
    says so: a crashed node's restart then costs no interpreter start-up)."""
    parser = argparse.ArgumentParser(prog="python -m testbeds.service",
                                     description="edgeproof reference edge service node")
    parser.add_argument("--config", required=True, type=Path, help="path to node.json")
    parser.add_argument("--standby", type=Path, help="a FIFO: start when a byte arrives")
    args = parser.parse_args(argv)
    if args.standby is not None and not wait_for_start(args.standby):
        return 0
    return serve(args.config)


def serve(config: Path) -> int:
    """Validate node.json and run the node (its exit code); shared by :func:`main` and a
    template's forked child (`testbeds.template`)."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        print(f"edge service: {config}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stderr, level=cfg.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(run(cfg))


if __name__ == "__main__":
    sys.exit(main())
