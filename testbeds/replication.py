"""Replica state and peer plumbing of the reference edge service.

`Store` is one node's replica: an in-memory map of `Entry` values backed by an append-only
write log (`kv.jsonl`), so a node restarted after a crash keeps its data. Which of two entries
wins is decided by an ordering the mode chooses: `Entry.tag` (version, writer) for `quorum` and
`primary`, `Entry.lww` (wall-clock timestamp, writer) for `eventual`.

`Peers` is the node's only way to talk to other nodes: it posts JSON to the addresses it was
given (the link proxies) through one pooled aiohttp session; any error or timeout is "no answer".
`gather` contacts members in parallel and returns as soon as enough of them answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

log = logging.getLogger("edgeproof.service")

LOG_NAME = "kv.jsonl"


class WallClock:
    """The node's own wall clock: the host's plus the offset in its clock file (libfaketime's
    ``+1.5`` syntax, re-read when the file changes), so clock-skew faults move a node forked
    from a template, where LD_PRELOAD cannot reach (without a file: the host's clock, which
    libfaketime may be skewing)."""

    RECHECK_S = 0.2  # re-read at least this often: a rename may reuse inode and mtime tick

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._read_at = 0.0
        self._offset = 0.0

    def offset_s(self) -> float:
        """The offset now (0 without a file; the last good value if it is unreadable)."""
        if self.path is None:
            return 0.0
        try:
            st = os.stat(self.path)
        except OSError:
            return 0.0
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        now = time.monotonic()
        if key != self._key or now - self._read_at > self.RECHECK_S:
            self._key, self._read_at = key, now
            self._offset = self._parse(self._offset)
        return self._offset

    def _parse(self, last: float) -> float:
        try:
            with open(self.path or "", encoding="ascii") as f:
                text = f.read().strip()
            return float(text) if text else 0.0
        except (OSError, ValueError):
            return last

    def time(self) -> float:
        """Seconds since the epoch by this node's clock."""
        return time.time() + self.offset_s()

    def time_ns(self) -> int:
        """Nanoseconds since the epoch by this node's clock."""
        return time.time_ns() + round(self.offset_s() * 1e9)


class Tag(NamedTuple):
    """ABD timestamp: a version number with the writer's name as tie-break (tuple order)."""

    version: int
    writer: str


ABSENT = Tag(0, "")


@dataclass(frozen=True)
class Entry:
    """One key's value with its version, writer and the writer's wall-clock time."""

    key: str
    value: Any
    version: int
    writer: str
    ts: float

    @property
    def tag(self) -> Tag:
        """The (version, writer) tag used by `quorum` and `primary`."""
        return Tag(self.version, self.writer)

    @property
    def lww(self) -> tuple[float, str]:
        """The last-writer-wins order used by `eventual`: wall clock, then writer name."""
        return (self.ts, self.writer)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "version": self.version,
                "writer": self.writer, "ts": self.ts}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        """Parse an entry; raises KeyError/TypeError/ValueError on a malformed one."""
        return cls(key=str(raw["key"]), value=raw.get("value"), version=int(raw["version"]),
                   writer=str(raw["writer"]), ts=float(raw.get("ts", 0.0)))


Order = Callable[[Entry], tuple[Any, ...]]


def tag_order(entry: Entry) -> tuple[Any, ...]:
    return entry.tag


def lww_order(entry: Entry) -> tuple[Any, ...]:
    return entry.lww


