"""The `docker` backend: each node a container with real CPU and memory limits.

Network design. Each testbed gets one *internal* bridge network (``internal=True``: no route
out, not even to the host's other networks). Each node is two containers: a network sandbox
(``ep-<run>-<node>-net``, ``sleep``, holding the node's address and its name as a DNS alias,
like a Kubernetes pause container) and the node itself in the sandbox's network namespace, so
its address and rules exist before its process starts and outlive crashes and restarts.
Toxiproxy runs in a container of its own (the static server in a ``scratch`` image) on that
network too. With ``network: namespaces`` (the default where this machine may enter the
containers' namespaces: root, a local engine), the rules of testbeds.netns go into each
sandbox's namespace with ``nsenter``: a connection to another node's own address (or name) on
a declared port is DNATed into the declared link's proxy, anything else to the testbed is
dropped and counted, and partitions add their drops there. With ``network: loopback`` nodes
reach each other directly unless they are given ``{links.OTHER.*}`` addresses
(``<toxiproxy address>:<proxy port>``, as the reference service's ``peers`` always are).

Docker cannot publish ports from an internal network, so the Toxiproxy container also joins a
second, ordinary bridge network of the testbed whose only purpose is to carry published ports,
all bound to 127.0.0.1 with host ports the engine picks: the admin API (8474), one port per
client proxy (10000 + i, where the load generator connects) and one *direct* proxy per node
port (11000 + i: no toxics, never touched by faults) for readiness probes, ``direct_url`` and
calibration. Node-to-node proxies (20000 + i) are not published. Nodes never join the public
network, so they reach nothing but Toxiproxy.

Lifecycle: crash = ``docker kill`` (SIGKILL), stop = ``docker stop`` (SIGTERM, grace),
pause/resume = ``docker pause``/``unpause`` (cgroup freezer), restart = ``docker start`` (data
kept in a per-node named volume) or, without data, a fresh container and volume. The clock is
libfaketime inside the container reading an offset file from a host directory bind-mounted
read-only (see testbeds.clock). Everything the backend creates carries the labels
``edgeproof.run``/``edgeproof.node``/``edgeproof.testbed`` (see testbeds.docker_reaper).
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness.errors import InfrastructureError, TestbedError
from testbeds import clock, images, netns
from testbeds.base import Testbed
from testbeds.progress import Progress, quiet
from testbeds.reaper import reap
from testbeds.spec import CLIENTS, ReadyProbe, TestbedSpec
from testbeds.state import NodeRecord, ProxyRecord, TestbedRecord, state_dir
from testbeds.topology import ProxyPlan, link_toxics, plan_proxies, proxy_name
from testbeds.toxiproxy.client import ToxiproxyClient

SERVICE_PORT = 7000
ADMIN_PORT = 8474
CLIENT_BASE, DIRECT_BASE, LINK_BASE = 10000, 11000, 20000
READY_TIMEOUT_S = 60.0
ADMIN_TIMEOUT_S = 15.0
CONTAINER_LIB = "/opt/edgeproof/lib/libfaketime.so.1"
CLOCK_DIR = "/edgeproof/clock"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def connect() -> Any:
    """A Docker client for the engine in the environment, or a clear InfrastructureError."""
    import docker  # cost: the SDK loads only where a docker engine is wanted
    host = os.environ.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"{DEFAULT_SOCKET} (DOCKER_HOST is not set)"
    try:
        client = docker.from_env(max_pool_size=64, timeout=120)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests and OS errors alike
        raise InfrastructureError(
            f"cannot reach a Docker engine at {where}: {_short(exc)}. Start one (`sudo dockerd &`"
            " or `sudo systemctl start docker`), or point DOCKER_HOST at a running engine "
            "(e.g. unix:///var/run/docker.sock); `docker info` must work") from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def labels(record: TestbedRecord, node: str) -> dict[str, str]:
    """The labels every container, network and volume of a testbed carries."""
    return {"edgeproof.run": record.run_id, "edgeproof.node": node,
            "edgeproof.testbed": record.name, "edgeproof.state": str(state_dir()),
            "edgeproof.owner": str(record.owner_pid),
            "edgeproof.detached": "1" if record.detached else "0"}


class DockerTestbed(Testbed):
    """Nodes as containers on an internal network; see the module docstring."""

    BACKEND = "docker"  # the record's backend name (testbeds.swarm subclasses this class)

    def __init__(self, spec: TestbedSpec, record: TestbedRecord, seed: int = 0,
                 client: Any = None) -> None:
        super().__init__(spec, record)
        self.seed = seed
        self.client = client
        self._containers: dict[str, Any] = {}

    # ------------------------------------------------------------ up
    @classmethod
    def up(cls, spec: TestbedSpec, *, run_id: str, name: str, workdir: Path, seed: int = 0,
           detached: bool = False, progress: Progress = quiet,
           scenario_path: str | None = None) -> DockerTestbed:
        """Stand the testbed up, or leave nothing behind and raise."""
        client = connect()
        built = images.ensure_images(client, say=progress)
        record = cls.new_record(spec, backend=cls.BACKEND, run_id=run_id, name=name,
                                workdir=workdir, detached=detached, scenario_path=scenario_path)
        record.docker = {"images": vars(built), "engine": os.environ.get("DOCKER_HOST", "")}
        record.save()
        tb = cls(spec, record, seed, client)
        tb.start_or_reap(lambda: tb._start(built, progress), progress)
        return tb

    def _start(self, built: images.Images, progress: Progress) -> None:
        self.record.network = self._network_mode()
        progress("creating networks and the Toxiproxy container")
        self._networks()
        self._toxiproxy(built.toxiproxy)
        progress(f"starting {len(self.spec.nodes)} network sandbox(es)")
        with ThreadPoolExecutor(max_workers=min(16, len(self.spec.nodes))) as pool:
            nets = dict(zip(self.spec.node_names,
                            pool.map(lambda n: self._sandbox(n, built.service),
                                     self.spec.node_names), strict=True))
        self._assign_addresses(nets)
        progress(f"creating proxies for {len(self.spec.nodes)} node(s) "
                 f"(network: {self.record.network})")
        self._create_proxies()
        if self.record.network == "namespaces":
            for name, net in self.node_nets().items():
                netns.restore(netns.node_rules(self.record.net["subnet"], self._routes(name)),
                              net)
        self.record.save()
        progress(f"starting {len(self.spec.nodes)} container(s)")
        with ThreadPoolExecutor(max_workers=min(16, len(self.spec.nodes))) as pool:
            list(pool.map(lambda n: self._launch(n, built.service), self.spec.node_names))
        self.record.save()
        progress(f"waiting for {len(self.spec.nodes)} node(s)")
        self.wait_ready(self.spec.node_names, READY_TIMEOUT_S, progress, alive=self._dead)

    def _cname(self, node: str) -> str:
        return f"ep-{self.run_id}-{node}"

    def _network_mode(self) -> str:
        """namespaces where this machine may enter the containers' namespaces (or as the
        scenario says), else loopback (no interception: nodes reach each other directly)."""
        why = netns.unavailable("docker")
        if self.spec.network == "namespaces" and why:
            raise InfrastructureError(
                f"testbed.network: namespaces: {why}; run as root on the engine's machine with "
                "iptables and util-linux, or set testbed.network: loopback", tool="nsenter")
        return self.spec.network or ("namespaces" if why is None else "loopback")

    def _sandbox(self, name: str, image: str) -> tuple[str, int]:
        """The node's network holder (a Kubernetes-style pause container: ``sleep``), so its
        namespace, address and rules exist before the node's process starts and outlive its
        crashes and restarts. Returns its address and pid."""
        net = self.record.docker["network"]
        c = self.client.containers.create(
            image, entrypoint=["sleep", "infinity"], command=[], name=f"{self._cname(name)}-net",
            hostname=name, labels=labels(self.record, name), detach=True, network=net,
            networking_config={net: self.client.api.create_endpoint_config(aliases=[name])})
        c.start()
        c.reload()
        return (str(c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]),
                int(c.attrs["State"]["Pid"]))

    def _networks(self) -> None:
        net = f"ep-{self.run_id}"
        made = self._internal_network(net)
        self.record.net = {"subnet": made.attrs["IPAM"]["Config"][0]["Subnet"]}
        self.client.networks.create(f"{net}-pub", driver="bridge",
                                    labels=labels(self.record, ""))
        self.record.docker.update(network=net, public_network=f"{net}-pub")
        self.record.save()

    def _internal_network(self, net: str) -> Any:
        """The nodes' network (an internal bridge), as the engine reports it (its subnet)."""
        made = self.client.networks.create(net, driver="bridge", internal=True,
                                           labels=labels(self.record, ""))
        made.reload()
        return made

    def _port_layout(self) -> tuple[list[int], list[tuple[str, str]]]:
        """Client proxy ports (one per client node) and the (node, port) pairs of direct ones."""
        clients = [CLIENT_BASE + i for i in range(len(self.spec.client_nodes))]
        direct = [(n.name, p) for n in self.spec.nodes for p in n.ports]
        return clients, direct

    def _toxiproxy(self, image: str) -> None:
        """Start Toxiproxy on both networks; admin and client/direct proxies on 127.0.0.1."""
        clients, direct = self._port_layout()
        ports = [ADMIN_PORT, *clients, *(DIRECT_BASE + i for i in range(len(direct)))]
        name = self._cname("toxiproxy")
        c = self.client.containers.create(
            image, name=name, labels=labels(self.record, "toxiproxy"), detach=True,
            environment={"LOG_LEVEL": "warn"}, network=self.record.docker["public_network"],
            ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports})
        self.record.docker["toxiproxy"] = name
        self.record.save()
        self.client.networks.get(self.record.docker["network"]).connect(c)
        c.start()
        c.reload()
        published = {int(k.split("/")[0]): int(v[0]["HostPort"])
                     for k, v in c.attrs["NetworkSettings"]["Ports"].items() if v}
        nets = c.attrs["NetworkSettings"]["Networks"]
        self.record.docker.update(
            toxiproxy_ip=nets[self.record.docker["network"]]["IPAddress"],
            published={str(k): v for k, v in published.items()})
        self.record.toxiproxy_pid = int(c.attrs["State"]["Pid"]) or None
        self.record.toxiproxy_url = f"http://127.0.0.1:{published[ADMIN_PORT]}"
        self.record.save()
        self._wait_admin(c)

    def _wait_admin(self, container: Any) -> None:
        """Poll the admin API until it answers (bounded), then keep a client on it."""
        url = str(self.record.toxiproxy_url)
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        with httpx.Client(timeout=0.5, trust_env=False) as http:
            while time.monotonic() < deadline:
                try:
                    if http.get(f"{url}/version").status_code == 200:
                        self.admin = ToxiproxyClient(url)
                        return
                except httpx.HTTPError:
                    pass
                container.reload()
                if container.status not in ("created", "running"):
                    break
                time.sleep(0.05)  # between probes, bounded by the deadline
        logs = container.logs(tail=10).decode(errors="replace")
        raise InfrastructureError(
            f"the Toxiproxy container {container.name} did not answer on {url} within "
            f"{ADMIN_TIMEOUT_S:.0f} s (status {container.status}); its log:\n{logs}")

    def _assign_addresses(self, nets: dict[str, tuple[str, int]]) -> None:
        """Each node at its sandbox's address (``{host}``; its name resolves there too)."""
        clocks = Path(self.record.workdir) / "clocks"
        for node in self.spec.nodes:
            ip, pid = nets[node.name]
            hw = node.hardware
            limits = ", ".join(x for x in (f"{hw.cpus:g} cpu" if hw.cpus else "",
                                           f"{hw.memory_mb} MiB" if hw.memory_mb else "") if x)
            faked = node.clock == "faketime" and (node.is_reference or clock.find_libfaketime())
            self.record.nodes[node.name] = NodeRecord(
                name=node.name, tier=node.tier, host=ip, container=self._cname(node.name),
                netns=f"/proc/{pid}/ns/net",
                ports={p: SERVICE_PORT + j for j, p in enumerate(node.ports)},
                limits=f"docker ({limits})" if limits else "docker (emulated)",
                clock_file=str(clocks / node.name / "offset") if faked else None,
                log=f"docker logs {self._cname(node.name)}")

    # ------------------------------------------------------------ proxies
    def _create_proxies(self) -> None:
        plans = plan_proxies(self.spec, self.run_id, self.node_addresses())
        clients = iter(range(CLIENT_BASE, CLIENT_BASE + len(plans)))
        links = iter(range(LINK_BASE, LINK_BASE + len(plans)))
        port = {p.name: next(clients if p.src == CLIENTS else links) for p in plans}
        direct = self._direct_specs()
        self.admin.populate([{"name": p.name, "listen": f"0.0.0.0:{port[p.name]}",
                              "upstream": p.upstream} for p in plans] + direct)
        for plan in plans:
            self._add_link_toxics(plan)
            self.record.proxies.append(ProxyRecord(
                plan.name, plan.src, plan.dst, plan.port_name,
                self._reachable(plan, port[plan.name]), plan.upstream))
            if plan.src == CLIENTS:
                self.nodes[plan.dst].client_url = \
                    f"http://{self._reachable(plan, port[plan.name])}"

    def _add_link_toxics(self, plan: ProxyPlan) -> None:
        for tox in link_toxics(plan):
            self.admin.add_toxic(plan.name, tox["name"], tox["type"], stream=tox["stream"],
                                 attributes=tox["attributes"])

    def _reachable(self, plan: ProxyPlan, port: int) -> str:
        """Where a proxy is reached from its source: the host for clients, else Toxiproxy."""
        if plan.src == CLIENTS:
            return f"127.0.0.1:{self.record.docker['published'][str(port)]}"
        return f"{self.record.docker['toxiproxy_ip']}:{port}"

    def _direct_specs(self) -> list[dict[str, str]]:
        """Toxic-free proxies to every node port, published for probes and direct_url."""
        _, direct = self._port_layout()
        out, where = [], {}
        for i, (node, pname) in enumerate(direct):
            port = self.nodes[node].ports[pname]
            out.append({"name": proxy_name(self.run_id, "direct", node, pname),
                        "listen": f"0.0.0.0:{DIRECT_BASE + i}",
                        "upstream": f"{self.nodes[node].host}:{port}"})
            hp = self.record.docker["published"][str(DIRECT_BASE + i)]
            where.setdefault(node, {})[pname] = f"127.0.0.1:{hp}"
        self.record.docker["direct"] = where
        return out

    def direct_url(self, node: str) -> str:
        """The node's main port through its toxic-free direct proxy (never faulted)."""
        return f"http://{self._direct(node, self.spec.node(node).main_port)}"

    def _direct(self, node: str, port_name: str) -> str:
        return str(self.record.docker["direct"][node][port_name])

    # ------------------------------------------------------------ containers
    def _service_config(self, name: str) -> dict[str, Any]:
        node = self.spec.node(name)
        svc = self.spec.service
        return {
            "name": name, "host": "0.0.0.0", "port": self.nodes[name].ports["main"],
            "mode": svc.mode, "workers": node.hardware.workers,
            "service_ms": node.hardware.service_ms,
            "seed": self.seed * 1000 + self.spec.node_names.index(name),
            "members": self.spec.node_names,
            "peers": self.link_peers(name),
            "primary": svc.primary or self.spec.node_names[0],
            "anti_entropy_ms": svc.anti_entropy_ms, "replica_timeout_ms": svc.replica_timeout_ms,
            "data_dir": "/data", "bug": svc.bug,
            **self.pipeline_fields(name), **self.control_fields(name),
        }

    def data_dir_of(self, node: str) -> str:
        return "/data"

    def _run_args(self, name: str, service_image: str) -> dict[str, Any]:
        """image, command, environment and mounts of one node's container."""
        node = self.spec.node(name)
        rec = self.nodes[name]
        base = Path(self.record.workdir) / "nodes" / name
        base.mkdir(parents=True, exist_ok=True)
        env = self.render_env(name)
        mounts: dict[str, dict[str, str]] = {}
        if node.is_reference:
            (base / "node.json").write_text(json.dumps(self._service_config(name)))
            mounts[str(base)] = {"bind": "/etc/edgeproof", "mode": "ro"}
            image, command, lib = service_image, None, CONTAINER_LIB
        else:
            image = str(node.image or service_image)
            command = self.argv(name, node.command) if node.command else None
            lib = CONTAINER_LIB
            host_lib = clock.find_libfaketime()
            if rec.clock_file and host_lib:
                mounts[host_lib] = {"bind": CONTAINER_LIB, "mode": "ro"}
        if rec.clock_file:
            Path(rec.clock_file).parent.mkdir(parents=True, exist_ok=True)
            clock.write_offset(rec.clock_file, clock.read_offset(rec.clock_file))
            mounts[str(Path(rec.clock_file).parent)] = {"bind": CLOCK_DIR, "mode": "ro"}
            env.update({"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": f"{CLOCK_DIR}/offset",
                        "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"})
        return {"image": image, "command": command, "environment": env, "volumes": mounts}

    def _files_archive(self, name: str) -> bytes | None:
        """The node's declared config files, rendered, as a tar to unpack into its data
        volume (/data) before the container starts; None when it declares none."""
        files = self.render_files(name)
        return files_tar(files) if files else None

    def _launch(self, name: str, service_image: str | None = None) -> None:
        """Create the node's data volume and container on the internal network; start it."""
        image = service_image or self.record.docker["images"]["service"]
        args = self._run_args(name, image)
        files = self._files_archive(name)  # rendered first: a bad placeholder starts nothing
        vol = f"{self._cname(name)}-data"
        self.client.volumes.create(vol, labels=labels(self.record, name))
        args["volumes"][vol] = {"bind": "/data", "mode": "rw"}
        hw = self.spec.node(name).hardware
        c = self.client.containers.create(
            name=self._cname(name), labels=labels(self.record, name), detach=True,
            network_mode=f"container:{self._cname(name)}-net",
            nano_cpus=int(hw.cpus * 1e9) if hw.cpus else None,
            mem_limit=f"{hw.memory_mb}m" if hw.memory_mb else None, **args)
        if files is not None:  # into the data volume of the created, not yet started, container
            c.put_archive("/data", files)
        c.start()
        self._containers[name] = c

    def _container(self, name: str) -> Any:
        c = self._containers.get(name)
        if c is None:
            c = self._containers[name] = self.client.containers.get(self._cname(name))
        return c

    def _state(self, name: str) -> str:
        """The container's status ('running', 'paused', 'exited', ...; 'missing' if gone)."""
        import docker.errors  # cost: the SDK loads only with a docker testbed
        try:
            c = self._container(name)
            c.reload()
        except docker.errors.NotFound:
            self._containers.pop(name, None)
            return "missing"
        return str(c.status)

    def _dead(self, name: str) -> str | None:
        """Why a node's container stopped during start-up, with its log's tail; None if up."""
        state = self._state(name)
        if state in ("running", "created", "paused", "restarting"):
            return None
        tail = ""
        if state != "missing":
            tail = self._container(name).logs(tail=5).decode(errors="replace").strip()
        return (f"node {name}: its container {self._cname(name)} is {state} during start-up; "
                f"last log lines (`docker logs {self._cname(name)}`):\n  " +
                "\n  ".join(tail.splitlines()))

    # ------------------------------------------------------------ health
    def probe_ok(self, node: str, probe: ReadyProbe, timeout_s: float = 1.0,
                 http: httpx.Client | None = None) -> bool:
        """As the base, with TCP through the node's direct proxy (which accepts at once: the
        upstream is checked by keeping the connection open a moment)."""
        if probe.command or probe.http:
            return super().probe_ok(node, probe, timeout_s, http)
        return upstream_open(self._direct(node, probe.tcp or self.spec.node(node).main_port),
                             timeout_s)

    def run_probe(self, node: str, argv: list[str], timeout_s: float = 5.0) -> bool:
        """Inside the node's container (its addresses, its tools); no shell."""
        if self._state(node) != "running":
            return False
        return int(self._container(node).exec_run(argv).exit_code) == 0

    # ------------------------------------------------------------ lifecycle verbs
    def node_running(self, node: str) -> bool:
        return self._state(node) in ("running", "paused")

    def frozen(self, node: str) -> bool | None:
        """From the container's state (docker pause is the cgroup freezer)."""
        state = self._state(node)
        return None if state == "missing" else state == "paused"

    def port_open(self, node: str, timeout_s: float = 0.5) -> bool:
        """Through the direct proxy, which accepts even when the node is down."""
        return upstream_open(self._direct(node, self.spec.node(node).main_port), timeout_s)

    def _direct_address(self, node: str, port_name: str) -> tuple[str, int]:
        host, port = self._direct(node, port_name).rsplit(":", 1)
        return host, int(port)

    def crash(self, node: str) -> None:
        """SIGKILL the container's processes (docker kill)."""
        if self._state(node) == "paused":
            self._container(node).unpause()
        if self._state(node) == "running":
            self._container(node).kill()

    def stop(self, node: str) -> None:
        """Graceful stop: SIGTERM, SIGKILL after 5 s (docker stop)."""
        if self._state(node) == "paused":
            self._container(node).unpause()
        self._container(node).stop(timeout=5)

    def restart(self, node: str, keep_data: bool = True) -> None:
        """Start the node again (same container and data volume, or fresh ones)."""
        if self.node_running(node):
            return
        if keep_data and self._state(node) != "missing":
            self._container(node).start()
        else:
            self._remove_node(node)
            self._launch(node)
        self.record.save()
        self.wait_ready([node], READY_TIMEOUT_S, alive=self._dead)

    def _remove_node(self, node: str) -> None:
        import docker.errors  # cost: as above
        if self._state(node) != "missing":
            self._container(node).remove(force=True)
        self._containers.pop(node, None)
        try:
            self.client.volumes.get(f"{self._cname(node)}-data").remove(force=True)
        except docker.errors.NotFound:
            pass

    def pause(self, node: str) -> None:
        """Freeze the container (docker pause: the cgroup freezer)."""
        if self._state(node) == "running":
            self._container(node).pause()

    def resume(self, node: str) -> None:
        if self._state(node) == "paused":
            self._container(node).unpause()

    def set_clock(self, node: str, offset_s: float) -> None:
        rec = self.nodes[node]
        if not rec.clock_file:
            raise TestbedError(
                f"node {node}: its clock cannot be moved (clock: none, or libfaketime not found "
                "on the host to mount into a user image); install Debian's libfaketime",
                node=node)
        clock.write_offset(rec.clock_file, offset_s)

    def down(self) -> None:
        """Keep each node's log in the work dir (``nodes/<node>.log``, as on the local
        backend), then remove every container, network and volume and forget the testbed."""
        if self.admin is not None:
            self.admin.close()
        self._save_logs()
        reap(self.record)
        self._containers.clear()

    def _save_logs(self) -> None:
        import docker.errors  # cost: as above
        logs = Path(self.record.workdir) / "nodes"
        for name in self.nodes:
            try:
                text = self._container(name).logs(timestamps=False)
            except (docker.errors.NotFound, docker.errors.APIError):
                continue
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"{name}.log").write_bytes(text)

    @classmethod
    def attach(cls, spec: TestbedSpec, record: TestbedRecord) -> DockerTestbed:
        """A handle on a testbed another process started (for status, down and faults)."""
        tb = cls(spec, record, client=connect())
        if record.toxiproxy_url:
            tb.admin = ToxiproxyClient(record.toxiproxy_url)
        return tb


def upstream_open(addr: str, timeout_s: float = 0.5) -> bool:
    """TCP readiness through a Toxiproxy proxy: it accepts at once, then closes the connection
    when its upstream refuses; a connection still open after a short wait means it is up."""
    host, port = addr.rsplit(":", 1)
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError:
        return False
    with s:
        s.settimeout(min(0.2, timeout_s))
        try:
            return s.recv(1) != b""
        except TimeoutError:
            return True
        except OSError:
            return False


def files_tar(files: dict[str, str]) -> bytes:
    """A tar of plain files {NAME: text} (UTF-8, mode 0644), as Docker's put_archive takes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for fname, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(fname)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
