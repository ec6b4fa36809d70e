"""Store-and-forward in the reference service: a node with a parent keeps the readings it
takes (from devices or from its children) in an append-only buffer on disk and forwards them
upstream in batches; the node without a parent is the sink and keeps what reached it.

- `Buffer`: ``capacity`` readings, the overflow policy (``drop_oldest`` evicts the oldest
  unsent, ``drop_newest`` refuses, ``block`` waits), ``buffer.jsonl`` appended with a plain
  write per request (the page cache survives SIGKILL; no fsync per reading) and
  ``buffer.head`` (readings consumed: forwarded or evicted) rewritten after each batch.
- `Forwarder`: one connection to the parent's link address (Toxiproxy shapes bandwidth per
  connection), one batch in flight, sent when ``batch`` readings wait or ``linger_ms`` after
  the first; a failed or timed-out send is retried after ``backoff_ms`` (doubling up to
  ``backoff_max_ms``). Retries can duplicate a batch upstream: the sink counts duplicates.
- `Sink`: every receipt logged in order (``received.jsonl`` too), long-polled by observers
  through ``GET /received?after=N&wait_ms=W``.

A reading on the wire is ``[id, gateway]``: its unique id and the node it entered at.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger("edgeproof.forward")

Reading = list[str]  # [id, gateway]
OVERFLOWS = ("drop_oldest", "drop_newest", "block")
ACKS = ("local", "upstream")
MAX_POLL = 5000  # receipts per /received answer


class BufferFull(Exception):
    """The buffer refused readings (``drop_newest``, or ``block`` past its wait)."""


@dataclass(frozen=True)
class PipelineConfig:
    """One forwarding node's settings (node.json ``pipeline``)."""

    batch: int = 50
    linger_ms: float = 20.0
    backoff_ms: float = 200.0
    backoff_max_ms: float | None = None
    timeout_ms: float = 1000.0
    ack: str = "local"
    capacity: int = 100_000
    overflow: str = "drop_oldest"

    @classmethod
    def parse(cls, raw: Any) -> PipelineConfig:
        """Validate node.json's ``pipeline`` object; ValueError says which field."""
        if not isinstance(raw, dict):
            raise ValueError("'pipeline' must be an object")
        cfg = cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        if not isinstance(cfg.batch, int) or cfg.batch < 1:
            raise ValueError("'pipeline.batch' must be an int >= 1")
        if not isinstance(cfg.capacity, int) or cfg.capacity < cfg.batch:
            raise ValueError("'pipeline.capacity' must be an int >= batch")
        if cfg.overflow not in OVERFLOWS or cfg.ack not in ACKS:
            raise ValueError(f"'pipeline.overflow' is one of {OVERFLOWS}, 'ack' one of {ACKS}")
        return cfg


