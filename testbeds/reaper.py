"""Reaping: remove everything a testbed started, from its record and by label.

Used by `down`, by a failed start-up, by the next run's start-up sweep (stale runs whose owner
was SIGKILLed) and by `edgeproof clean`. Idempotent: reaping twice is harmless.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from testbeds import cgroups, clock, netns
from testbeds.docker_reaper import reap_docker, reap_docker_orphans
from testbeds.processes import (
    RUN_LABEL,
    STATE_LABEL,
    kill_all,
    labelled_pids,
    process_labels,
)
from testbeds.reap_report import ReapReport
from testbeds.state import (
    TestbedRecord,
    is_stale,
    load_records,
    release_owner,
    release_slot,
    run_is_orphan,
    state_tag,
)

RUN_ID = re.compile(r"(ep[0-9a-f]{8})-")


def reap(record: TestbedRecord) -> ReapReport:
    """Kill the testbed's processes, remove its cgroups and containers, delete its record."""
    rep = ReapReport(testbeds=[record.run_id])
    for node in record.nodes.values():
        cgroups.freeze(node.cgroups, False)
    pids = [n.pid for n in record.nodes.values() if n.pid]
    pids += [record.toxiproxy_pid] if record.toxiproxy_pid else []
    pids += record.extra_pids + labelled_pids(record.run_id)
    rep.processes += kill_all([p for p in dict.fromkeys(pids) if p], grace_s=1.0)
    reset_clocks(record)
    groups = [p for n in record.nodes.values() for p in n.cgroups]
    groups += cgroups.leftover_groups(record.run_id)
    groups = list(dict.fromkeys(groups))
    left = cgroups.remove(groups)
    rep.cgroups += [g for g in groups if g not in left]
    rep.left += left
    if record.backend in ("docker", "swarm"):
        rep.merge(reap_docker(record.run_id))
    if record.network == "namespaces":
        rep.merge(reap_net(record.run_id))
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
        m = RUN_ID.match(os.path.basename(group))
        if (m is None or not run_is_orphan(m.group(1), live_ids) or _foreign(group, mine)
                or _young(group)):
            continue
        left = cgroups.remove([group])
        (rep.left if left else rep.cgroups).append(group)
    rep.merge(reap_docker_orphans(live_ids))
    if netns.unavailable() is None:
        for run_id in netns.orphan_run_ids(live_ids):
            if run_is_orphan(run_id, live_ids):
                kill_all(labelled_pids(run_id), grace_s=0.5)
                net = reap_net(run_id)
                rep.merge(net)
                if not net.left:
                    release_owner(run_id)
    return rep


def reap_net(run_id: str) -> ReapReport:
    """Remove a testbed's namespaced network (its processes must be gone first)."""
    before = [n for n in netns.list_netns() if n.startswith(f"ep-{run_id}-")]
    left = netns.destroy(run_id)
    return ReapReport(namespaces=[n for n in before if n not in left],
                      left=[f"network {x}" for x in left])


def sweep_stale() -> ReapReport:
    """The start-up sweep of a new run: reap testbeds whose owner died without cleaning up."""
    rep = ReapReport()
    for record in load_records():
        if is_stale(record):
            rep.merge(reap(record))
    return rep


def reset_clocks(record: TestbedRecord) -> None:
    """Put every node clock of a reaped testbed back to the host's time (offset 0), so that
    no offset file left by a killed run skews a later process that reads it."""
    for node in record.nodes.values():
        if node.clock_file and Path(node.clock_file).exists():
            clock.write_offset(node.clock_file, 0.0)


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


def remains(run_id: str) -> dict[str, list[str]]:
    """What of one run is still on this machine, by label (all empty after a good reap):
    its processes, cgroups, namespaces, veths and bridge, nft tables, root iptables chains
    and its neighbour-table raise."""
    out: dict[str, list[str]] = {
        "processes": [str(p) for p in labelled_pids(run_id)],
        "cgroups": cgroups.leftover_groups(run_id)}
    if netns.unavailable() is None:
        out.update(netns.remains(run_id))
    return out
