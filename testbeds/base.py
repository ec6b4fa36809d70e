"""The testbed interface every backend implements, and what they share.

A testbed is a handle on running nodes, their links (Toxiproxy proxies) and the on-disk record
that lets another process (`status`, `down`, `clean`) find it. Faults only use this interface.
"""

from __future__ import annotations

import abc
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness.errors import EdgeproofError, TestbedError
from testbeds.net import tcp_open
from testbeds.placeholders import Address
from testbeds.progress import Progress, quiet
from testbeds.reaper import reap
from testbeds.spec import CLIENTS, TestbedSpec
from testbeds.state import NodeRecord, ProxyRecord, TestbedRecord, free_slot
from testbeds.toxiproxy.client import ToxiproxyClient


class Testbed(abc.ABC):
    """Running nodes joined by proxied links; lifecycle verbs for faults to use."""

    __test__ = False

    def __init__(self, spec: TestbedSpec, record: TestbedRecord) -> None:
        self.spec = spec
        self.record = record
        self.admin: ToxiproxyClient | Any = None  # the Toxiproxy admin client once up

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
                             owner_pid=os.getpid(), detached=detached, slot=free_slot(),
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

    def direct_url(self, node: str) -> str:
        rec = self.nodes[node]
        port = rec.ports[self.spec.node(node).main_port]
        return f"http://{rec.host}:{port}"

    def proxies(self, src: str, dst: str) -> list[ProxyRecord]:
        """Proxies carrying traffic from src to dst (src may be 'clients', dst may be '*')."""
        return [p for p in self.record.proxies
                if p.src == src and (dst == "*" or p.dst == dst)]

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

    # ------------------------------------------------------------ health
    def healthy(self, node: str, timeout_s: float = 1.0,
                http: httpx.Client | None = None) -> bool:
        """One readiness probe against the node's own address (not through a proxy).

        A TCP connect comes first: it costs microseconds while the port still refuses, so a
        testbed of 100 starting nodes is not slowed down by its own prober."""
        spec = self.spec.node(node)
        rec = self.nodes[node]
        probe = spec.ready
        if probe and probe.command:
            return subprocess.run(probe.command, shell=True, capture_output=True,
                                  timeout=max(timeout_s, 5)).returncode == 0
        if spec.is_reference or (probe and probe.http):
            path = probe.http if probe and probe.http else "/health"
            port_name = (probe.port if probe and probe.port else None) or spec.main_port
            port = rec.ports[port_name]
            if not tcp_open(rec.host, port, timeout_s):
                return False
            try:
                if http is not None:
                    return http.get(f"http://{rec.host}:{port}{path}",
                                    timeout=timeout_s).status_code < 500
                with httpx.Client(trust_env=False) as own:
                    return own.get(f"http://{rec.host}:{port}{path}",
                                   timeout=timeout_s).status_code < 500
            except httpx.HTTPError:
                return False
        port_name = probe.tcp if probe and probe.tcp else spec.main_port
        return tcp_open(rec.host, rec.ports[port_name], timeout_s)

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
                "limits": rec.limits,
            })
        return {
            "run_id": self.run_id, "name": self.record.name, "backend": self.record.backend,
            "toxiproxy": self.record.toxiproxy_url, "workdir": self.record.workdir,
            "nodes": nodes,
            "proxies": [vars(p) for p in self.record.proxies],
            "active_faults": self.record.active_faults,
        }

