"""The `swarm` backend: each node a Docker Swarm service of one replica, on an overlay network.

It is the docker backend (testbeds.docker) with services where that one has containers; every
verb it does not need to change is the docker backend's own.

- **The swarm.** The engine in the environment (``DOCKER_HOST``) is used as it is when it is a
  swarm manager already; when it is in no swarm (``docker info``: Swarm.LocalNodeState
  ``inactive``) the backend runs ``docker swarm init --advertise-addr 127.0.0.1``, records
  ``swarm_made`` in the testbed record and labels its node ``edgeproof.swarm-made``: such a
  swarm is left (``docker swarm leave --force``) by the reap that finds no service and no
  testbed's overlay left in it (``down``, ``clean``, a failed start-up); a swarm someone else
  made is never left. A node's own ``image`` must be on the engine (nothing to pull from).
- **Nodes** are services ``ep-<run>-<node>`` with one replica, ``endpoint_mode: dnsrr`` (this
  kernel has no IPVS: Swarm's virtual IPs and ingress routing do not work; VXLAN overlays do)
  and ``restart_policy: {condition: none}``, so a crash stays a crash until the fault's heal
  restarts the node explicitly (``docker service update --force``: a new task, the same named
  data volume). No node publishes a port. Placement is by constraint: when any swarm node
  carries a label ``edgeproof.tier.<tier>`` a service goes only to nodes labelled for its tier
  (``docker node update --label-add edgeproof.tier.gateway=1 HOST``); a swarm this backend
  made labels its one node for every tier, so the constraint is there and trivially met.
- **Network**: one attachable, internal overlay network per run; each node joins it with its
  name as an alias (Docker's DNS answers it with the task's address). The reference node's
  node.json and a node's declared ``files`` are Swarm configs (``/etc/edgeproof/node.json``,
  ``/data/NAME``); data is a named volume per node.
- **Toxiproxy runs per host**, one per engine, as a plain container attached to the overlay
  (the docker backend's, unchanged): each link's proxy lives on the source node's host, so
  its traffic passes that host's proxy; proxies reach their upstream by the node's name, so a
  restarted node (a new task, a new address) is found again. Admin, client and direct ports
  are published on 127.0.0.1 as on the docker backend.
- **Faults are applied on the host that runs the node through that host's engine API** (no
  agent): crash = ``docker kill`` of the task's container, stop = ``docker stop``, pause =
  ``docker pause``; in ``network: namespaces`` (root, local engine) the interception and
  partition rules of testbeds.netns go into the task container's namespace with ``nsenter``
  once it runs (and again into a restarted task's new one); clock skew is the docker
  backend's libfaketime offset file, bind-mounted from the host.

Limits, said where they bite: this backend drives one engine, so the swarm must have one node
(a multi-host swarm is refused at start-up with the steps to take; see the README); images
are built locally (no registry) and :func:`testbeds.images.distribute` copies them to other
engines (``docker save | docker load``); rules are applied a moment after a task starts, and
other nodes' interception of a restarted node's own address keeps its old address (the
reference service reaches peers through their link proxies, so it is not affected). Each
host's clock offset from the harness, with its error bound, is measured
(:meth:`SwarmTestbed.clock_alignment`) but not yet handed to the checker.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness.errors import ConfigError, InfrastructureError, TestbedError
from testbeds import images, netns
from testbeds.docker import READY_TIMEOUT_S, DockerTestbed, labels
from testbeds.docker_reaper import SWARM_MADE
from testbeds.progress import Progress, quiet
from testbeds.spec import TestbedSpec

TASK_TIMEOUT_S = 60.0  # a task from created to running (image present: about a second)
ADVERTISE = "127.0.0.1"  # a swarm this backend makes is this machine's alone
TIER_LABEL = "edgeproof.tier."
DEAD = ("failed", "rejected", "complete", "shutdown", "orphaned", "remove")


def check_spec(spec: TestbedSpec) -> None:
    """Refuse what the swarm backend cannot do, naming the field and the fix."""
    for i, node in enumerate(spec.nodes):
        for fname, text in node.files.items():
            if len(text.encode()) > 500_000:
                raise ConfigError(
                    f"testbed.nodes[{i}].files.{fname}: {len(text.encode())} bytes; on the "
                    "swarm backend a node's files are Swarm configs, which hold at most "
                    "500 kB each; ship a large file in the node's image instead",
                    field=f"testbed.nodes[{i}].files.{fname}")


class SwarmTestbed(DockerTestbed):
    """Nodes as Swarm services over an overlay network; see the module docstring."""

    BACKEND = "swarm"

    @classmethod
    def up(cls, spec: TestbedSpec, *, run_id: str, name: str, workdir: Path, seed: int = 0,
           detached: bool = False, progress: Progress = quiet,
           scenario_path: str | None = None) -> SwarmTestbed:
        """As the docker backend's, after checking what only this backend refuses."""
        check_spec(spec)
        tb = super().up(spec, run_id=run_id, name=name, workdir=workdir, seed=seed,
                        detached=detached, progress=progress, scenario_path=scenario_path)
        assert isinstance(tb, SwarmTestbed)
        return tb

    # ------------------------------------------------------------ start-up
    def _start(self, built: images.Images, progress: Progress) -> None:
        t0 = time.monotonic()
        self._check_images()
        self._join_swarm(progress)
        self.record.network = self._network_mode()
        progress("creating the overlay network and the Toxiproxy container")
        try:
            self._networks()
        finally:  # marked even when that failed, so the reap of the failure leaves it
            self._mark_swarm()
        self._toxiproxy(built.toxiproxy)
        # addresses are names until the tasks run (Docker's DNS on the overlay answers them)
        self._assign_addresses({n: (n, 0) for n in self.spec.node_names})
        for rec in self.nodes.values():
            rec.netns, rec.limits = None, rec.limits.replace("docker", "swarm", 1)
            rec.log = f"docker service logs {self._cname(rec.name)}"
        progress(f"creating proxies for {len(self.spec.nodes)} node(s) "
                 f"(network: {self.record.network})")
        self._create_proxies()
        self.record.save()
        progress(f"creating {len(self.spec.nodes)} service(s)")
        with ThreadPoolExecutor(max_workers=min(16, len(self.spec.nodes))) as pool:
            list(pool.map(lambda n: self._launch(n, built.service), self.spec.node_names))
        self.record.save()
        self._wait_tasks(self.spec.node_names, progress)
        for name in self.spec.node_names:
            self._attach_task(name)
        if self.record.network == "namespaces":
            for name in self.spec.node_names:
                self._intercept(name)
        self.record.save()
        progress(f"waiting for {len(self.spec.nodes)} node(s)")
        self.wait_ready(self.spec.node_names, READY_TIMEOUT_S, progress, alive=self._dead)
        self.record.docker["up_s"] = round(time.monotonic() - t0, 2)
        self.record.docker["clocks"] = self.clock_alignment()
        self.record.save()

    def _check_images(self) -> None:
        """A user's image must be on the engine already: Swarm would try a registry."""
        import docker.errors  # cost: the SDK loads only with a docker engine
        for i, node in enumerate(self.spec.nodes):
            if node.image is None:
                continue
            try:
                self.client.images.get(node.image)
            except docker.errors.ImageNotFound:
                raise ConfigError(
                    f"testbed.nodes[{i}].image: {node.image!r} is not on the Docker engine, and "
                    "a swarm without a registry cannot pull it; build it there (`docker build "
                    f"-t {node.image} ...`) or load it (`docker save {node.image} | docker "
                    "load` on every engine of the swarm)", field=f"testbed.nodes[{i}].image",
                    node=node.name) from None

    def _join_swarm(self, progress: Progress) -> None:
        """Use the engine's swarm, or make one if it is in none (recorded, and marked on the
        node, so only a swarm made here is ever left)."""
        import docker.errors  # cost: the SDK loads only with a docker engine
        state = (self.client.info().get("Swarm") or {}).get("LocalNodeState", "")
        made = state in ("inactive", "")
        if made:
            progress("the engine is in no swarm: docker swarm init")
            self.record.docker["swarm_made"] = True
            self.record.save()
            try:
                self.client.swarm.init(advertise_addr=ADVERTISE, listen_addr=f"{ADVERTISE}:2377")
            except docker.errors.APIError as exc:
                if (self.client.info().get("Swarm") or {}).get("LocalNodeState") != "active":
                    raise InfrastructureError(
                        f"`docker swarm init --advertise-addr {ADVERTISE}` failed: "
                        f"{exc.explanation or exc}; init a swarm yourself and re-run") from None
                made = False  # another run made it a moment ago: use it as found
        elif state != "active":
            raise InfrastructureError(
                f"the Docker engine's swarm is {state!r} (docker info: Swarm.LocalNodeState); "
                "wait until it is active, or `docker swarm leave --force` it and re-run")
        info = self.client.info()["Swarm"]
        if not info.get("ControlAvailable"):
            raise InfrastructureError(
                "the Docker engine is a swarm worker, not a manager: point DOCKER_HOST at a "
                "manager of the swarm (`docker node ls` works there)")
        nodes = self.client.nodes.list()
        if len(nodes) > 1:
            raise InfrastructureError(
                f"the swarm has {len(nodes)} nodes; this backend drives one engine (faults go "
                "through the engine API of the host that runs the node, and it knows only "
                "DOCKER_HOST's): run on a single-node swarm, or see the README's 'Docker "
                "Swarm backend' for the multi-host steps")
        self.record.docker.update(swarm_node=nodes[0].id, swarm_made=made)
        self.record.save()

    def _mark_swarm(self) -> None:
        """On a swarm made here, once the run's overlay exists (so no reap finds the swarm
        marked and empty while this run is still starting): mark its node as made by
        edgeproof, and label it for every tier (the placement constraints)."""
        if not self.record.docker.get("swarm_made"):
            return
        node = self.client.nodes.get(self.record.docker["swarm_node"])
        spec = node.attrs["Spec"]
        spec["Labels"] = {**(spec.get("Labels") or {}), SWARM_MADE: self.run_id,
                          **{TIER_LABEL + t: "1" for t in {n.tier for n in self.spec.nodes}}}
        node.update(spec)

    def _internal_network(self, net: str) -> Any:
        """An attachable internal overlay for nodes and proxies (Toxiproxy publishes on a
        local bridge, as on the docker backend), once the swarm gave it a subnet."""
        made = self.client.networks.create(net, driver="overlay", attachable=True,
                                           internal=True, labels=labels(self.record, ""))
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while not (made.attrs.get("IPAM") or {}).get("Config"):
            if time.monotonic() > deadline:  # a new swarm's allocator takes a moment
                raise InfrastructureError(f"the overlay network {net} got no subnet from the "
                                          "swarm; see `docker network inspect` and dockerd's log")
            time.sleep(0.1)
            made.reload()
        return made

    def _constraints(self, tier: str) -> list[str]:
        """Placement: to the nodes labelled for this tier, where any node is labelled."""
        tiered = any(k.startswith(TIER_LABEL) for n in self.client.nodes.list()
                     for k in (n.attrs["Spec"].get("Labels") or {}))
        return [f"node.labels.{TIER_LABEL}{tier}==1"] if tiered else []

    def _config(self, name: str, key: str, text: str) -> Any:
        """A labelled Swarm config holding one file of a node (named per launch)."""
        cfg = f"{self._cname(name)}-{key}-{time.time_ns() % 10**10}"
        return self.client.configs.create(name=cfg, data=text.encode(),
                                          labels=labels(self.record, name))

    def _launch(self, name: str, service_image: str | None = None) -> None:
        """Create the node's service: its container as the docker backend would run it, with
        node.json and declared files as configs, data as a named volume, dnsrr, no restart."""
        # cost: the SDK's types load only with a swarm testbed
        from docker.types import (
            ConfigReference,
            EndpointSpec,
            Mount,
            NetworkAttachmentConfig,
            Resources,
            RestartPolicy,
        )
        args = self._run_args(name, service_image or self.record.docker["images"]["service"])
        files = self.render_files(name)  # rendered first: a bad placeholder starts nothing
        lab = labels(self.record, name)
        mounts, configs = [], []
        for source, how in args["volumes"].items():
            if how["bind"] == "/etc/edgeproof":  # the reference node's node.json
                cfg = self._config(name, "node", (Path(source) / "node.json").read_text())
                configs.append(ConfigReference(cfg.id, cfg.name, "/etc/edgeproof/node.json"))
                continue
            mounts.append(Mount(how["bind"], source, type="bind", read_only=how["mode"] == "ro"))
        mounts.append(Mount("/data", f"{self._cname(name)}-data", type="volume", labels=lab))
        for i, (fname, text) in enumerate(files.items()):
            cfg = self._config(name, f"file{i}", text)
            configs.append(ConfigReference(cfg.id, cfg.name, f"/data/{fname}", mode=0o644))
        node = self.spec.node(name)
        hw = node.hardware
        self.client.services.create(
            args["image"], name=self._cname(name), args=args["command"], hostname=name,
            env=[f"{k}={v}" for k, v in args["environment"].items()], labels=lab,
            container_labels=lab, mounts=mounts, configs=configs,
            networks=[NetworkAttachmentConfig(self.record.docker["network"], aliases=[name])],
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            restart_policy=RestartPolicy(condition="none"),
            constraints=self._constraints(node.tier), stop_grace_period=5 * 10**9,
            resources=Resources(cpu_limit=int(hw.cpus * 1e9) if hw.cpus else None,
                                mem_limit=hw.memory_mb * 2**20 if hw.memory_mb else None))
        self._containers.pop(name, None)

    # ------------------------------------------------------------ tasks
    def _task(self, name: str) -> dict[str, Any] | None:
        """The service's current task: the newest one meant to run, else the newest (None
        before the scheduler made one, or when the service is gone)."""
        import docker.errors  # cost: as above
        try:
            tasks = self.client.api.tasks(filters={"service": self._cname(name)})
        except docker.errors.APIError:
            return None
        return max(tasks, key=lambda t: (t["DesiredState"] == "running", t["CreatedAt"]),
                   default=None)

    def _wait_tasks(self, names: list[str], progress: Progress = quiet) -> None:
        """Until each service's task runs (bounded); a failed or rejected one fails fast."""
        pending = list(names)
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while pending:
            for name in list(pending):
                problem = self._dead(name)
                if problem:
                    raise TestbedError(problem, node=name)
                task = self._task(name)
                if task and task["Status"]["State"] == "running":
                    pending.remove(name)
                    progress(f"task running {len(names) - len(pending)}/{len(names)}")
            if pending and time.monotonic() > deadline:
                states = {n: (self._task(n) or {}).get("Status", {}).get("State", "none")
                          for n in pending}
                raise TestbedError(
                    f"Swarm task(s) not running within {TASK_TIMEOUT_S:.0f} s: {states}; see "
                    "`docker service ps --no-trunc ep-<run>-<node>` (a placement constraint no "
                    "node meets stays pending)", node=pending[0])
            if pending:
                time.sleep(0.1)  # between task sweeps, bounded by the deadline

    def _attach_task(self, name: str) -> None:
        """The running task's address and namespace into the node's record."""
        self._containers.pop(name, None)
        c = self._container(name)
        c.reload()
        net = c.attrs["NetworkSettings"]["Networks"][self.record.docker["network"]]
        rec = self.nodes[name]
        rec.host = str(net["IPAddress"])
        pid = int(c.attrs["State"]["Pid"])
        rec.netns = f"/proc/{pid}/ns/net" if self.record.network == "namespaces" else None

    def _intercept(self, name: str) -> None:
        """The node's interception rules (testbeds.netns) in its task's namespace."""
        net = self.node_nets()[name]
        netns.restore(netns.node_rules(self.record.net["subnet"], self._routes(name)), net)

    def _container(self, name: str) -> Any:
        """The container of the service's newest task (on this engine)."""
        import docker.errors  # cost: as above
        c = self._containers.get(name)
        if c is None:
            task = self._task(name)
            cid = (task or {}).get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if not cid:
                raise docker.errors.NotFound(f"service {self._cname(name)} has no container")
            c = self._containers[name] = self.client.containers.get(cid)
        return c

    def _dead(self, name: str) -> str | None:
        """Why a node's task ended during start-up (its error and log tail); None if it is
        scheduled, starting or running."""
        task = self._task(name)
        if task is None or task["Status"]["State"] not in DEAD:
            return None
        status = task["Status"]
        tail = ""
        try:
            tail = self._container(name).logs(tail=5).decode(errors="replace").strip()
        except Exception:  # the SDK's NotFound or APIError: no container, no log
            tail = ""
        return (f"node {name}: its Swarm task is {status['State']} during start-up "
                f"({status.get('Err') or status.get('Message', '')}); last log lines "
                f"(`docker service logs {self._cname(name)}`):\n  "
                + "\n  ".join(tail.splitlines()))

    # ------------------------------------------------------------ lifecycle verbs
    def restart(self, node: str, keep_data: bool = True) -> None:
        """Start the node again: a new task of the same service (``docker service update
        --force``; same data volume), or with ``keep_data=False`` a new service and volume;
        then its new address and namespace are recorded and intercepted."""
        if self.node_running(node):
            return
        import docker.errors  # cost: as above
        try:
            svc = self.client.services.get(self._cname(node))
        except docker.errors.NotFound:
            svc = None
        if keep_data and svc is not None:
            svc.force_update()
            self._containers.pop(node, None)
            self._wait_new_task(node)
        else:
            self._remove_node(node)
            self._launch(node)
        self._wait_tasks([node])
        self._attach_task(node)
        if self.record.network == "namespaces":
            self._intercept(node)
        self.record.save()
        self.wait_ready([node], READY_TIMEOUT_S, alive=self._dead)

    def _wait_new_task(self, node: str) -> None:
        """After a forced update: until the scheduler has replaced the ended task."""
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while time.monotonic() < deadline:
            task = self._task(node)
            if task and task["DesiredState"] == "running" and task["Status"]["State"] not in DEAD:
                return
            time.sleep(0.1)  # the orchestrator replaces the task asynchronously

    def _remove_node(self, node: str) -> None:
        """Remove the node's service, its containers, data volume and configs."""
        import docker.errors  # cost: as above
        try:
            self.client.services.get(self._cname(node)).remove()
        except docker.errors.NotFound:
            pass
        self._containers.pop(node, None)
        flt = {"label": [f"edgeproof.run={self.run_id}", f"edgeproof.node={node}"]}
        for c in self.client.containers.list(all=True, filters=flt):
            c.remove(force=True)
        for cfg in self.client.configs.list(filters=flt):
            cfg.remove()
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while True:
            try:
                self.client.volumes.get(f"{self._cname(node)}-data").remove(force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:  # still in use by the ending task: a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # ------------------------------------------------------------ clocks of the hosts
    def clock_alignment(self, samples: int = 7) -> dict[str, dict[str, Any]]:
        """Per swarm host (node id): how far its clock is from the harness's (``offset_ms``)
        and the bound on that figure's error (``error_ms``: half the least round trip of
        ``samples`` reads of a reference node's ``/clock`` there, less the node's own
        emulated skew). What a multi-host load would merge its history parts with; on one
        host it measures the error floor. Hosts without a reference node are left out."""
        out: dict[str, dict[str, Any]] = {}
        with httpx.Client(trust_env=False, timeout=2.0) as http:
            for name in self.spec.node_names:
                host = (self._task(name) or {}).get("NodeID")
                if host is None or host in out or not self.spec.node(name).is_reference:
                    continue
                best: tuple[float, float] | None = None
                for _ in range(samples):
                    t0 = time.time()
                    try:
                        body = http.get(f"{self.direct_url(name)}/clock").json()
                    except (httpx.HTTPError, ValueError):
                        continue
                    t1 = time.time()
                    skew = float(body.get("offset_s") or 0.0)
                    offset = float(body["time"]) - skew - (t0 + t1) / 2
                    if best is None or t1 - t0 < best[1]:
                        best = (offset, t1 - t0)
                if best is not None:
                    out[host] = {"offset_ms": round(best[0] * 1000, 3),
                                 "error_ms": round(best[1] * 500, 3), "via": name}
        return out

    def status(self) -> dict[str, Any]:
        """As the docker backend's, with the swarm's part: its node, who made it, and each
        host's clock offset from the harness with its error bound."""
        st = super().status()
        st["swarm"] = {k: self.record.docker.get(k) for k in ("swarm_node", "swarm_made")}
        st["swarm"]["clocks"] = self.clock_alignment()
        return st

