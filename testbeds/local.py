"""The embedded `local` backend: each node a process on a loopback address of its own.

One Toxiproxy server per testbed (admin API on 127.0.0.1 only), one proxy per link direction
and per client link; nodes learn only their link proxies' addresses. CPU and memory limits come
from cgroups where this process may write them, and the node's clock runs under libfaketime.
Every process carries ``EDGEPROOF_RUN_ID`` in its environment so `edgeproof clean` finds it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError, TestbedError
from testbeds import cgroups, clock, netns, nftcut
from testbeds.base import Testbed
from testbeds.net import node_host, port_free
from testbeds.processes import in_parallel, kill_group, nofile_for, pid_alive, raise_nofile
from testbeds.progress import Progress, quiet
from testbeds.reaper import reap
from testbeds.spec import CLIENTS, TestbedSpec
from testbeds.state import NodeRecord, ProxyRecord, TestbedRecord, labels
from testbeds.template import Template, TemplateError
from testbeds.topology import link_toxics, plan_proxies
from testbeds.toxiproxy.client import ToxiproxyClient
from testbeds.toxiproxy.server import ToxiproxyServer, find_toxiproxy

BASE_PORT = 7000
READY_TIMEOUT_S = 60.0


class LocalTestbed(Testbed):
    """Nodes as local processes; see the module docstring."""

    def __init__(self, spec: TestbedSpec, record: TestbedRecord, seed: int = 0) -> None:
        super().__init__(spec, record)
        self.seed = seed
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.standbys: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.template: Template | None = None
        self.server: ToxiproxyServer | None = None
        self.support = cgroups.probe()
        self.lib = clock.find_libfaketime()
        self.net: netns.NetPlan | None = None
        self._nft_tags: set[str] = set()  # partitions this process cut with an nft table
        if record.network == "namespaces" and record.net:
            octet = int(str(record.net["bridge_ip"]).split(".")[1])
            self.net = netns.plan(record.run_id, record.slot, list(spec.node_names), octet)

    # ------------------------------------------------------------ up
    @classmethod
    def up(cls, spec: TestbedSpec, *, run_id: str, name: str, workdir: Path, seed: int = 0,
           detached: bool = False, progress: Progress = quiet,
           scenario_path: str | None = None) -> LocalTestbed:
        """Stand the testbed up, or leave nothing behind and raise."""
        binary = find_toxiproxy()  # fails before anything starts
        record = cls.new_record(spec, backend="local", run_id=run_id, name=name,
                                workdir=workdir, detached=detached, scenario_path=scenario_path)
        record.save()
        tb = cls(spec, record, seed)
        tb.start_or_reap(lambda: tb._start(binary, progress), progress)
        return tb

    def _start(self, binary: Path, progress: Progress) -> None:
        nofile = nofile_for(len(self.spec.nodes))
        raise_nofile(nofile)  # the harness's own (probes, the load process inherits it)
        self.record.network = self._network_mode()
        if self.record.network == "namespaces":
            progress(f"creating {len(self.spec.nodes)} network namespace(s)")
            self.net = netns.free_plan(self.run_id, self.record.slot, self.spec.node_names)
            self.record.net = {"bridge": self.net.bridge, "bridge_ip": self.net.bridge_ip,
                               "subnet": self.net.subnet}
            self.record.save()
            netns.create(self.net)
        progress("starting Toxiproxy")
        self.server = ToxiproxyServer(binary, log_path=Path(self.record.workdir) / "toxiproxy.log",
                                      env=labels(self.run_id), nofile=nofile)
        self.server.start()
        self.admin = self.server.client()
        self.record.toxiproxy_pid = self.server.pid
        self.record.toxiproxy_url = self.server.url
        self._assign_addresses()
        progress(f"creating proxies ({self.support.reason}; clock: "
                 f"{'libfaketime' if self.lib else 'real'}; network: {self.record.network})")
        self._create_proxies()
        if self.net is not None:  # a few namespaces at once: each is one exec, mostly waiting
            net = self.net
            in_parallel([lambda n=name: netns.restore(netns.node_rules(net.subnet, self._routes(n)),
                                                      net.nodes[n])
                         for name in self.spec.node_names])
        self.record.save()
        self._start_template()
        for node in self.spec.nodes:
            self._launch(node.name)
        self.record.save()
        progress(f"waiting for {len(self.spec.nodes)} node(s)")
        self.wait_ready(self.spec.node_names, READY_TIMEOUT_S, progress, alive=self._dead)

    def _network_mode(self) -> str:
        """namespaces where the harness may create them (or as the scenario says), else
        loopback; a namespaced testbed that cannot be had is an error, not a fallback
        (a fleet larger than a bridge takes is one, unless it asked for nothing)."""
        why = netns.unavailable() or netns.bridge_ceiling(len(self.spec.nodes))
        if self.spec.network == "namespaces" and why:
            raise InfrastructureError(
                f"testbed.network: namespaces: {why}; run as root with iproute2 and iptables, "
                "or set testbed.network: loopback", tool="ip")
        return self.spec.network or ("namespaces" if why is None else "loopback")

    def _assign_addresses(self) -> None:
        for i, node in enumerate(self.spec.nodes):
            host = self.net.nodes[node.name].ip if self.net else node_host(self.record.slot, i)
            ports = {p: BASE_PORT + j for j, p in enumerate(node.ports)}
            busy = [] if self.net else [
                f"{host}:{p}" for p in ports.values() if not port_free(host, p)]
            if busy:
                raise InfrastructureError(
                    f"node {node.name}: address {', '.join(busy)} is already in use; another "
                    "testbed or program holds it. Run `edgeproof clean` to reap old testbeds, "
                    "or stop the program listening there"
                )
            limits = "emulated"
            paths: list[str] = []
            hw = node.hardware
            if self.support.available:
                paths = cgroups.create(self.support, self.run_id, node.name, hw.cpus,
                                       hw.memory_mb)
                limits = f"cgroup v{self.support.version}"
            clock_file = None
            if node.clock == "faketime" and (self.lib or node.is_reference):
                clock_file = str(Path(self.record.workdir) / "clocks" / f"{node.name}.offset")
            self.record.nodes[node.name] = NodeRecord(
                name=node.name, tier=node.tier, host=host, ports=ports, cgroups=paths,
                limits=limits, clock_file=clock_file,
                log=str(Path(self.record.workdir) / "nodes" / f"{node.name}.log"),
                netns=self.net.nodes[node.name].netns if self.net else None)

    def _create_proxies(self) -> None:
        plans = plan_proxies(self.spec, self.run_id, self.node_addresses())
        links_on = self.net.bridge_ip if self.net else "127.0.0.1"  # nodes reach it there
        created = self.admin.populate(
            [{"name": p.name, "listen": f"{'127.0.0.1' if p.src == CLIENTS else links_on}:0",
              "upstream": p.upstream} for p in plans])
        listen = {c.name: c.listen for c in created}
        self.admin.add_toxics([(plan.name, t["name"], t["type"], t["stream"], t["attributes"])
                               for plan in plans for t in link_toxics(plan)])
        for plan in plans:
            self.record.proxies.append(ProxyRecord(plan.name, plan.src, plan.dst, plan.port_name,
                                                   listen[plan.name], plan.upstream))
            if plan.src == "clients":
                self.nodes[plan.dst].client_url = f"http://{listen[plan.name]}"

    # ------------------------------------------------------------ node processes
    def _node_dirs(self, name: str) -> tuple[Path, Path]:
        base = Path(self.record.workdir) / "nodes"
        data = base / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        return base, data

    def _command(self, name: str, data_dir: Path) -> list[str]:
        node = self.spec.node(name)
        if node.is_reference:
            cfg = data_dir.parent / "node.json"
            cfg.write_text(json.dumps(self._service_config(name, data_dir)))
            return [sys.executable, "-m", "testbeds.service", "--config", str(cfg)]
        return self.argv(name, str(node.command))

    def _write_files(self, name: str, data_dir: Path) -> None:
        """The node's declared config files, rendered, into its data dir (before every
        start: a restart with fresh data gets them again)."""
        for fname, text in self.render_files(name).items():
            (data_dir / fname).write_text(text, encoding="utf-8")

    def _service_config(self, name: str, data_dir: Path) -> dict[str, Any]:
        node = self.spec.node(name)
        svc = self.spec.service
        peers = self.link_peers(name)
        index = self.spec.node_names.index(name)
        return {
            "name": name, "host": self.nodes[name].host, "port": self.nodes[name].ports["main"],
            "mode": svc.mode, "workers": node.hardware.workers,
            "service_ms": node.hardware.service_ms, "seed": self.seed * 1000 + index,
            "members": self.spec.node_names, "peers": peers,
            "primary": svc.primary or self.spec.node_names[0],
            "anti_entropy_ms": svc.anti_entropy_ms, "replica_timeout_ms": svc.replica_timeout_ms,
            "data_dir": str(data_dir), "bug": svc.bug, "clock_file": self._clock_file(name),
            **self.pipeline_fields(name), **self.control_fields(name),
        }

    def peer_address(self, proxy: ProxyRecord) -> str:
        """In namespaces a peer's own address (intercepted into the proxy); else the proxy's."""
        if self.net is None:
            return proxy.listen
        return f"{self.nodes[proxy.dst].host}:{self.nodes[proxy.dst].ports[proxy.port_name]}"

    def _clock_file(self, name: str) -> str | None:
        """A reference node's clock file, made if missing (the service reads it itself)."""
        path = self.nodes[name].clock_file
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            clock.write_offset(path, clock.read_offset(path))
        return path

    def _start_template(self) -> None:
        """The process reference nodes are forked from (`testbeds.template`), unless
        ``EDGEPROOF_NODE_TEMPLATE=0`` asks for one interpreter per node."""
        if os.environ.get("EDGEPROOF_NODE_TEMPLATE", "1") == "0" or not any(
                n.is_reference for n in self.spec.nodes):
            return
        env = {**os.environ, **labels(self.run_id), "PYTHONUNBUFFERED": "1"}
        log = Path(self.record.workdir) / "nodes" / "template.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.template = Template(env, log)
        self.record.extra_pids.append(self.template.pid)

    def _launch(self, name: str) -> None:
        if self.template is not None and self.template.alive() and \
                self.spec.node(name).is_reference:
            self.procs.pop(name, None)
            self.nodes[name].pid = self._fork(name)
            return
        proc = self._spawn(name)
        self.procs[name] = proc
        self.nodes[name].pid = proc.pid

    def _fork(self, name: str) -> int:
        """A reference node forked from the template: its namespace, cgroups, log and env
        as an exec'd node has them; its clock from its clock file (in its config)."""
        assert self.template is not None
        base, data = self._node_dirs(name)
        self._command(name, data)  # writes node.json
        rec = self.nodes[name]
        env = self.render_env(name)
        req = {"config": str(data.parent / "node.json"), "log": str(base / f"{name}.log"),
               "cwd": str(data), "cgroups": rec.cgroups, "env": env,
               "netns": self.net.nodes[name].path if self.net is not None else None}
        try:
            return self.template.fork(req)
        except TemplateError as exc:
            raise TestbedError(f"node {name}: cannot start from the node template: {exc}; "
                               f"see {base / 'template.log'}", node=name) from None

    def _spawn(self, name: str, standby: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a node's process in its namespace, cgroup and clock (``standby``: a
        reference node that imports and then waits on that FIFO before it binds)."""
        base, data = self._node_dirs(name)
        rec = self.nodes[name]
        env = {**os.environ, **labels(self.run_id), "PYTHONUNBUFFERED": "1"}
        if rec.clock_file and self.lib and not self.spec.node(name).is_reference:
            Path(rec.clock_file).parent.mkdir(parents=True, exist_ok=True)
            env.update(clock.faketime_env(rec.clock_file, self.lib))
        env.update(self.render_env(name))
        self._write_files(name, data)
        cmd = self._command(name, data)
        if standby is not None:
            cmd = [*cmd, "--standby", str(standby)]
        if self.net is not None:
            cmd = netns.in_netns(self.net.nodes[name], cmd)
        with open(base / f"{name}.log", "ab") as log:
            try:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env,
                                        cwd=base if standby else data,
                                        start_new_session=True)
            except OSError as exc:
                raise TestbedError(
                    f"node {name}: cannot start {cmd[0]!r}: {exc.strerror}; check the node's "
                    "command in the scenario (is the program installed and on PATH?)",
                    node=name) from None
        if rec.cgroups:
            cgroups.attach(rec.cgroups, proc.pid)
        return proc

    def _prepare_standby(self, name: str) -> None:
        """While a reference node is down, start its successor up to the point of binding,
        so that the heal's restart costs milliseconds, not an interpreter start-up (which
        would otherwise stretch every crash window by a second or more)."""
        if not self.spec.node(name).is_reference or (
                self.template is not None and self.template.alive()):
            return  # a fork from the template is as quick
        fifo = self._node_dirs(name)[0] / f"{name}.standby"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo, 0o600)
        self.standbys[name] = (self._spawn(name, standby=fifo), fifo)

    def _start_standby(self, name: str) -> bool:
        """Tell a node's standby to serve (True), or False when it has none or it died."""
        proc, fifo = self.standbys.pop(name, (None, None))
        if proc is None or fifo is None:
            return False
        deadline = time.monotonic() + READY_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO: still importing, not reading the FIFO yet
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.005)  # bounded by the deadline; the standby opens it soon
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(b"1")
            self.procs[name] = proc
            self.nodes[name].pid = proc.pid
            return True
        kill_group(proc.pid, signal.SIGKILL, grace_s=0)
        return False

    def _dead(self, name: str) -> str | None:
        """Why a node process has died during start-up, with its log's tail; None if alive."""
        proc = self.procs.get(name)
        if proc is None:  # forked from the template: only its pid is known
            if pid_alive(self.nodes[name].pid):
                return None
            code = "an unknown code"
        elif proc.poll() is None:
            return None
        else:
            code = f"code {proc.returncode}"
        log = Path(self.record.workdir) / "nodes" / f"{name}.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        return (f"node {name} exited with {code} during start-up; last log "
                f"lines ({log}):\n  " + "\n  ".join(tail))

    # ------------------------------------------------------------ lifecycle verbs
    def node_running(self, node: str) -> bool:
        proc = self.procs.get(node)
        if proc is not None:
            return proc.poll() is None
        return pid_alive(self.nodes[node].pid)

    def crash(self, node: str) -> None:
        """SIGKILL the node's process group (no goodbye to anyone)."""
        kill_group(self.nodes[node].pid, signal.SIGKILL, grace_s=0)
        self._reap_child(node)
        self._prepare_standby(node)

    def stop(self, node: str) -> None:
        """Graceful stop: SIGTERM, then SIGKILL after a grace period."""
        kill_group(self.nodes[node].pid, signal.SIGTERM, grace_s=5.0)
        self._reap_child(node)
        self._prepare_standby(node)

    def restart(self, node: str, keep_data: bool = True) -> None:
        """Start a stopped or crashed node again and wait for its readiness probe."""
        if self.node_running(node):
            return
        if not keep_data:
            shutil.rmtree(self._node_dirs(node)[1], ignore_errors=True)
            self._node_dirs(node)  # an empty data dir again
        if not self._start_standby(node):
            self._launch(node)
        self.record.save()
        self.wait_ready([node], READY_TIMEOUT_S, alive=self._dead)

    def pause(self, node: str) -> None:
        """Freeze the node (cgroup freezer where we have one, else SIGSTOP)."""
        rec = self.nodes[node]
        if not cgroups.freeze(rec.cgroups, True):
            os.killpg(int(rec.pid or 0), signal.SIGSTOP)

    def resume(self, node: str) -> None:
        rec = self.nodes[node]
        if not cgroups.freeze(rec.cgroups, False) and rec.pid:
            try:
                os.killpg(rec.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def run_probe(self, node: str, argv: list[str], timeout_s: float = 5.0) -> bool:
        """In the node's namespace (namespaces), so its addresses mean what they mean to it."""
        if self.net is not None:
            argv = netns.in_netns(self.net.nodes[node], argv)
        return super().run_probe(node, argv, timeout_s)

    def frozen(self, node: str) -> bool | None:
        """From the cgroup freezer, else the process state (T: stopped)."""
        rec = self.nodes[node]
        state = cgroups.frozen(rec.cgroups)
        if state is not None:
            return state
        try:
            stat = Path(f"/proc/{rec.pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def set_clock(self, node: str, offset_s: float) -> None:
        rec = self.nodes[node]
        if not rec.clock_file:
            raise TestbedError(
                f"node {node}: its clock cannot be moved (libfaketime not found or clock: none); "
                "install Debian's libfaketime or set EDGEPROOF_LIBFAKETIME", node=node)
        clock.write_offset(rec.clock_file, offset_s)

    def _reap_child(self, node: str) -> None:
        proc = self.procs.get(node)
        if proc is None:  # the template reaps its children: wait until this one is gone
            deadline = time.monotonic() + 5
            while pid_alive(self.nodes[node].pid) and time.monotonic() < deadline:
                time.sleep(0.002)  # a readiness loop, bounded: the template reaps at once
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def down(self) -> None:
        """Stop everything this testbed started and forget it."""
        for name in self.nodes:
            self.resume(name)
        reap(self.record)
        if self.template is not None:
            self.template.close()
        for proc in [*self.procs.values(), *(p for p, _ in self.standbys.values())]:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if self.server is not None:
            self.server.stop()

    # ------------------------------------------------------------ partitions
    def block(self, cuts: set[tuple[str, str]], tag: str, mode: str = "drop",
              port: str | None = None) -> None:
        """In namespaces a ``drop`` partition is one nftables table in the root namespace,
        which every byte of a cut direction crosses (testbeds/nftcut.py: one atomic call,
        no toxic or chain per proxy); elsewhere, without nft, or for ``reject``: the base's
        toxics and per-namespace chains."""
        if mode == "drop" and self.net is not None and nftcut.available():
            try:
                nftcut.apply(nftcut.table_name(self.run_id, tag), self._nft_cut(cuts, port))
            except OSError as exc:
                logging.getLogger(__name__).warning("%s; cutting with toxics instead", exc)
            else:
                self._nft_tags.add(tag)
                return
        super().block(cuts, tag, mode, port)

    def _nft_cut(self, cuts: set[tuple[str, str]], port: str | None = None) -> nftcut.Cut:
        assert self.net is not None
        ports, peers = set(), set()
        for src, dst in cuts:
            if src not in self.nodes or dst not in self.nodes:
                continue
            ports |= {int(p.listen.rsplit(":", 1)[1])
                      for p in self.port_proxies(src, dst, port)}
            if port is None:  # non-TCP traffic belongs to no port: a port cut leaves it
                peers.add((self.nodes[src].host, self.nodes[dst].host))
        return nftcut.Cut(self.net.bridge_ip, frozenset(ports), frozenset(peers))

    def unblock(self, tag: str) -> None:
        """Mend a cut (idempotent; from another process too: the table has a known name)."""
        if self.net is not None and nftcut.available():
            nftcut.delete(nftcut.table_name(self.run_id, tag))
            if tag in self._nft_tags:  # this process cut with nft: nothing else to mend
                self._nft_tags.discard(tag)
                return
        super().unblock(tag)

    def blocked_packets(self, tag: str) -> int | None:
        """Packets the cut dropped: its nft table's counters, else the base's chains."""
        if self.net is not None and nftcut.available():
            got = nftcut.packets(nftcut.table_name(self.run_id, tag))
            if got is not None:
                return got
        return super().blocked_packets(tag)

    @classmethod
    def attach(cls, spec: TestbedSpec, record: TestbedRecord) -> LocalTestbed:
        """A handle on a testbed another process started (for status, down and faults)."""
        tb = cls(spec, record)
        if record.toxiproxy_url:
            tb.admin = ToxiproxyClient(record.toxiproxy_url)
        return tb
