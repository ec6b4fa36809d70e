"""Real CPU and memory limits (and the freezer) for local node processes, cgroup v1 or v2.

Every group is created under an ``edgeproof`` parent and named ``<run_id>-<node>``, so that
`edgeproof clean` can find and remove what a killed run left. Where the process may not write
the hierarchy, :func:`probe` says so and the node runs with emulated hardware only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(os.environ.get("EDGEPROOF_CGROUP_ROOT", "/sys/fs/cgroup"))
PARENT = "edgeproof"
PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupSupport:
    version: int | None  # 1, 2 or None (unavailable)
    reason: str

    @property
    def available(self) -> bool:
        return self.version is not None


def probe() -> CgroupSupport:
    """Find out whether we can create cgroups with cpu and memory limits here."""
    if (ROOT / "cgroup.controllers").exists():
        ctrl = (ROOT / "cgroup.controllers").read_text().split()
        if not {"cpu", "memory"} <= set(ctrl):
            return CgroupSupport(None, f"cgroup v2 without cpu/memory controllers ({ctrl})")
        return _writable(2, ROOT / PARENT)
    if (ROOT / "cpu").is_dir() and (ROOT / "memory").is_dir():
        return _writable(1, ROOT / "cpu" / PARENT)
    return CgroupSupport(None, f"no cgroup hierarchy at {ROOT}")


def _writable(version: int, parent: Path) -> CgroupSupport:
    try:
        parent.mkdir(exist_ok=True)
    except OSError as exc:
        return CgroupSupport(None, f"cannot create {parent}: {exc.strerror}")
    if version == 2:
        try:
            _enable_v2_controllers(ROOT)
            _enable_v2_controllers(parent)
        except OSError as exc:
            return CgroupSupport(None, f"cannot enable cpu/memory controllers: {exc.strerror}")
    return CgroupSupport(version, f"cgroup v{version}")


def _enable_v2_controllers(group: Path) -> None:
    ctl = group / "cgroup.subtree_control"
    have = ctl.read_text().split()
    for c in ("cpu", "memory"):
        if c not in have:
            ctl.write_text(f"+{c}")


def group_name(run_id: str, node: str) -> str:
    return f"{run_id}-{node}"


def create(support: CgroupSupport, run_id: str, node: str, cpus: float | None,
           memory_mb: int | None) -> list[str]:
    """Create the node's groups with its limits; return their paths (for the record)."""
    name = group_name(run_id, node)
    if support.version == 2:
        g = ROOT / PARENT / name
        g.mkdir(exist_ok=True)
        if cpus:
            (g / "cpu.max").write_text(f"{int(cpus * PERIOD_US)} {PERIOD_US}")
        if memory_mb:
            (g / "memory.max").write_text(str(memory_mb * 1024 * 1024))
        return [str(g)]
    paths = []
    for ctrl in ("cpu", "memory", "freezer"):
        g = ROOT / ctrl / PARENT / name
        g.mkdir(parents=True, exist_ok=True)
        paths.append(str(g))
    cpu, mem = Path(paths[0]), Path(paths[1])
    (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)) if cpus else "-1")
    if memory_mb:
        (mem / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
    return paths


def attach(paths: list[str], pid: int) -> None:
    """Move a process into every group (children it forks later follow it)."""
    for p in paths:
        (Path(p) / "cgroup.procs").write_text(str(pid))


def freeze(paths: list[str], frozen: bool) -> bool:
    """Freeze or thaw through the freezer; False when there is no freezer to use."""
    for p in paths:
        g = Path(p)
        if (g / "cgroup.freeze").exists():
            (g / "cgroup.freeze").write_text("1" if frozen else "0")
            return True
        if (g / "freezer.state").exists():
            (g / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
            return True
    return False


def frozen(paths: list[str]) -> bool | None:
    """Whether the groups' freezer holds them frozen (None: no freezer)."""
    for p in paths:
        g = Path(p)
        try:
            if (g / "cgroup.freeze").exists():
                return (g / "cgroup.freeze").read_text().strip() == "1"
            if (g / "freezer.state").exists():
                return (g / "freezer.state").read_text().strip() in ("FROZEN", "FREEZING")
        except OSError:
            return None
    return None


def remove(paths: list[str], timeout_s: float = 2.0) -> list[str]:
    """Remove groups (after their processes are gone); return those that could not go."""
    left = []
    for p in paths:
        g = Path(p)
        if not g.exists():
            continue
        freeze([p], False)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                g.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    left.append(p)
                    break
                time.sleep(0.02)  # waiting for the kernel to drop exited tasks; bounded
    return left


def leftover_groups(run_id: str | None = None) -> list[str]:
    """Groups under our parent (for one run, or any) still present on this machine."""
    found = []
    parents = [ROOT / PARENT] + [ROOT / c / PARENT for c in ("cpu", "memory", "freezer")]
    for parent in parents:
        if not parent.is_dir():
            continue
        for g in parent.iterdir():
            if g.is_dir() and (run_id is None or g.name.startswith(f"{run_id}-")):
                found.append(str(g))
    return found