class Buffer:
    """Readings waiting to go upstream, oldest first; the in-flight batch stays counted."""

    def __init__(self, data_dir: Path | None, capacity: int, overflow: str) -> None:
        self.capacity, self.overflow = capacity, overflow
        self.queue: deque[Reading] = deque()
        self.arrived: deque[float] = deque()  # monotonic arrival of each queued reading
        self.inflight: list[Reading] = []
        self.dropped = 0  # evicted by drop_oldest
        self.refused = 0  # refused by drop_newest / block
        self.evicted_ids: deque[str] = deque(maxlen=10_000)
        self._skip_after_inflight = 0  # evicted while a batch was in flight (head moves later)
        self.changed = asyncio.Event()
        self._room = asyncio.Event()
        self._dir = data_dir
        self.head = 0
        self._file = None
        if data_dir is not None:
            self._replay(data_dir)
            self._file = (data_dir / "buffer.jsonl").open("a", encoding="utf-8")

    def _replay(self, data_dir: Path) -> None:
        """Readings appended and not yet consumed before a restart come back, in order."""
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.head = int((data_dir / "buffer.head").read_text() or 0)
        except (OSError, ValueError):
            self.head = 0
        try:
            lines = (data_dir / "buffer.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        now = time.monotonic()
        for line in lines[self.head:]:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed node
            self.queue.append([str(r[0]), str(r[1])])
            self.arrived.append(now)

    def __len__(self) -> int:
        return len(self.queue) + len(self.inflight)

    async def put(self, readings: list[Reading], wait_s: float) -> None:
        """Append readings under the overflow policy; BufferFull when refused."""
        if len(readings) > self.capacity:
            raise BufferFull(f"{len(readings)} readings exceed the capacity {self.capacity}")
        if self.overflow == "block":
            deadline = time.monotonic() + wait_s
            while len(self) + len(readings) > self.capacity:
                self._room.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    self.refused += len(readings)
                    raise BufferFull("buffer full (block): no room in time")
                try:
                    await asyncio.wait_for(self._room.wait(), left)
                except TimeoutError:
                    continue
        elif len(self) + len(readings) > self.capacity:
            if self.overflow == "drop_newest" or not self.queue:
                self.refused += len(readings)
                raise BufferFull(f"buffer full ({self.capacity} readings, drop_newest)")
            while len(self) + len(readings) > self.capacity and self.queue:
                self._evict()
        self._append(readings)

    def _evict(self) -> None:
        r = self.queue.popleft()
        self.arrived.popleft()
        self.dropped += 1
        self.evicted_ids.append(r[0])
        if self.inflight:
            self._skip_after_inflight += 1
        else:
            self._advance(1)

    def _append(self, readings: list[Reading]) -> None:
        if self._file is not None:
            self._file.write("".join(json.dumps(r, separators=(",", ":")) + "\n"
                                     for r in readings))
            self._file.flush()  # to the kernel: survives SIGKILL (not a power cut)
        now = time.monotonic()
        self.queue.extend(readings)
        self.arrived.extend([now] * len(readings))
        self.changed.set()

    def take(self, n: int) -> list[Reading]:
        """Move up to n of the oldest readings into flight."""
        k = min(n, len(self.queue))
        self.inflight = [self.queue.popleft() for _ in range(k)]
        for _ in range(k):
            self.arrived.popleft()
        return self.inflight

    def done(self) -> None:
        """The in-flight batch was acked upstream (or dropped by the seeded bug)."""
        self._advance(len(self.inflight) + self._skip_after_inflight)
        self.inflight, self._skip_after_inflight = [], 0
        self._room.set()

    def _advance(self, n: int) -> None:
        self.head += n
        if self._dir is not None:
            tmp = self._dir / "buffer.head.tmp"
            tmp.write_text(str(self.head))
            os.replace(tmp, self._dir / "buffer.head")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Forwarder:
    """Sends the buffer's readings to the parent, one batch in flight, retried on failure."""

    def __init__(self, name: str, parent_addr: str, cfg: PipelineConfig, buffer: Buffer,
                 bug: str | None = None) -> None:
        self.name, self.cfg, self.buffer, self.bug = name, cfg, buffer, bug
        self.url = f"http://{parent_addr}/internal/batch"
        self.sent_batches = self.sent_readings = self.failures = self.bytes_sent = 0
        self.acked: Callable[[list[Reading]], None] = lambda _r: None
        self.retrying_since: float | None = None
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        """Forever: wait for readings, linger, send, retry with backoff."""
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_ms / 1000.0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        try:
            while True:
                await self._next_batch()
                await self._deliver()
        finally:
            await self._session.close()

    async def _next_batch(self) -> None:
        buf = self.buffer
        while not buf.queue:
            buf.changed.clear()
            await buf.changed.wait()
        deadline = buf.arrived[0] + self.cfg.linger_ms / 1000.0
        while len(buf.queue) < self.cfg.batch and (left := deadline - time.monotonic()) > 0:
            buf.changed.clear()
            try:
                await asyncio.wait_for(buf.changed.wait(), left)
            except TimeoutError:
                break
        buf.take(self.cfg.batch)

    async def _deliver(self) -> None:
        backoff = self.cfg.backoff_ms / 1000.0
        top = (self.cfg.backoff_max_ms or self.cfg.backoff_ms) / 1000.0
        body = json.dumps({"from": self.name, "readings": self.buffer.inflight},
                          separators=(",", ":")).encode()
        while True:
            if await self._send(body):
                self.retrying_since = None
                self.sent_batches += 1
                self.sent_readings += len(self.buffer.inflight)
                self.acked(self.buffer.inflight)
                self.buffer.done()
                return
            self.failures += 1
            if self.retrying_since is None:
                self.retrying_since = time.monotonic()
            if self.bug == "drop_on_retry":  # seeded bug: a failed batch is dropped
                self.buffer.done()
                return
            await asyncio.sleep(backoff)
            backoff = min(top, backoff * 2)

    async def _send(self, body: bytes) -> bool:
        assert self._session is not None
        try:
            async with self._session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                self.bytes_sent += len(body)
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("%s: batch to parent failed: %r", self.name, exc)
            return False


class Sink:
    """What reached the top of the tree: every receipt, in order, and its duplicates."""

    def __init__(self, data_dir: Path | None) -> None:
        self.log: list[Reading] = []
        self.seen: dict[str, int] = {}
        self.duplicates = 0
        self.newest: dict[str, float] = {}  # gateway -> monotonic time of its newest receipt
        self._arrived = asyncio.Event()
        self._file = ((data_dir / "received.jsonl").open("a", encoding="utf-8")
                      if data_dir is not None else None)

    def receive(self, readings: list[Reading]) -> None:
        now = time.monotonic()
        for r in readings:
            n = self.seen.get(r[0], 0)
            self.seen[r[0]] = n + 1
            self.duplicates += n > 0
            self.newest[r[1]] = now
        self.log.extend(readings)
        if self._file is not None:
            self._file.write("".join(json.dumps(r, separators=(",", ":")) + "\n"
                                     for r in readings))
            self._file.flush()
        self._arrived.set()

    async def poll(self, after: int, wait_s: float) -> tuple[int, list[Reading]]:
        """Receipts from index ``after`` on, waiting up to ``wait_s`` for the first."""
        if after >= len(self.log) and wait_s > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait_s)
            except TimeoutError:
                pass
        part = self.log[after:after + MAX_POLL]
        return after + len(part), part

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def parse_readings(raw: Any) -> list[Reading] | None:
    """A batch's ``readings``: a list of [id, gateway] string pairs, or None if malformed."""
    if not isinstance(raw, list):
        return None
    out: list[Reading] = []
    for r in raw:
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)):
            return None
        out.append([r[0], r[1]])
    return out

