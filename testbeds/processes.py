"""Processes of a testbed: the labels they carry, whether they live, how they are stopped.

Every process a testbed starts carries ``EDGEPROOF_RUN_ID`` (its run) and ``EDGEPROOF_STATE``
(a tag of the state dir that owns it) in its environment, so a reaper finds them by label
(the testcontainers-reaper idea) and never reaps another state dir's.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

RUN_LABEL = "EDGEPROOF_RUN_ID"
STATE_LABEL = "EDGEPROOF_STATE"  # which state dir owns a process: clean never reaps another's
WORKERS = 8  # concurrent short commands (each one exec into a namespace, mostly waiting)
NOFILE_PER_NODE = 16  # open files a testbed needs per node in the harness or Toxiproxy
NOFILE_FLOOR = 65536  # what a fleet's harness and Toxiproxy ask for at least


def nofile_target(soft: int, hard: int, want: int, ceiling: int, root: bool) -> tuple[int, int]:
    """The (soft, hard) RLIMIT_NOFILE to ask for: ``want`` where the hard limit allows (a
    root process may lift the hard limit up to the kernel's ``nr_open``), never lower than
    now."""
    new_hard = max(hard, min(want, ceiling)) if root else hard
    if hard == resource.RLIM_INFINITY:
        new_hard = hard
    new_soft = max(soft, want if new_hard == resource.RLIM_INFINITY else min(want, new_hard))
    return new_soft, new_hard


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20


def nofile_for(nodes: int) -> int:
    """Open files to ask for a testbed of ``nodes`` (sockets of its proxies, probes, load)."""
    return max(NOFILE_FLOOR, NOFILE_PER_NODE * nodes)


def raise_nofile(want: int, pid: int | None = None) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE of this process (or of ``pid``, with prlimit) towards ``want``;
    the limits in force after. A refusal leaves them as they were."""
    if pid is None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    else:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    target = nofile_target(soft, hard, want, _nr_open(), os.geteuid() == 0)
    if target != (soft, hard):
        try:
            if pid is None:
                resource.setrlimit(resource.RLIMIT_NOFILE, target)
            else:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, target)
        except (OSError, ValueError):
            return soft, hard
    return target


def in_parallel(calls: list[Callable[[], Any]]) -> None:
    """Run the calls on a few threads (each execs a short command, e.g. iptables in one
    namespace); the first error is raised after all have ended."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(calls))) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def pid_alive(pid: int | None) -> bool:
    """True when the process exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_time(pid: int | None) -> int | None:
    """When the process started (clock ticks since boot, /proc/PID/stat field 22): with the
    pid, an identity a recycled pid cannot fake. None when it cannot be read."""
    if not pid:
        return None
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int | None, started: int | None) -> bool:
    """True when this very process still runs: the pid lives and, where its start time was
    recorded, started then (not a later process given the same pid)."""
    if not pid_alive(pid):
        return False
    return started is None or start_time(pid) in (None, started)


def process_labels(pid: int) -> dict[str, str]:
    """Our labels in a process's environment ({} if none or unreadable)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    out = {}
    for item in env:
        key, _, value = item.partition(b"=")
        if key.decode(errors="replace") in (RUN_LABEL, STATE_LABEL):
            out[key.decode()] = value.decode(errors="replace")
    return out


def labelled_pids(run_id: str | None = None) -> list[int]:
    """Processes carrying our run label in their environment (any run, or one run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(RUN_LABEL.encode() + b"="):
                value = item.split(b"=", 1)[1].decode(errors="replace")
                if run_id is None or value == run_id:
                    found.append(int(entry.name))
                break
    return found


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
