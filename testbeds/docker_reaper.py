"""Reaping Docker resources by label: containers (forced), then Swarm services, networks,
volumes and Swarm configs; then the swarm itself when an edgeproof run made it and no
service is left in it (testbeds.swarm).

Every container, network and volume of a docker or swarm testbed (and every service and
config of a swarm one) carries ``edgeproof.run=<run_id>``
and ``edgeproof.state=<state dir>``. `reap_docker` removes one run's; `reap_docker_orphans`
removes those of runs that are not live: of this state dir when its records say so, of another
state dir only when that dir no longer has a record of the run (so a concurrent session's
testbeds are left alone). Both are no-ops when no engine answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbeds.reap_report import ReapReport
from testbeds.state import state_dir

RUN = "edgeproof.run"
SWARM_MADE = "edgeproof.swarm-made"  # a label on the swarm node of a swarm an edgeproof run made
GONE_TIMEOUT_S = 20.0  # how long a removed service's task containers and network may linger


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
    svcs = [s for s in _swarm_objects(client.services, flt) if not keep(_spec_labels(s))]
    _remove(svcs, "service", rep.services, rep.left, lambda s: s.remove())
    for svc in svcs:  # their task containers and network attachments go asynchronously
        _until_gone(lambda s=svc: client.containers.list(
            all=True, filters={"label": f"com.docker.swarm.service.id={s.id}"}))
    nets = [n for n in client.networks.list(filters=flt) if not keep(n.attrs["Labels"] or {})]
    _remove(nets, "network", rep.networks, rep.left, lambda n: _retrying(n.remove))
    vols = [v for v in client.volumes.list(filters=flt)
            if not keep(v.attrs.get("Labels") or {})]
    _remove(vols, "volume", rep.volumes, rep.left, lambda v: _retrying(v.remove, force=True))
    cfgs = [c for c in _swarm_objects(client.configs, flt) if not keep(_spec_labels(c))]
    _remove(cfgs, "config", rep.configs, rep.left, lambda c: c.remove())
    leave_swarm_if_made(client, set(rep.networks))  # even if a start-up made no service
    return rep


def _swarm_objects(collection: Any, flt: dict[str, str]) -> list[Any]:
    """Services or configs with the label; none when the engine is not a swarm manager."""
    import docker.errors  # cost: as above
    try:
        return list(collection.list(filters=flt))
    except docker.errors.APIError:  # 503: not a swarm manager (no swarm: nothing to reap)
        return []


def _spec_labels(obj: Any) -> dict[str, str]:
    return dict(obj.attrs.get("Spec", {}).get("Labels") or {})


def _until_gone(listing: Callable[[], list[Any]]) -> None:
    """Wait (bounded) until a listing is empty; what is left is reaped forcibly after."""
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while listing() and time.monotonic() < deadline:
        time.sleep(0.2)  # the engine removes task containers asynchronously


def _retrying(remove: Callable[..., None], **kw: Any) -> None:
    """Remove, retrying (bounded) while the engine says the object is still in use (a
    swarm task's endpoint or mount outlives its service by a moment)."""
    import docker.errors  # cost: as above
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while True:
        try:
            remove(**kw)
            return
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)  # between tries, bounded by the deadline


def leave_swarm_if_made(client: Any, removed: set[str] | None = None) -> bool:
    """Leave the engine's swarm (``docker swarm leave --force``) when an edgeproof run made
    it (its node carries SWARM_MADE) and no service, and no swarm testbed's overlay network,
    is left in it; True if left. A swarm someone else made, or one in use, is left alone."""
    import docker.errors  # cost: as above
    try:
        info = client.info().get("Swarm") or {}
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            return False
        node = client.nodes.get(info["NodeID"])
        if SWARM_MADE not in (node.attrs.get("Spec", {}).get("Labels") or {}):
            return False
        overlays = [n for n in client.networks.list(filters={"label": RUN, "driver": "overlay"})
                    if n.name not in (removed or set())]  # a removed one may linger a moment
        if client.services.list() or overlays or len(client.nodes.list()) > 1:
            return False  # a service, or a swarm testbed's overlay: still in use
        left = bool(client.swarm.leave(force=True))
        _drop_gwbridge(client)
        return left
    except docker.errors.APIError:
        return False


def _drop_gwbridge(client: Any) -> None:
    """Remove docker_gwbridge, which the engine makes for a swarm's overlays and keeps after
    the swarm is left, when no container uses it."""
    import docker.errors  # cost: as above
    try:
        net = client.networks.get("docker_gwbridge")
        net.reload()
        if not net.attrs.get("Containers"):
            net.remove()
    except docker.errors.APIError:  # NotFound too: nothing to drop
        pass


def reap_docker(run_id: str) -> ReapReport:
    """Remove every container, service, network, volume and config labelled with this run."""
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
