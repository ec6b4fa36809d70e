"""The testbed interface every backend implements, and what they share.

A testbed is a handle on running nodes, their links (Toxiproxy proxies) and the on-disk record
that lets another process (`status`, `down`, `clean`) find it. Faults only use this interface.
"""

from __future__ import annotations

import abc
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness.errors import EdgeproofError, TestbedError
from testbeds import netns
from testbeds.net import tcp_open
from testbeds.placeholders import Address, render_command
from testbeds.processes import in_parallel, pid_alive, start_time
from testbeds.progress import Progress, quiet
from testbeds.reaper import reap
from testbeds.spec import CLIENTS, ReadyProbe, TestbedSpec
from testbeds.state import NodeRecord, ProxyRecord, TestbedRecord, free_slot
from testbeds.toxiproxy.client import ToxiproxyClient


class Testbed(abc.ABC):
    """Running nodes joined by proxied links; lifecycle verbs for faults to use."""

    __test__ = False

    def __init__(self, spec: TestbedSpec, record: TestbedRecord) -> None:
        self.spec = spec
        self.record = record
        self.admin: ToxiproxyClient | Any = None  # the Toxiproxy admin client once up
        self._blocks: dict[str, tuple[list[Any], list[str]]] = {}  # proxy cuts, by tag
        self._cut_nodes: dict[str, list[str]] = {}  # namespaces holding a cut's chain, by tag
        self._index: tuple[int, int, dict[tuple[str, str], list[ProxyRecord]]] = (0, -1, {})

    # ------------------------------------------------------------ start-up
    @classmethod
    @abc.abstractmethod
    def up(cls, spec: TestbedSpec, *, run_id: str, name: str, workdir: Path, seed: int = 0,
           detached: bool = False, progress: Progress = quiet,
           scenario_path: str | None = None) -> Testbed:
        """Stand a testbed up and wait until every node is ready, or leave nothing behind
        and raise."""

    @classmethod
    @abc.abstractmethod
    def attach(cls, spec: TestbedSpec, record: TestbedRecord) -> Testbed:
        """A handle on a testbed another process stood up (for status, down and faults)."""

    @staticmethod
    def new_record(spec: TestbedSpec, *, backend: str, run_id: str, name: str, workdir: Path,
                   detached: bool, scenario_path: str | None) -> TestbedRecord:
        """The on-disk record, written before anything starts (so clean can find it all).
        The work dir is made absolute: nodes start in their own data dirs."""
        workdir = Path(os.path.abspath(workdir))
        workdir.mkdir(parents=True, exist_ok=True)
        return TestbedRecord(run_id=run_id, backend=backend, name=name, workdir=str(workdir),
                             owner_pid=os.getpid(), owner_start=start_time(os.getpid()),
                             detached=detached, slot=free_slot(),
                             scenario_path=scenario_path,
                             spec=spec.model_dump(mode="json", by_alias=True))

    def start_or_reap(self, start: Callable[[], None], progress: Progress) -> None:
        """Run the backend's start-up; on any failure reap what it made, then raise."""
        try:
            start()
        except BaseException as exc:
            progress("start-up failed: cleaning up")
            reap(self.record)
            if isinstance(exc, EdgeproofError | KeyboardInterrupt):
                raise
            text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise TestbedError(f"testbed {self.record.name!r} failed to start: {text}") from exc

    # ------------------------------------------------------------ addresses
    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def nodes(self) -> dict[str, NodeRecord]:
        return self.record.nodes

    def client_targets(self) -> list[tuple[str, str]]:
        """(node, base URL through its client proxy) for every client node."""
        return [(n, str(self.nodes[n].client_url)) for n in self.spec.client_nodes]

    def pipeline_fields(self, name: str) -> dict[str, Any]:
        """The store-and-forward part of a reference node's node.json: its service-time
        distribution, its parent (when that is a reference node too), whether it is the
        sink, and its forwarding settings with its own buffer."""
        node = self.spec.node(name)
        parent = self.spec.node(node.parent) if node.parent is not None else None
        forwards = parent is not None and parent.is_reference
        pipe = self.spec.service.pipeline
        return {
            "distribution": node.hardware.distribution,
            "parent": parent.name if forwards and parent is not None else None,
            "sink": node.parent is None and bool(self.spec.children(name)),
            "pipeline": {**pipe.model_dump(), "capacity": node.buffer.capacity,
                         "overflow": node.buffer.overflow} if forwards else None,
        }

    def peer_address(self, proxy: ProxyRecord) -> str:
        """The address at which a reference node reaches a peer through this proxy (the
        proxy's own here; in namespaces the peer's own address, intercepted into it)."""
        return proxy.listen

    def link_peers(self, name: str, port_name: str = "main") -> dict[str, str]:
        """Peer name -> the address ``name`` reaches its ``port_name`` at, over the links."""
        return {p.dst: self.peer_address(p) for p in self.proxies(name, "*")
                if p.port_name == port_name}

    def control_fields(self, name: str) -> dict[str, Any]:
        """The control-plane part of a reference node's node.json: its control port, and
        its parent's and children's control ports over the links (empty: no control plane)."""
        ctl = self.spec.service.control
        if ctl is None:
            return {}
        node, peers = self.spec.node(name), self.link_peers(name, "control")
        return {"control": {
            **ctl.model_dump(), "port": self.nodes[name].ports["control"],
            "parent": peers.get(node.parent) if node.parent is not None else None,
            "children": {c: peers[c] for c in self.spec.children(name) if c in peers}}}

    def control_logs(self, timeout_s: float = 5.0) -> dict[str, list[dict[str, Any]] | None]:
        """Each control-plane node's applied versions in order (``version``, ``t_ns`` on the
        host's monotonic clock, ``from``), read from the node; None for a node that did not
        answer (empty without a control plane)."""
        if self.spec.service.control is None:
            return {}
        out: dict[str, list[dict[str, Any]] | None] = {}
        with httpx.Client(timeout=timeout_s) as client:
            for n in self.spec.nodes:
                if not n.is_reference:
                    continue
                try:
                    out[n.name] = list(client.get(
                        f"{self.direct_url(n.name)}/control/log").json()["log"])
                except (httpx.HTTPError, ValueError, KeyError):
                    out[n.name] = None
        return out

    def direct_url(self, node: str) -> str:
        rec = self.nodes[node]
        port = rec.ports[self.spec.node(node).main_port]
        return f"http://{rec.host}:{port}"

    def proxies(self, src: str, dst: str) -> list[ProxyRecord]:
        """Proxies carrying traffic from src to dst (src may be 'clients', dst may be '*'),
        from an index by direction (a mesh partition asks for thousands of directions)."""
        return list(self._by_direction().get((src, dst), ()))

    def _by_direction(self) -> dict[tuple[str, str], list[ProxyRecord]]:
        """The proxies by (src, dst) and (src, '*'), rebuilt when the record's list changes."""
        key = (id(self.record.proxies), len(self.record.proxies))
        if self._index[:2] != key:
            index: dict[tuple[str, str], list[ProxyRecord]] = {}
            for p in self.record.proxies:
                index.setdefault((p.src, p.dst), []).append(p)
                index.setdefault((p.src, "*"), []).append(p)
            self._index = (*key, index)
        return self._index[2]

    def data_dir_of(self, node: str) -> str:
        """The node's data directory as the node sees it (``{data_dir}``)."""
        return str(Path(self.record.workdir) / "nodes" / node / "data")

    def render(self, node: str, template: str, *, quote: bool = False,
               field: str = "command") -> str:
        """A template with this node's placeholders filled (the same everywhere: command,
        env, probes, files); ``quote`` shell-quotes each value for a command line; ``field``
        names the template's place in an error (``env.NAME``, ``files.NAME``)."""
        rec = self.nodes[node]
        return render_command(self.spec.node(node), template, host=rec.host, ports=rec.ports,
                              data_dir=self.data_dir_of(node), nodes=self.node_addresses(),
                              links=self.link_addresses(node), quote=quote, field=field)

    def render_env(self, node: str) -> dict[str, str]:
        """The node's declared environment with its placeholders filled."""
        return {k: self.render(node, v, field=f"env.{k}")
                for k, v in self.spec.node(node).env.items()}

    def render_files(self, node: str) -> dict[str, str]:
        """The node's declared config files {NAME: text}, placeholders filled as in its
        command (a ConfigError names ``files.NAME`` for an unknown one)."""
        return {k: self.render(node, v, field=f"files.{k}")
                for k, v in self.spec.node(node).files.items()}

    def argv(self, node: str, template: str) -> list[str]:
        """A command template as the arguments to run (no shell: write ``sh -c`` yourself)."""
        return shlex.split(self.render(node, template, quote=True))

    def run_probe(self, node: str, argv: list[str], timeout_s: float = 5.0) -> bool:
        """Run a probe command where the node's own traffic goes (its network); True when it
        exits 0."""
        try:
            return subprocess.run(argv, capture_output=True, timeout=timeout_s,
                                  check=False).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def link_addresses(self, node: str) -> dict[str, Address]:
        """Where ``node`` reaches each peer through its link proxies: {peer: (host, ports)}
        (the ``{links.OTHER.*}`` placeholders)."""
        links: dict[str, Address] = {}
        for p in self.proxies(node, "*"):
            host, port = p.listen.rsplit(":", 1)
            links.setdefault(p.dst, (host, {}))[1][p.port_name] = int(port)
        return links

    def node_addresses(self) -> dict[str, Address]:
        """Every node's own address (the ``{nodes.OTHER.*}`` placeholders)."""
        return {n: (r.host, r.ports) for n, r in self.nodes.items()}

    def link_proxies(self, a: str, b: str) -> list[ProxyRecord]:
        """Every proxy on the link between a and b, both directions (clients: one way)."""
        if a == CLIENTS or b == CLIENTS:
            node = b if a == CLIENTS else a
            return self.proxies(CLIENTS, node)
        return self.proxies(a, b) + self.proxies(b, a)

    # ------------------------------------------------------------ lifecycle verbs
    @abc.abstractmethod
    def crash(self, node: str) -> None: ...

    @abc.abstractmethod
    def restart(self, node: str, keep_data: bool = True) -> None: ...

    @abc.abstractmethod
    def stop(self, node: str) -> None: ...

    @abc.abstractmethod
    def pause(self, node: str) -> None: ...

    @abc.abstractmethod
    def resume(self, node: str) -> None: ...

    @abc.abstractmethod
    def set_clock(self, node: str, offset_s: float) -> None: ...

    @abc.abstractmethod
    def node_running(self, node: str) -> bool: ...

    @abc.abstractmethod
    def down(self) -> None: ...

    # ------------------------------------------------------------ network verbs
    def node_nets(self) -> dict[str, netns.NodeNet]:
        """Each node's network namespace where the testbed intercepts its traffic
        (``network: namespaces``: a namespace of its own, or its container's); else empty."""
        if self.record.network != "namespaces":
            return {}
        return {n: netns.NodeNet(n, r.netns, "", r.host) for n, r in self.nodes.items()
                if r.netns}

    def block(self, cuts: set[tuple[str, str]], tag: str, mode: str = "drop",
              port: str | None = None) -> None:
        """Cut these (src, dst) directions: a ``timeout`` toxic on both streams of every cut
        proxy (``drop``: data vanishes, connections hang, including what a node sends back on
        connections its peer opened, as etcd's raft streams do) or the proxy disabled
        (``reject``: refused), in pipelined admin calls (a 20-node partition lands in
        milliseconds). In namespaces, besides, a chain in each source node's namespace drops
        TCP to its cut proxies (new connections time out, or are refused: ``reject``) and
        non-TCP traffic to the cut peers (Toxiproxy is TCP only). ``port`` cuts only that
        named port's proxies (and no non-TCP traffic). Mended by :meth:`unblock`."""
        toxics, disable = [], []
        for src, dst in sorted(cuts):
            for proxy in self.port_proxies(src, dst, port):
                if mode == "reject":
                    disable.append(proxy.name)
                else:
                    toxics += [(proxy.name, f"{tag}-partition-{s}", "timeout", s, {"timeout": 0})
                               for s in ("upstream", "downstream")]
        self._blocks[tag] = (toxics, disable)
        self.admin.add_toxics(toxics)
        self.admin.set_enabled_many(disable, False)
        self._cut_in_namespaces(cuts, tag, mode, port)

    def port_proxies(self, src: str, dst: str, port: str | None) -> list[ProxyRecord]:
        """The proxies from src to dst, only those of the named port when one is given."""
        return [p for p in self.proxies(src, dst) if port is None or p.port_name == port]

    def _cut_in_namespaces(self, cuts: set[tuple[str, str]], tag: str, mode: str,
                           port: str | None = None) -> None:
        nets = self.node_nets()
        rules: dict[str, tuple[list[tuple[str, int]], list[str]]] = {}
        for src, dst in sorted(cuts):
            if src not in nets or dst not in self.nodes:
                continue
            proxies, peers = rules.setdefault(src, ([], []))
            proxies += [(h, int(p)) for h, p in (x.listen.rsplit(":", 1)
                                                 for x in self.port_proxies(src, dst, port))]
            if port is None:
                peers.append(self.nodes[dst].host)
        target = "REJECT --reject-with tcp-reset" if mode == "reject" else "DROP"
        chain = self._cut_chain(tag)
        self._cut_nodes[tag] = sorted(rules)  # before: a failed restore is mended too
        in_parallel([lambda s=src, r=r: netns.restore(netns.node_cut_rules(chain, *r, target),
                                                      nets[s]) for src, r in rules.items()])

    def _routes(self, name: str) -> list[netns.Route]:
        """The declared link directions out of a node, each port through its proxy (what its
        namespace DNATs)."""
        return [netns.Route(self.nodes[p.dst].host, self.nodes[p.dst].ports[p.port_name],
                            p.listen) for p in self.proxies(name, "*")]

    def _cut_chain(self, tag: str) -> str:
        return f"EPC-{tag}"[:28]

    def unblock(self, tag: str) -> None:
        """Mend a cut made by :meth:`block` (idempotent; from another process, every node's
        namespace is mended)."""
        toxics, disable = self._blocks.pop(tag, ([], []))
        self.admin.remove_toxics([(p, n) for p, n, *_ in toxics])
        self.admin.set_enabled_many(disable, True)
        nets = self.node_nets()
        chain = self._cut_chain(tag)
        in_parallel([lambda n=name: netns.node_mend(nets[n], chain)
                     for name in self._cut_nodes.pop(tag, list(nets)) if name in nets])

    def blocked_packets(self, tag: str) -> int | None:
        """Packets a cut dropped in the nodes' namespaces (None where the network cannot
        count them: the cut proxies' byte counters then tell whether the cut met traffic)."""
        nets = self.node_nets()
        if not nets:
            return None
        return sum(netns.node_chain_packets(nets[n], self._cut_chain(tag))
                   for n in self._cut_nodes.get(tag, list(nets)))

    def link_packets(self, a: str, b: str) -> int | None:
        """Packets the link between two nodes has carried so far, both ways, counted live
        by the accept rules of their namespaces (None where the network cannot count them;
        Toxiproxy's own byte counters move only when a connection closes)."""
        nets = self.node_nets()
        if a not in nets or b not in nets:
            return None
        return (netns.route_packets(nets[a], self.nodes[b].host)
                + netns.route_packets(nets[b], self.nodes[a].host))

    def dropped(self) -> dict[str, int]:
        """Per node, packets to the testbed that its namespace dropped (undeclared ports,
        nodes without a link); empty where nothing is intercepted."""
        return {n: netns.dropped(net) for n, net in self.node_nets().items()}

    def proxy_bytes(self, proxies: list[ProxyRecord]) -> int | None:
        """Bytes these proxies have carried so far (None when Toxiproxy keeps no metrics)."""
        counts = self.admin.proxy_bytes()
        if not counts:
            return None
        return sum(counts.get(p.name, 0) for p in proxies)

    # ------------------------------------------------------------ effect probes
    def reaches(self, src: str, dst: str, timeout_s: float = 0.5,
                port: str | None = None) -> bool | None:
        """Whether ``src`` can open a TCP connection to ``dst``'s client port (or the named
        ``port``) the way its own traffic would: from inside src's namespace to dst's own
        address (None where that cannot be tried from inside ``src``)."""
        nets = self.node_nets()
        if src not in nets:
            return None
        rec = self.nodes[dst]
        name = port or self.spec.node(dst).main_port
        return netns.connects(nets[src].path, rec.host, rec.ports[name], timeout_s)

    def port_open(self, node: str, timeout_s: float = 0.5) -> bool:
        """Whether the node's client port accepts a TCP connection."""
        host, port = self._direct_address(node, self.spec.node(node).main_port)
        return tcp_open(host, port, timeout_s)

    def frozen(self, node: str) -> bool | None:
        """Whether the node is frozen (paused), from the freezer or the process state;
        None where it cannot be told."""
        return None

    def app_probe(self, node: str) -> tuple[str, str] | None:
        """The node's application probe as (port name, HTTP path), if it has one."""
        spec = self.spec.node(node)
        probe = spec.probe or (spec.ready if spec.ready and spec.ready.http else None)
        if probe and probe.http:
            return probe.port or spec.main_port, probe.http
        if spec.is_reference:
            return spec.main_port, "/health"
        return None

    def answers(self, node: str, timeout_s: float = 1.0) -> bool | None:
        """Whether the node's application answers its probe (None: it has none)."""
        probe = self.app_probe(node)
        if probe is None:
            return None
        host, port = self._direct_address(node, probe[0])
        try:
            with httpx.Client(trust_env=False, timeout=timeout_s) as http:
                return http.get(f"http://{host}:{port}{probe[1]}").status_code < 500
        except httpx.HTTPError:
            return False

    def _direct_address(self, node: str, port_name: str) -> tuple[str, int]:
        rec = self.nodes[node]
        return rec.host, rec.ports[port_name]

    def link_rtt_ms(self, src: str, dst: str, samples: int = 5) -> float | None:
        """The least round trip of ``dst``'s application probe over the link from ``src``
        (the path src's traffic takes), in ms, of ``samples`` (the load's queueing and host
        noise only ever add: the least is the link); None where it cannot be measured."""
        nets = self.node_nets()
        if src in nets:
            return self._rtt_inside(nets[src], dst, samples)
        probe = self.app_probe(dst)
        proxies = [p for p in self.proxies(src, dst) if probe and p.port_name == probe[0]]
        if probe is None or not proxies:
            return None
        url = f"http://{proxies[0].listen}{probe[1]}"
        times = []
        with httpx.Client(trust_env=False, timeout=5.0) as http:
            for _ in range(samples):
                t = time.perf_counter()
                try:
                    http.get(url)
                except httpx.HTTPError:
                    return None
                times.append((time.perf_counter() - t) * 1000)
        return min(times)

    def _rtt_inside(self, net: netns.NodeNet, dst: str, samples: int) -> float | None:
        """From inside a node's namespace to dst's own address, intercepted into the link."""
        probe = self.app_probe(dst)
        if probe is None:
            return None
        rec = self.nodes[dst]
        times = []
        for _ in range(samples):
            t = time.perf_counter()
            if netns.http_status(net.path, rec.host, rec.ports[probe[0]], probe[1],
                                 timeout_s=5.0) is None:
                return None
            times.append((time.perf_counter() - t) * 1000)
        return min(times)

    def node_clock_offset_s(self, node: str) -> float | None:
        """How far the node's wall clock is from this machine's, read from the node itself
        (the reference service's ``/clock``); None where it cannot be read."""
        if not self.spec.node(node).is_reference:
            return None
        host, port = self._direct_address(node, self.spec.node(node).main_port)
        try:
            with httpx.Client(trust_env=False, timeout=2.0) as http:
                t0 = time.time()
                body = http.get(f"http://{host}:{port}/clock").json()
                t1 = time.time()
        except (httpx.HTTPError, ValueError):
            return None
        wall = body.get("wall_s", body.get("time")) if isinstance(body, dict) else None
        return None if wall is None else float(wall) - (t0 + t1) / 2

    def lost(self) -> str | None:
        """Why the testbed is gone from under its run (its record removed by a `down` or
        `clean --force` elsewhere, its Toxiproxy gone); None while it stands."""
        if not self.record.path.exists():
            return ("its record was removed (an `edgeproof down --force` or `clean --force` "
                    "from another process?)")
        if self.record.toxiproxy_pid and not pid_alive(self.record.toxiproxy_pid):
            return f"its Toxiproxy (pid {self.record.toxiproxy_pid}) is gone"
        return None

    # ------------------------------------------------------------ health
    def healthy(self, node: str, timeout_s: float = 1.0,
                http: httpx.Client | None = None) -> bool:
        """One readiness probe against the node's own address (not through a proxy): its
        ``ready`` probe, /health for the reference service, else its client port.

        A TCP connect comes first: it costs microseconds while the port still refuses, so a
        testbed of 100 starting nodes is not slowed down by its own prober."""
        spec = self.spec.node(node)
        probe = spec.ready or (ReadyProbe(http="/health") if spec.is_reference
                               else ReadyProbe(tcp=spec.main_port))
        return self.probe_ok(node, probe, timeout_s, http)

    def probe_ok(self, node: str, probe: ReadyProbe, timeout_s: float = 1.0,
                 http: httpx.Client | None = None) -> bool:
        """One try of a probe: a command (no shell, placeholders filled) where the node's
        traffic goes, an HTTP GET below 500, or a TCP connect."""
        spec = self.spec.node(node)
        if probe.command:
            return self.run_probe(node, self.argv(node, probe.command), max(timeout_s, 5))
        if probe.http:
            host, port = self._direct_address(node, probe.port or spec.main_port)
            if not tcp_open(host, port, timeout_s):
                return False
            try:
                if http is not None:
                    return http.get(f"http://{host}:{port}{probe.http}",
                                    timeout=timeout_s).status_code < 500
                with httpx.Client(trust_env=False) as own:
                    return own.get(f"http://{host}:{port}{probe.http}",
                                   timeout=timeout_s).status_code < 500
            except httpx.HTTPError:
                return False
        host, port = self._direct_address(node, probe.tcp or spec.main_port)
        return tcp_open(host, port, timeout_s)

    def wait_settled(self, timeout_s: float = 60.0, progress: Progress = quiet) -> None:
        """Before the load: every node's ``settle`` probe succeeds (bounded), so what start-up
        leaves unsettled (a replica still syncing) is not blamed on a fault."""
        pending = [n for n in self.spec.node_names if self.spec.node(n).settle]
        deadline = time.monotonic() + timeout_s
        if pending:
            progress(f"waiting for {len(pending)} node(s) to settle")
        while pending:
            pending = [n for n in pending
                       if not self.probe_ok(n, self.spec.node(n).settle)]  # type: ignore[arg-type]
            if pending and time.monotonic() > deadline:
                raise TestbedError(
                    f"node(s) {', '.join(pending)}: the settle probe did not succeed within "
                    f"{timeout_s:.0f} s; check testbed.nodes[].settle and the node logs under "
                    f"{self.record.workdir}/nodes/", node=pending[0])
            if pending:
                time.sleep(0.2)  # between probe rounds, bounded by the deadline

    def wait_ready(self, names: list[str], timeout_s: float, progress: Progress = quiet,
                   alive: Callable[[str], str | None] | None = None) -> None:
        """Poll readiness probes until every node answers; a dead node fails fast."""
        pending = list(names)
        deadline = time.monotonic() + timeout_s
        total = len(pending)
        with httpx.Client(trust_env=False) as http:
            self._poll(pending, total, deadline, timeout_s, progress, alive, http)

    def _poll(self, pending: list[str], total: int, deadline: float, timeout_s: float,
              progress: Progress, alive: Callable[[str], str | None] | None,
              http: httpx.Client) -> None:
        while pending:
            for name in list(pending):
                problem = alive(name) if alive else None
                if problem:
                    raise TestbedError(problem, node=name)
                if self.healthy(name, timeout_s=0.5, http=http):
                    pending.remove(name)
                    progress(f"ready {total - len(pending)}/{total}")
            if pending and time.monotonic() > deadline:
                raise TestbedError(
                    f"node(s) {', '.join(pending)} not ready within {timeout_s:.0f} s; see "
                    f"their logs under {self.record.workdir}/nodes/ and the readiness probe "
                    "in the scenario (ready: {tcp|http|command})", node=pending[0]
                )
            if pending:
                time.sleep(0.02)  # between probe sweeps, bounded by the deadline

    def status(self) -> dict[str, Any]:
        """Nodes, health, addresses, proxies and active faults, as plain data."""
        nodes = []
        for name, rec in self.nodes.items():
            up = self.node_running(name)
            nodes.append({
                "name": name, "tier": rec.tier, "host": rec.host, "ports": rec.ports,
                "client_url": rec.client_url, "pid": rec.pid, "container": rec.container,
                "running": up, "healthy": up and self.healthy(name, timeout_s=0.5),
                "limits": rec.limits, "parent": self.spec.node(name).parent,
            })
        return {
            "run_id": self.run_id, "name": self.record.name, "backend": self.record.backend,
            "toxiproxy": self.record.toxiproxy_url, "workdir": self.record.workdir,
            "nodes": nodes,
            "proxies": [vars(p) for p in self.record.proxies],
            "active_faults": self.record.active_faults,
            "network": self.record.network, "dropped": self.dropped(),
            "tree": ([{"depth": d, "name": n, "tier": t} for d, n, t in self.spec.tree()]
                     if any(n.parent for n in self.spec.nodes) else []),
        }

