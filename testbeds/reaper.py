"""Reaping: remove everything a testbed started, from its record and by label.

Used by `down`, by a failed start-up, by the next run's start-up sweep (stale runs whose owner
was SIGKILLed) and by `edgeproof clean`. Idempotent: reaping twice is harmless.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

from testbeds import cgroups
from testbeds.state import (
    RUN_LABEL,
    STATE_LABEL,
    TestbedRecord,
    is_stale,
    labelled_pids,
    load_records,
    pid_alive,
    process_labels,
    release_slot,
    state_tag,
)


@dataclass
class ReapReport:
    """What a reap removed, and what it could not."""

    testbeds: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def merge(self, other: ReapReport) -> None:
        for k in vars(self):
            getattr(self, k).extend(getattr(other, k))

    @property
    def empty(self) -> bool:
        return not any(vars(self).values())


def kill_group(pid: int | None, sig: signal.Signals = signal.SIGTERM, grace_s: float = 2.0) -> bool:
    """Signal a process group (or the process), escalate to SIGKILL after grace; True if sent."""
    if not pid or not pid_alive(pid):
        return False
    for target in (lambda s: os.killpg(pid, s), lambda s: os.kill(pid, s)):
        try:
            target(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            target(sig)
            break
        except (ProcessLookupError, PermissionError):
            continue
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
    return True


def kill_all(pids: list[int], grace_s: float) -> list[int]:
    """SIGTERM every process group at once, wait once, SIGKILL what is left; return the
    pids that were alive."""
    alive = [p for p in pids if pid_alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGCONT)
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(pid_alive(p) for p in alive) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in alive:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    return alive


def _signal(pid: int, sig: signal.Signals) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, sig)
            return
        except (ProcessLookupError, PermissionError):
            continue


def reap(record: TestbedRecord) -> ReapReport:
    """Kill the testbed's processes, remove its cgroups and containers, delete its record."""
    rep = ReapReport(testbeds=[record.run_id])
    for node in record.nodes.values():
        cgroups.freeze(node.cgroups, False)
    pids = [n.pid for n in record.nodes.values() if n.pid]
    pids += [record.toxiproxy_pid] if record.toxiproxy_pid else []
    pids += record.extra_pids + labelled_pids(record.run_id)
    rep.processes += kill_all([p for p in dict.fromkeys(pids) if p], grace_s=1.0)
    groups = [p for n in record.nodes.values() for p in n.cgroups]
    groups += cgroups.leftover_groups(record.run_id)
    groups = list(dict.fromkeys(groups))
    left = cgroups.remove(groups)
    rep.cgroups += [g for g in groups if g not in left]
    rep.left += left
    if record.backend == "docker":
        from testbeds.docker_reaper import reap_docker
        rep.merge(reap_docker(record.run_id))
    if not rep.left:
        record.delete()
        release_slot(record.slot)
    return rep


def clean(force: bool = False) -> ReapReport:
    """Reap every testbed no live run owns (or all with force) and any orphan we labelled."""
    rep = ReapReport()
    live_ids = set()
    for record in load_records():
        if force or record.detached or is_stale(record):
            rep.merge(reap(record))
        else:
            live_ids.add(record.run_id)
    mine = state_tag()
    orphans = []
    for pid in labelled_pids():
        lab = process_labels(pid)
        if lab.get(STATE_LABEL) == mine and lab.get(RUN_LABEL) not in live_ids:
            orphans.append(pid)
    rep.processes += kill_all(orphans, grace_s=0.5)
    for group in cgroups.leftover_groups():
        name = os.path.basename(group)
        if (any(name.startswith(f"{r}-") for r in live_ids) or _foreign(group, mine)
                or _young(group)):
            continue
        left = cgroups.remove([group])
        (rep.left if left else rep.cgroups).append(group)
    try:
        from testbeds.docker_reaper import reap_docker_orphans
        rep.merge(reap_docker_orphans(live_ids))
    except ImportError:
        pass
    return rep


def sweep_stale() -> ReapReport:
    """The start-up sweep of a new run: reap testbeds whose owner died without cleaning up."""
    rep = ReapReport()
    for record in load_records():
        if is_stale(record):
            rep.merge(reap(record))
    return rep


def _young(group: str, min_age_s: float = 60.0) -> bool:
    """A group created moments ago may belong to another session's testbed still starting
    (its record lives in another state dir): leave it to that session, or to a later clean."""
    try:
        return time.time() - os.stat(group).st_mtime < min_age_s
    except OSError:
        return False


def _foreign(group: str, mine: str) -> bool:
    """True when live processes of another state dir's testbed are in the group."""
    try:
        pids = [int(p) for p in open(os.path.join(group, "cgroup.procs")).read().split()]
    except (OSError, ValueError):
        return False
    return any(process_labels(p).get(STATE_LABEL, mine) != mine for p in pids)
