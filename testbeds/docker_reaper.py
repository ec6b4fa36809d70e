"""Reaping Docker resources by label: containers (forced), then networks, then volumes.

Every container, network and volume of a docker testbed carries ``edgeproof.run=<run_id>``
and ``edgeproof.state=<state dir>``. `reap_docker` removes one run's; `reap_docker_orphans`
removes those of runs that are not live: of this state dir when its records say so, of another
state dir only when that dir no longer has a record of the run (so a concurrent session's
testbeds are left alone). Both are no-ops when no engine answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbeds.reap_report import ReapReport
from testbeds.state import state_dir

RUN = "edgeproof.run"


def _client() -> Any:
    """A client for the engine in the environment, or None when none answers."""
    try:
        import docker  # cost: the SDK loads only where a docker engine is wanted
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception:  # no engine, bad DOCKER_HOST, no SDK: nothing to reap
        return None
    return client


def _remove(objs: list[Any], kind: str, out: list[str], left: list[str],
            remove: Callable[[Any], None]) -> None:
    import docker.errors  # cost: as above
    for obj in objs:
        try:
            remove(obj)
            out.append(obj.name)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            left.append(f"{kind} {obj.name} ({exc.explanation or exc})")


def _reap(client: Any, keep: Callable[[dict[str, str]], bool], label: str) -> ReapReport:
    rep = ReapReport()
    flt = {"label": label}
    cons = [c for c in client.containers.list(all=True, filters=flt) if not keep(c.labels)]
    cons.sort(key=lambda c: c.name.endswith("-net"))  # network sandboxes after their nodes
    _remove(cons, "container", rep.containers, rep.left, lambda c: c.remove(force=True, v=True))
    nets = [n for n in client.networks.list(filters=flt) if not keep(n.attrs["Labels"] or {})]
    _remove(nets, "network", rep.networks, rep.left, lambda n: n.remove())
    vols = [v for v in client.volumes.list(filters=flt)
            if not keep(v.attrs.get("Labels") or {})]
    _remove(vols, "volume", rep.volumes, rep.left, lambda v: v.remove(force=True))
    return rep


def reap_docker(run_id: str) -> ReapReport:
    """Remove every container, network and volume labelled with this run."""
    client = _client()
    if client is None:
        return ReapReport()
    try:
        return _reap(client, lambda _labels: False, f"{RUN}={run_id}")
    finally:
        client.close()


def reap_docker_orphans(live_ids: set[str]) -> ReapReport:
    """Remove what runs that are not live left behind (see the module docstring)."""
    client = _client()
    if client is None:
        return ReapReport()
    try:
        return _reap(client, lambda lb: _keep(lb, live_ids), RUN)
    finally:
        client.close()


def _keep(lb: dict[str, str], live_ids: set[str]) -> bool:
    """True when a labelled resource belongs to a live run (ours or another state dir's)."""
    run = lb.get(RUN, "")
    if run in live_ids:
        return True
    owner_dir = lb.get("edgeproof.state")
    if not owner_dir or Path(owner_dir) == state_dir():
        return False
    return (Path(owner_dir) / "testbeds" / f"{run}.json").exists()
