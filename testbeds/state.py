"""On-disk record of running testbeds, so `status`, `down` and `clean` work across processes.

Every testbed writes ``<state dir>/testbeds/<run_id>.json`` before it starts anything and
updates it as it goes; `edgeproof clean` reaps whatever a record names, plus every process
labelled with its run (testbeds.processes). Loopback slots are claimed machine-wide.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError
from testbeds.net import node_host, port_free
from testbeds.processes import RUN_LABEL, STATE_LABEL, alive, pid_alive

_SAVE_LOCK = threading.Lock()  # a run's nemesis threads save the same record



def state_tag() -> str:
    """A short stable tag of the current state dir, put on every process we start."""
    return hashlib.sha256(str(state_dir().resolve()).encode()).hexdigest()[:12]


def labels(run_id: str) -> dict[str, str]:
    """The environment labels of a process that belongs to run_id."""
    return {RUN_LABEL: run_id, STATE_LABEL: state_tag()}


def state_dir() -> Path:
    """Where records live: ``$EDGEPROOF_STATE_DIR`` or ``~/.local/state/edgeproof``."""
    env = os.environ.get("EDGEPROOF_STATE_DIR")
    base = Path(env) if env else Path.home() / ".local" / "state" / "edgeproof"
    (base / "testbeds").mkdir(parents=True, exist_ok=True)
    return base


@dataclass
class NodeRecord:
    name: str
    tier: str
    host: str
    ports: dict[str, int]
    pid: int | None = None
    client_url: str | None = None
    cgroups: list[str] = field(default_factory=list)
    limits: str = "emulated"
    clock_file: str | None = None
    container: str | None = None
    log: str | None = None
    netns: str | None = None  # the node's network namespace (network: namespaces)


@dataclass
class ProxyRecord:
    name: str
    src: str
    dst: str
    port_name: str
    listen: str
    upstream: str


@dataclass
class TestbedRecord:
    """Everything needed to find, report on and reap one testbed."""

    __test__ = False

    run_id: str
    backend: str
    name: str
    workdir: str
    owner_pid: int
    detached: bool = False
    owner_start: int | None = None  # the owner's start time (processes.start_time)
    created_at: float = field(default_factory=time.time)
    slot: int = 0
    toxiproxy_pid: int | None = None
    toxiproxy_url: str | None = None
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    proxies: list[ProxyRecord] = field(default_factory=list)
    active_faults: list[dict[str, Any]] = field(default_factory=list)
    extra_pids: list[int] = field(default_factory=list)
    docker: dict[str, Any] = field(default_factory=dict)
    scenario_path: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    network: str = "loopback"  # loopback | namespaces
    net: dict[str, Any] = field(default_factory=dict)  # bridge, bridge_ip, subnet

    @property
    def path(self) -> Path:
        return state_dir() / "testbeds" / f"{self.run_id}.json"

    def save(self) -> None:
        """Write atomically (write then rename) so a kill never leaves half a record; the
        first save also claims the run machine-wide (:func:`claim_owner`)."""
        with _SAVE_LOCK:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=1))
            tmp.replace(self.path)
            if not _owner_file(self.run_id).exists():
                claim_owner(self)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        release_owner(self.run_id)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestbedRecord:
        nodes = {k: NodeRecord(**v) for k, v in data.pop("nodes", {}).items()}
        proxies = [ProxyRecord(**p) for p in data.pop("proxies", [])]
        return cls(**data, nodes=nodes, proxies=proxies)


def load_records() -> list[TestbedRecord]:
    """All records on disk, oldest first; unreadable ones are skipped (and reported by clean)."""
    out = []
    for p in sorted((state_dir() / "testbeds").glob("*.json")):
        try:
            out.append(TestbedRecord.from_dict(json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda r: r.created_at)


def owner_alive(record: TestbedRecord) -> bool:
    """Whether the process that owns the testbed (a `run`, or the `up` that started it)
    still runs, by pid and start time."""
    return alive(record.owner_pid, record.owner_start)


def is_stale(record: TestbedRecord) -> bool:
    """A record whose owning run died (SIGKILL) and that nobody `up`-ed on purpose."""
    return not record.detached and not owner_alive(record)


def is_running_run(record: TestbedRecord) -> bool:
    """A testbed that a live `run` (not `up`) owns: only that run may take it down."""
    return not record.detached and owner_alive(record)


SLOTS_DIR = Path(os.environ.get("EDGEPROOF_SLOTS_DIR", "/tmp/edgeproof-slots"))


def free_slot(probe_port: int = 7000) -> int:
    """Claim the lowest loopback slot nobody uses, machine-wide and atomically.

    A slot is taken while its claim file (created with O_EXCL) names a live process, or while
    something listens on the slot's first address (a detached testbed whose `up` exited).
    State dirs are per user or per test, so the claim lives in one machine-wide folder."""
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    used = {r.slot for r in load_records()}
    for i in range(1, 150):
        if i in used or not port_free(node_host(i, 0), probe_port):
            continue
        if _claim(SLOTS_DIR / str(i)):
            return i
    raise InfrastructureError("no free loopback slot for a testbed (149 running?); run "
                              "`edgeproof clean` to reap old testbeds")


def _claim(path: Path) -> bool:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if pid_alive(owner) or time.time() - _mtime(path) < 5:
                return False
            path.unlink(missing_ok=True)  # a dead claimant's stale claim
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release_slot(slot: int) -> None:
    """Give a slot back (idempotent)."""
    (SLOTS_DIR / str(slot)).unlink(missing_ok=True)


def _owner_file(run_id: str) -> Path:
    return SLOTS_DIR / f"run-{run_id}.json"


def claim_owner(record: TestbedRecord) -> None:
    """Record machine-wide which state dir and process own a testbed, so that a `clean` or
    sweep from any state dir can tell a live testbed's cgroups and network from leftovers."""
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    _owner_file(record.run_id).write_text(json.dumps({
        "state_dir": str(state_dir()), "owner_pid": record.owner_pid,
        "owner_start": record.owner_start, "detached": record.detached}))


def release_owner(run_id: str) -> None:
    """Forget a testbed's owner (idempotent)."""
    _owner_file(run_id).unlink(missing_ok=True)


def run_is_orphan(run_id: str, live: set[str]) -> bool:
    """True when no live testbed owns what this run id names: not live here, and where
    another state dir claimed it, that dir has no record of it or its owner is gone (pid and
    start time; a detached testbed lives until its `down`)."""
    if run_id in live:
        return False
    try:
        owner = json.loads(_owner_file(run_id).read_text())
    except (OSError, ValueError):
        return True
    other = Path(owner.get("state_dir", ""))
    if other == state_dir():
        return True
    if not (other / "testbeds" / f"{run_id}.json").exists():
        return True
    return not (owner.get("detached") or alive(int(owner.get("owner_pid") or 0),
                                               owner.get("owner_start")))
