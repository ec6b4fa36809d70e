"""The reference service's control plane: a configuration version published at the root of a
tree and carried down it, by ``push`` (each node sends the newest version to each child,
retrying every ``retry_ms`` until the child has it) or by ``pull`` (each node asks its parent
every ``poll_s``, at a seeded phase of its own).

A node applies a version only when it is newer than the one it has, and appends each one it
applies to ``data_dir/control.jsonl`` (the version, ``t_ns`` from the monotonic clock that
every process of one host shares with the harness, its wall clock, who sent it); a restart
replays that file. Control traffic goes only to the addresses it was given for the control
port (``parent``, ``children``: link proxies), on a port of its own and tasks of its own: the
data plane never waits on it.

Seeded bug ``stale_version`` (push): a node applies whatever version arrives, and its pusher
retries the versions it owes a child newest first, so after a cut heals a child applies the
newest and then an older one.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

CONTROL_MODES = ("push", "pull")
STALE_VERSION = "stale_version"


@dataclass(frozen=True)
class ControlConfig:
    """One node's control-plane settings (node.json ``control``)."""

    mode: str = "push"
    poll_s: float = 1.0
    retry_ms: float = 500.0
    timeout_ms: float = 1000.0
    port: int | None = None  # its own control port (None: served on the main port only)
    parent: str | None = None  # host:port of the parent's control port, through the link
    children: dict[str, str] = field(default_factory=dict)  # name -> host:port, likewise

    @classmethod
    def parse(cls, raw: Any) -> ControlConfig | None:
        """The validated settings, or None when the node has no control plane; ValueError
        naming the field otherwise."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise ValueError("'control' must be an object")
        known = set(cls.__dataclass_fields__)
        cfg = cls(**{k: v for k, v in raw.items() if k in known})
        if cfg.mode not in CONTROL_MODES:
            raise ValueError(f"'control.mode' must be one of {CONTROL_MODES}, not {cfg.mode!r}")
        for key in ("poll_s", "retry_ms", "timeout_ms"):
            value = getattr(cfg, key)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"'control.{key}' must be a number > 0")
        if not isinstance(cfg.children, dict):
            raise ValueError("'control.children' must map names to 'host:port'")
        return cfg


class ControlPlane:
    """A node's applied version, its log, and the tasks that carry versions to its children
    (push) or fetch them from its parent (pull)."""

    def __init__(self, name: str, cfg: ControlConfig, data_dir: Path | None, seed: int,
                 bug: str | None = None) -> None:
        self.name, self.cfg, self.bug = name, cfg, bug
        self.version = 0
        self.log: list[dict[str, Any]] = []
        self.attempts = self.failures = 0
        self._changed = asyncio.Event()
        self._rng = random.Random(seed)
        self._path = data_dir / "control.jsonl" if data_dir is not None else None
        self._replay()
        self._file = self._path.open("a", encoding="utf-8") if self._path else None

    def _replay(self) -> None:
        if self._path is None or not self._path.exists():
            return
        for line in self._path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            self.log.append(entry)
            self.version = int(entry["version"])

    def apply(self, version: int, source: str) -> bool:
        """Take ``version`` if it is newer (any other one under the seeded bug); logged."""
        if version == self.version or (version < self.version and self.bug != STALE_VERSION):
            return False
        entry = {"version": version, "t_ns": time.monotonic_ns(), "wall_ns": time.time_ns(),
                 "from": source}
        self.log.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
        self.version = version
        self._changed.set()
        return True

    def metrics(self) -> dict[str, Any]:
        """What /metrics reports of the control plane."""
        last = self.log[-1] if self.log else None
        return {"config_version": self.version,
                "config_applied_ns": last["t_ns"] if last else None,
                "control_mode": self.cfg.mode, "control_attempts": self.attempts,
                "control_failures": self.failures}

    # --- the channel ------------------------------------------------------------------
    async def run(self) -> None:
        """Carry versions until cancelled: a pusher per child, or a poller of the parent."""
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_ms / 1000.0)
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = []
            if self.cfg.mode == "push":
                tasks = [self._push(session, child, addr)
                         for child, addr in sorted(self.cfg.children.items())]
            elif self.cfg.parent is not None:
                tasks = [self._pull(session, self.cfg.parent)]
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()

    async def _push(self, session: aiohttp.ClientSession, child: str, addr: str) -> None:
        """Send the newest version to one child until it has it; retry after each failure.
        First one ask of the child's version: the connection is open before a rollout needs
        it (a first request's set-up is not a hop's delay)."""
        await self._ask(session, addr)
        acked, seen, owed = 0, 0, []
        while True:
            if self.version != seen:
                seen = self.version
                owed.append(seen)
            want = self._next_owed(owed, acked)
            if want is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            if await self._send(session, addr, want):
                acked = want if self.bug == STALE_VERSION else max(acked, want)
                owed = [v for v in owed if v != want]
            else:
                await asyncio.sleep(self.cfg.retry_ms / 1000.0)

    def _next_owed(self, owed: list[int], acked: int) -> int | None:
        """The version to send next: the newest not acked (the seeded bug: every owed one,
        newest first)."""
        if self.bug == STALE_VERSION:
            return owed[-1] if owed else None
        return self.version if self.version > acked else None

    async def _send(self, session: aiohttp.ClientSession, addr: str, version: int) -> bool:
        self.attempts += 1
        try:
            async with session.post(f"http://{addr}/control/apply",
                                    json={"version": version, "from": self.name}) as resp:
                await resp.read()
                ok = resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            ok = False
        self.failures += not ok
        return ok

    async def _ask(self, session: aiohttp.ClientSession, addr: str) -> int | None:
        """The version a peer holds (None: it did not answer)."""
        try:
            async with session.get(f"http://{addr}/control/version") as resp:
                return int((await resp.json())["version"])
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, TypeError):
            return None

    async def _pull(self, session: aiohttp.ClientSession, addr: str) -> None:
        """Ask the parent for its version every ``poll_s`` (a seeded first phase); newer is
        applied."""
        period = self.cfg.poll_s
        next_t = time.monotonic() + self._rng.uniform(0.0, period)
        while True:
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            next_t += period * max(1, int((time.monotonic() - next_t) // period) + 1)
            self.attempts += 1
            version = await self._ask(session, addr)
            if version is None:
                self.failures += 1
                continue
            if version > self.version:
                self.apply(version, "parent")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- endpoints --------------------------------------------------------------------
    async def get_version(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "version": self.version})

    async def get_log(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "log": self.log})

    async def post_apply(self, request: web.Request) -> web.Response:
        """A parent's push (or the harness's publish at the root)."""
        try:
            body = await request.json()
            version = body["version"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be {\"version\": int}"}, status=400)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            return web.json_response({"error": "'version' must be an integer >= 1"},
                                     status=400)
        applied = self.apply(version, str(body.get("from") or "publish"))
        return web.json_response({"name": self.name, "version": self.version,
                                  "applied": applied})

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/control/version", self.get_version),
                web.get("/control/log", self.get_log),
                web.post("/control/apply", self.post_apply)]