class Store:
    """A node's replica: per key the entry largest under `order`; each apply is logged."""

    def __init__(self, data_dir: Path | None, order: Order) -> None:
        self.order = order
        self.entries: dict[str, Entry] = {}
        self._log = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            path = data_dir / LOG_NAME
            self._reload(path)
            self._log = path.open("a", encoding="utf-8")

    def _reload(self, path: Path) -> None:
        """Replay the write log; a torn last line (crash mid-write) is cut off and ignored."""
        if not path.exists():
            return
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            keep = raw.rfind(b"\n") + 1
            log.warning("%s: ignoring a torn last line (%d bytes)", path, len(raw) - keep)
            with path.open("r+b") as fh:
                fh.truncate(keep)
            raw = raw[:keep]
        for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
            try:
                self.apply(Entry.from_json(json.loads(line)), durable=False)
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: ignoring a malformed line", path, n)

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def tag(self, key: str) -> Tag:
        entry = self.entries.get(key)
        return entry.tag if entry else ABSENT

    def apply(self, entry: Entry, durable: bool = True) -> bool:
        """Keep `entry` if it beats the current one; returns whether it was applied."""
        current = self.entries.get(entry.key)
        if current is not None and self.order(entry) <= self.order(current):
            return False
        self.entries[entry.key] = entry
        if durable and self._log is not None:
            self._log.write(json.dumps(entry.to_json(), separators=(",", ":")) + "\n")
            self._log.flush()  # survives a process crash (SIGKILL); fsync would block the loop
        return True

    def merge(self, entries: Iterable[Entry]) -> int:
        """Apply each entry that wins; returns how many did."""
        return sum(1 for e in entries if self.apply(e))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Peers:
    """JSON-over-HTTP to the other members, only via the addresses this node was given."""

    def __init__(self, addresses: dict[str, str], timeout_s: float) -> None:
        self.addresses = dict(addresses)
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=256, limit_per_host=64)
        self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, peer: str, path: str, body: dict[str, Any],
                      timeout_s: float | None = None) -> tuple[int, dict[str, Any]] | None:
        """POST `body` to `peer`; (status, JSON) or None on no address, error or timeout."""
        address = self.addresses.get(peer)
        if address is None or self._session is None:
            return None
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self._session.post(f"http://{address}{path}", json=body,
                                          timeout=timeout) as resp:
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            log.debug("no answer from %s %s: %r", peer, path, exc)
            return None

    async def call(self, peer: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Like `request`, but only a 200 counts as an answer."""
        answer = await self.request(peer, path, body)
        if answer is None or answer[0] != 200:
            return None
        return answer[1]


class Background:
    """Keeps fire-and-forget tasks referenced until they end; cancels them on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.adopt(task)
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def gather(local: dict[str, Any] | None, remotes: Iterable[Awaitable[dict[str, Any] | None]],
                 need: int, background: Background) -> list[dict[str, Any]]:
    """Answers from the local replica and the remotes, returning once `need` answered.

    Remotes still running then are left to finish in `background` (each is bounded by its
    own RPC timeout), so e.g. a write still reaches the slower replicas.
    """
    answers = [local] if local is not None else []
    pending = {asyncio.ensure_future(r) for r in remotes}
    while pending and len(answers) < need:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        answers.extend(a for a in (t.result() for t in done) if a is not None)
    for task in pending:
        background.adopt(task)
    return answers



Reply = tuple[int, dict[str, Any]]


def absent(key: str) -> Entry:
    """The stand-in for a key no write has reached: version 0, no writer."""
    return Entry(key=key, value=None, version=0, writer="", ts=0.0)


def kv_reply(key: str, entry: Entry | None) -> Reply:
    """200 with the entry, or 404 with value null and version 0."""
    if entry is None or entry.version == 0:
        return 404, {"key": key, "value": None, "version": 0}
    return 200, {"key": key, "value": entry.value, "version": entry.version}


def unavailable(error: str, reached: int, needed: int) -> Reply:
    return 503, {"error": error, "reached": reached, "needed": needed}


# seeded bugs the checks must catch (consistency, delivery, rollout order)
BUGS = ("read_one", "early_ack", "drop_on_retry", "stale_version")


class Replicator:
    """The replication modes: quorum (ABD), primary (synchronous) and eventual (LWW)."""

    def __init__(self, name: str, mode: str, members: list[str], primary: str, store: Store,
                 peers: Peers, background: Background, bug: str | None = None,
                 clock: WallClock | None = None) -> None:
        self.name, self.mode, self.primary, self.bug = name, mode, primary, bug
        self.clock = clock or WallClock()
        self.store, self.peers, self.bg = store, peers, background
        self.quorum = len(members) // 2 + 1
        self.others = [m for m in members if m != name and m in peers.addresses]
        self.locks: dict[str, asyncio.Lock] = {}
        self.last_sync = time.monotonic()
        # ABD tags must be unique per write: this node coordinates many clients' writes at
        # once, so (version, node name) alone would give two concurrent writes one tag.
        self._boot = uuid.uuid4().hex[:8]
        self._seq = 0

    def writer_id(self) -> str:
        """A writer tag unique to this write: node name, boot id, sequence number."""
        self._seq += 1
        return f"{self.name}/{self._boot}/{self._seq:012d}"

    # --- the replica side (what /internal/* answers) -------------------------------------
    def answer_query(self, key: str) -> dict[str, Any]:
        return (self.store.get(key) or absent(key)).to_json()

    def answer_store(self, entry: Entry) -> dict[str, Any]:
        return {"ok": True, "applied": self.store.apply(entry)}

    # --- client operations ----------------------------------------------------------------
    async def read(self, key: str) -> Reply:
        """Quorum mode reads a majority (with write-back); the others read locally."""
        if self.mode == "quorum":
            return await self._quorum_read(key)
        return kv_reply(key, self.store.get(key))

    async def write(self, key: str, value: Any, if_version: int | None) -> Reply:
        """Dispatch a client write to the mode's protocol."""
        if self.mode == "quorum":
            return await self._quorum_write(key, value, if_version)
        if self.mode == "primary":
            if self.name != self.primary:
                return await self._forward(key, value, if_version)
            return await self.primary_write(key, value, if_version)
        return self._eventual_write(key, value, if_version)

    # --- quorum (ABD) ---------------------------------------------------------------------
    async def _query(self, peer: str, key: str) -> Entry | None:
        raw = await self.peers.call(peer, "/internal/query", {"key": key})
        try:
            return Entry.from_json(raw) if raw is not None else None
        except (KeyError, TypeError, ValueError):
            return None

    async def _query_majority(self, key: str) -> list[Entry]:
        local = self.store.get(key) or absent(key)
        remotes = (self._query(m, key) for m in self.others)
        return await gather(local, remotes, self.quorum, self.bg)

    async def _store_majority(self, entry: Entry) -> int:
        """Phase 2: store `entry` at a majority; returns how many acknowledged."""
        local = self.answer_store(entry)
        remotes = (self.peers.call(m, "/internal/store", entry.to_json()) for m in self.others)
        return len(await gather(local, remotes, self.quorum, self.bg))

    async def _quorum_read(self, key: str) -> Reply:
        if self.bug == "read_one":  # seeded bug: a "quorum" read that asks one replica
            return kv_reply(key, self.store.get(key) or absent(key))
        answers = await self._query_majority(key)
        if len(answers) < self.quorum:
            return unavailable("read quorum not reachable", len(answers), self.quorum)
        best = max(answers, key=lambda e: e.tag)
        if best.tag != ABSENT and any(e.tag != best.tag for e in answers):
            acks = await self._store_majority(best)
            if acks < self.quorum:
                return unavailable("read write-back quorum not reachable", acks, self.quorum)
        return kv_reply(key, best)

    async def _quorum_write(self, key: str, value: Any, if_version: int | None) -> Reply:
        if if_version is not None:
            return 501, {"error": "compare-and-set (if_version) needs mode primary: quorum "
                                  "mode (ABD registers) cannot make it linearizable"}
        if self.bug == "early_ack":  # seeded bug: acknowledge before replicating
            return self._early_ack(key, value)
        answers = await self._query_majority(key)
        if len(answers) < self.quorum:
            return unavailable("write quorum not reachable (query phase)", len(answers),
                               self.quorum)
        top = max(e.tag for e in answers)
        entry = Entry(key, value, top.version + 1, self.writer_id(), self.clock.time())
        acks = await self._store_majority(entry)
        if acks < self.quorum:
            return unavailable("write quorum not reachable (store phase); the write may "
                               "have been applied", acks, self.quorum)
        return kv_reply(key, entry)

    def _early_ack(self, key: str, value: Any) -> Reply:
        """The seeded bug: apply locally, answer at once, replicate in the background."""
        local = self.store.get(key) or absent(key)
        entry = Entry(key, value, local.version + 1, self.writer_id(), self.clock.time())
        self.store.apply(entry)
        self.bg.spawn(self._store_majority(entry))
        return kv_reply(key, entry)

    # --- primary ----------------------------------------------------------------------
    def forward_timeout_s(self) -> float:
        """How long a non-primary waits for the primary: its queue plus its replication."""
        return 4 * self.peers.timeout_s

    async def _forward(self, key: str, value: Any, if_version: int | None) -> Reply:
        body = {"key": key, "value": value, "if_version": if_version}
        reply = await self.peers.request(self.primary, "/internal/forward", body,
                                         timeout_s=self.forward_timeout_s())
        if reply is None:
            return unavailable(f"primary {self.primary} unreachable from {self.name}; "
                               "the write may have been applied", 0, 1)
        return reply

    def _mismatch(self, key: str, current: Entry | None, if_version: int) -> Reply:
        version = current.version if current else 0
        return 412, {"error": f"version mismatch: if_version {if_version}, current {version}",
                     "key": key, "value": current.value if current else None,
                     "version": version}

    async def primary_write(self, key: str, value: Any, if_version: int | None) -> Reply:
        """Serialize per key, apply locally, then wait for every replica's acknowledgement."""
        async with self.locks.setdefault(key, asyncio.Lock()):
            current = self.store.get(key)
            version = current.version if current else 0
            if if_version is not None and if_version != version:
                return self._mismatch(key, current, if_version)
            entry = Entry(key, value, version + 1, self.name, self.clock.time())
            self.store.apply(entry)
            acks = await asyncio.gather(
                *(self.peers.call(m, "/internal/store", entry.to_json()) for m in self.others))
        reached, needed = 1 + sum(a is not None for a in acks), 1 + len(self.others)
        if reached < needed:
            return unavailable("replicas did not acknowledge in time; the write was applied "
                               "at the primary and may be visible", reached, needed)
        return kv_reply(key, entry)

    # --- eventual ---------------------------------------------------------------------
    def _eventual_write(self, key: str, value: Any, if_version: int | None) -> Reply:
        """Apply locally by last-writer-wins, answer at once, replicate fire-and-forget."""
        current = self.store.get(key)
        version = current.version if current else 0
        if if_version is not None and if_version != version:
            return self._mismatch(key, current, if_version)
        entry = Entry(key, value, version + 1, self.name, self.clock.time())
        self.store.apply(entry)  # may lose to a newer timestamp: the LWW anomaly, by design
        body = {"entries": [entry.to_json()]}
        for peer in self.others:
            self.bg.spawn(self.peers.call(peer, "/internal/sync", body))
        return kv_reply(key, entry)

    # --- anti-entropy -------------------------------------------------------------------
    def runs_anti_entropy(self) -> bool:
        """Every node in eventual mode; the primary in primary mode (to catch up replicas)."""
        return self.mode == "eventual" or (self.mode == "primary" and self.name == self.primary)

    async def sync_round(self) -> bool:
        """Push every entry to every peer; True (and lag reset) if all acknowledged."""
        body = {"entries": [e.to_json() for e in list(self.store.entries.values())]}
        acks = await asyncio.gather(
            *(self.peers.call(m, "/internal/sync", body) for m in self.others))
        ok = all(a is not None for a in acks)
        if ok:
            self.last_sync = time.monotonic()
        return ok

    async def anti_entropy(self, period_s: float) -> None:
        """Run sync rounds forever, one every `period_s`."""
        while True:
            await asyncio.sleep(period_s)
            await self.sync_round()

    def lag_ms(self) -> float:
        """Eventual: ms since the last round every peer acknowledged; synchronous modes: 0."""
        if self.mode != "eventual":
            return 0.0
        return (time.monotonic() - self.last_sync) * 1000.0
