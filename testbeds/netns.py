"""Network namespaces: every node of a local testbed in a namespace of its own, joined by a
bridge, its peer traffic intercepted into the links' proxies.

Layout of a testbed (``network: namespaces``):

- a bridge ``epb<id>`` with the host address ``10.<S>.0.1/16`` (one subnet per testbed, S from
  its loopback slot), where Toxiproxy's link proxies listen;
- per node a namespace ``ep-<run id>-<node>`` with a veth ``epv<id><i>`` into the bridge and
  the address ``10.<S>.<1 + i/250>.<i%250 + 1>``, no default route (nothing but the testbed);
- in each node's namespace, ``nat OUTPUT -> EP-DNAT``: a connection to another node's own
  address on a declared port is DNATed to the proxy of the declared link, so ``{nodes.X.*}``
  addresses and peer discovery pass the link's faults; ``filter OUTPUT -> EP-OUT`` accepts
  replies, declared links (matched by the original destination, ``--ctorigdst``: filter sees
  the address after DNAT) and the node's own link proxies, and drops (and counts) everything
  else to the testbed: undeclared ports and nodes without a link;
- in the root namespace, chain ``EP<id>F`` (from FORWARD) accepts the bridge's own traffic
  (Docker sets FORWARD to DROP);
- a partition is one nftables table in the root namespace (testbeds/nftcut.py); without
  nft, and on a docker testbed (inside each container's namespace, ``/proc/PID/ns/net``),
  a chain ``EPC-<tag>`` first in each source node's ``EP-OUT``: silent drops of TCP to the
  proxies of its cut links and of non-TCP traffic to the cut peers, beside the toxics.

The destination of a proxied connection sees the bridge's address as its source (Toxiproxy
dials it). A process left in a deleted namespace keeps it alive: reap processes first.
Scale (issue 16): a Linux bridge takes at most 1,024 ports, so a namespaced testbed holds at
most :data:`MAX_BRIDGE_PORTS` nodes (a larger one runs on loopback, or is refused if it asks for
namespaces); the kernel's neighbour (ARP) table is one for all namespaces (the root side of
the bridge holds an entry per node, each node one for the bridge), so while a testbed lives
its ``gc_thresh*`` are raised to fit every live testbed's entries and put back when the last
one is reaped (:func:`raise_neighbours`, :func:`release_neighbours`; bookkeeping under
``/run/edgeproof/neigh``, one file per run, shared by every state dir of the machine).
Python 3.11 has no ``os.setns``: probes create their sockets in a short-lived thread that
entered the namespace with ``setns(2)`` through ctypes.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError
from testbeds import nftcut
from testbeds.processes import in_parallel

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
IN_CHAIN, FWD_CHAIN, OUT_CHAIN, DNAT_CHAIN = "EP-IN", "EP-FWD", "EP-OUT", "EP-DNAT"
TOOLS = ("ip", "iptables", "iptables-restore", "iptables-save", "nsenter")
MAX_BRIDGE_PORTS = 1023  # BR_MAX_PORTS is 1,024; one port is kept spare
NEIGH_DIR = Path("/run/edgeproof/neigh")  # one file per run: the entries it needs
NEIGH_SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")
NEIGH_KEYS = ("gc_thresh1", "gc_thresh2", "gc_thresh3")
NEIGH_SPARE = 1024  # what the rest of the machine keeps (the kernel's default thresh3)


@dataclass(frozen=True)
class NodeNet:
    """One node's network: its namespace, host-side veth and address."""

    name: str
    netns: str
    veth: str
    ip: str

    @property
    def path(self) -> str:
        """The namespace's file, for setns and nsenter: a name under /run/netns, or an
        absolute path as given (a container's ``/proc/PID/ns/net``)."""
        return self.netns if self.netns.startswith("/") else str(NETNS_DIR / self.netns)


@dataclass(frozen=True)
class NetPlan:
    """The addresses and names of one namespaced testbed."""

    run_id: str
    bridge: str
    bridge_ip: str
    prefix: int
    nodes: dict[str, NodeNet]

    @property
    def subnet(self) -> str:
        """The testbed's subnet (CIDR)."""
        return str(ipaddress.ip_network(f"{self.bridge_ip}/{self.prefix}", strict=False))

    @property
    def forward_chain(self) -> str:
        """The root namespace's FORWARD chain of this testbed (bridge traffic)."""
        return f"EP{self.run_id[2:]}F"


def unavailable(backend: str = "local") -> str | None:
    """Why a testbed of this backend cannot intercept in namespaces here (None when it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    engine = os.environ.get("DOCKER_HOST", "")
    if backend == "docker" and engine and not engine.startswith("unix://"):
        return (f"the docker engine at {engine} is remote: its containers' namespaces cannot "
                "be entered from this machine")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (Debian: iproute2, iptables, util-linux)"
    return None


def bridge_ceiling(n_nodes: int) -> str | None:
    """Why a namespaced testbed of this many nodes cannot be built (None when it can): one
    bridge port per node, at most :data:`MAX_BRIDGE_PORTS`."""
    if n_nodes <= MAX_BRIDGE_PORTS:
        return None
    return (f"{n_nodes} nodes need {n_nodes} bridge ports; a Linux bridge takes at most "
            f"1,024 (this backend keeps one bridge per testbed, {MAX_BRIDGE_PORTS} nodes)")


def plan(run_id: str, slot: int, nodes: Sequence[str], octet: int | None = None) -> NetPlan:
    """Names and addresses for a testbed's nodes (subnet ``10.<octet>.0.0/16``, by default
    from the slot; index per node)."""
    octet = 100 + slot % 150 if octet is None else octet
    tag = run_id[2:]
    if len(tag) > 12:  # an interface name holds 15 characters: "epb" + 12
        tag = hashlib.sha1(run_id.encode()).hexdigest()[:12]
    out = {}
    for i, name in enumerate(nodes):
        ip = f"10.{octet}.{1 + i // 250}.{i % 250 + 1}"
        out[name] = NodeNet(name, f"ep-{run_id}-{name}", f"epv{tag[:6]}{i:x}", ip)
    return NetPlan(run_id, f"epb{tag}", f"10.{octet}.0.1", 16, out)


# ---------------------------------------------------------------- running commands


def _run(argv: Sequence[str], stdin: str | None = None, check: bool = True,
         timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if check and proc.returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(argv[:6])}{' ...' if len(argv) > 6 else ''}` failed "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-400:]}; the namespaced network "
            "needs root, iproute2 and iptables (or set testbed.network: loopback)",
            tool=argv[0])
    return proc


def in_netns(node: NodeNet, argv: Sequence[str]) -> list[str]:
    """A command line that runs ``argv`` in the node's namespace (only the network
    namespace changes; nsenter execs, so the pid is the command's own)."""
    return ["nsenter", f"--net={node.path}", "--", *argv]


def restore(rules: str, node: NodeNet | None = None) -> None:
    """Add rules (iptables-restore format) in a node's namespace or the root one."""
    argv = ["iptables-restore", "-w", "5", "--noflush"]
    _run(in_netns(node, argv) if node else argv, stdin=rules)


# ---------------------------------------------------------------- building and removing


def free_plan(run_id: str, slot: int, nodes: Sequence[str]) -> NetPlan:
    """A plan on a subnet nothing on this machine routes yet (from the slot's own on)."""
    first = 100 + slot % 150
    for k in range(150):
        octet = 100 + (first - 100 + k) % 150
        p = plan(run_id, slot, nodes, octet)
        if not _routed(p.subnet):
            return p
    raise InfrastructureError(
        "no free subnet 10.100-249.0.0/16 for a namespaced testbed on this machine; run "
        "`edgeproof clean`, or set testbed.network: loopback", tool="ip")


def create(p: NetPlan) -> None:
    """The bridge, the namespaces, veths and addresses, and the root chains (with the
    neighbour table raised to hold them)."""
    why = bridge_ceiling(len(p.nodes))
    if why:
        raise InfrastructureError(f"testbed.network: namespaces: {why}; set testbed.network: "
                                  "loopback for a larger fleet, or split it", tool="ip")
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    raise_neighbours(p.run_id, len(p.nodes))
    lines = [f"link add {p.bridge} type bridge",
             f"addr add {p.bridge_ip}/{p.prefix} dev {p.bridge}", f"link set {p.bridge} up"]
    for n in p.nodes.values():
        lines += [f"netns add {n.netns}",
                  f"link add {n.veth} type veth peer name eth0 netns {n.netns}",
                  f"link set {n.veth} master {p.bridge} up"]
    _run(["ip", "-batch", "-"], stdin="\n".join(lines) + "\n")
    in_parallel([lambda n=n: _run(  # one exec per namespace (ip batches cannot switch them)
        ["ip", "-n", n.netns, "-batch", "-"],
        stdin=f"addr add {n.ip}/{p.prefix} dev eth0\nlink set eth0 up\nlink set lo up\n")
        for n in p.nodes.values()])
    restore(_root_rules(p))


def _routed(subnet: str) -> str:
    """A route of this machine that overlaps the subnet ('' when none)."""
    net = ipaddress.ip_network(subnet)
    out = _run(["ip", "-o", "-4", "route", "show"], check=False).stdout
    for line in out.splitlines():
        dst = line.split()[0]
        if dst == "default":
            continue
        try:
            other = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if other.overlaps(net):
            return line.strip()
    return ""


def _root_rules(p: NetPlan) -> str:
    return "\n".join([
        "*filter", f":{p.forward_chain} - [0:0]",
        f"-I FORWARD -i {p.bridge} -o {p.bridge} -j {p.forward_chain}",
        f"-A {p.forward_chain} -j ACCEPT", "COMMIT", ""])


def destroy(run_id: str) -> list[str]:
    """Remove everything of a testbed's network (idempotent): its namespaces, veths,
    bridge and root chains. Processes inside must be gone first. Returns what is left."""
    tag = run_id[2:]
    names = [n for n in list_netns() if n.startswith(f"ep-{run_id}-")]
    veths = [v for v in _links() if v.startswith(f"epv{tag[:6]}")]
    if names:  # one exec for a fleet; the kernel then frees namespaces (and their veths)
        _batch([f"netns del {ns}" for ns in names])  # in batches, far quicker than a del each
        deadline = time.monotonic() + 5 + 0.01 * len(names)
        while veths and time.monotonic() < deadline:
            time.sleep(0.05)
            veths = [v for v in _links() if v.startswith(f"epv{tag[:6]}")]
    if veths:  # veths whose namespace is gone already or lingers
        _batch([f"link del {v}" for v in veths])
    _run(["ip", "link", "del", f"epb{tag}"], check=False)
    _drop_root_chains(f"EP{tag}", f"epb{tag}")
    nftcut.delete_run(run_id)  # its partitions' tables in the root namespace
    release_neighbours(run_id)
    deadline = time.monotonic() + 5
    left = [n for n in _links() if n == f"epb{tag}" or n.startswith(f"epv{tag[:6]}")]
    while left and time.monotonic() < deadline:  # veths go when their namespaces do
        time.sleep(0.05)
        left = [n for n in _links() if n == f"epb{tag}" or n.startswith(f"epv{tag[:6]}")]
    return left + [n for n in list_netns() if n.startswith(f"ep-{run_id}-")]


def remains(run_id: str) -> dict[str, list[str]]:
    """What of a testbed's network is still here: namespaces, links (veths, bridge), nft
    tables, root iptables chains and its neighbour-table raise."""
    tag = run_id[2:]
    saved = _run(["iptables-save", "-t", "filter"], check=False).stdout
    return {
        "namespaces": [n for n in list_netns() if n.startswith(f"ep-{run_id}-")],
        "links": [n for n in _links() if n == f"epb{tag}" or n.startswith(f"epv{tag[:6]}")],
        "nft tables": nftcut.tables(nftcut.table_name(run_id, "")),
        "iptables": sorted(set(re.findall(rf"^:(EP{re.escape(tag)}\S*) ", saved, re.M))),
        "neighbours": [run_id] if run_id in neighbour_runs() else []}


def _batch(lines: Sequence[str]) -> None:
    """Many ``ip`` commands in one exec (-force: the rest goes on past one that fails)."""
    _run(["ip", "-force", "-batch", "-"], stdin="\n".join(lines) + "\n", check=False,
         timeout_s=30.0 + 0.1 * len(lines))


def _drop_root_chains(chain: str, bridge: str) -> None:
    """The testbed's root chains and the partition chains hanging off them."""
    for rule in (["INPUT", "-i", bridge, "-j", chain],
                 ["FORWARD", "-i", bridge, "-o", bridge, "-j", f"{chain}F"]):
        for _ in range(5):  # every copy (bounded)
            if _run(["iptables", "-w", "5", "-D", *rule], check=False).returncode:
                break
    saved = _run(["iptables-save", "-t", "filter"], check=False).stdout
    mine = [m.group(1) for m in re.finditer(rf"^:({re.escape(chain)}\S*) ", saved, re.M)]
    for c in mine:
        _run(["iptables", "-w", "5", "-F", c], check=False)
    for c in mine:
        _run(["iptables", "-w", "5", "-X", c], check=False)


def list_netns() -> list[str]:
    """The named network namespaces of this machine."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _links() -> list[str]:
    out = _run(["ip", "-o", "link", "show"], check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def orphan_run_ids(live: Iterable[str]) -> list[str]:
    """Run ids of testbed networks on this machine that no live testbed owns."""
    keep = set(live)
    found = {m.group(1) for ns in list_netns() if (m := re.match(r"ep-(ep[0-9a-f]{8})-", ns))}
    found |= nftcut.run_ids(nftcut.tables())  # a partition table outliving its namespaces
    found |= set(neighbour_runs())  # a raised neighbour table outliving them
    return sorted(found - keep)


# ---------------------------------------------------------------- the neighbour table


def neighbour_need(n_nodes: int) -> int:
    """Neighbour entries a namespaced testbed of ``n_nodes`` may hold: one per node on the
    bridge's side, one per node for the bridge, and a few per node for peers it reaches
    without a proxy (ping, UDP)."""
    return 4 * n_nodes


def neighbour_targets(current: dict[str, int], needed: int) -> dict[str, int]:
    """The gc_thresh values that hold ``needed`` entries of live testbeds beside what the
    rest of the machine keeps; never lower than ``current`` (another program may have
    raised them: a Docker overlay sets 8192/49152/65536)."""
    want = {"gc_thresh1": 0, "gc_thresh2": needed + NEIGH_SPARE // 2,
            "gc_thresh3": needed + NEIGH_SPARE}
    return {k: max(int(current.get(k, 0)), want[k]) for k in NEIGH_KEYS}


def neighbour_restored(saved: dict[str, int], ours: dict[str, int],
                       current: dict[str, int]) -> dict[str, int]:
    """What to write back once no testbed needs the raise: the saved value of every key
    still at the value we set (a key someone changed since is theirs now)."""
    return {k: saved[k] for k in NEIGH_KEYS
            if k in saved and k in ours and current.get(k) == ours[k] and saved[k] != ours[k]}


def neighbour_values() -> dict[str, int]:
    """The neighbour table's gc_thresh1/2/3 now (the keys the kernel has)."""
    out = {}
    for k in NEIGH_KEYS:
        try:
            out[k] = int((NEIGH_SYSCTL / k).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def _neigh_write(values: dict[str, int]) -> None:
    # thresh3 >= thresh2 >= thresh1 at every step: raise from the top, lower from the bottom
    cur = neighbour_values()
    order = list(NEIGH_KEYS)
    if any(values.get(k, cur.get(k, 0)) > cur.get(k, 0) for k in order):
        order.reverse()
    for k in order:
        if k in values and values[k] != cur.get(k):
            try:
                (NEIGH_SYSCTL / k).write_text(str(values[k]))
            except OSError as exc:
                logging.getLogger(__name__).warning("cannot set neigh %s: %s", k, exc)


class _NeighLock:
    """The machine-wide lock of the neighbour bookkeeping (testbeds of every state dir)."""

    def __enter__(self) -> _NeighLock:
        NEIGH_DIR.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(NEIGH_DIR / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _neigh_state() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(entries per run, the values before the first raise, the values we set)."""
    runs: dict[str, int] = {}
    for f in NEIGH_DIR.glob("ep*"):
        try:
            runs[f.name] = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    try:
        meta = json.loads((NEIGH_DIR / "saved.json").read_text())
    except (OSError, ValueError):
        meta = {}
    return runs, dict(meta.get("saved") or {}), dict(meta.get("ours") or {})


def raise_neighbours(run_id: str, n_nodes: int) -> dict[str, int]:
    """Raise the neighbour table's gc_thresh to hold this testbed's entries beside every
    other live testbed's; the values in force after."""
    with _NeighLock():
        (NEIGH_DIR / run_id).write_text(f"{neighbour_need(n_nodes)}\n")
        runs, saved, ours = _neigh_state()
        current = neighbour_values()
        target = neighbour_targets(current, sum(runs.values()))
        if target != current:
            if not saved:
                saved = current
            _neigh_write(target)
            ours = target
            (NEIGH_DIR / "saved.json").write_text(json.dumps({"saved": saved, "ours": ours}))
        return neighbour_values()


def release_neighbours(run_id: str) -> None:
    """Forget this testbed's entries; the last one out puts the saved values back
    (idempotent; a reaper's too)."""
    if not (NEIGH_DIR / run_id).exists():
        return
    with _NeighLock():
        (NEIGH_DIR / run_id).unlink(missing_ok=True)
        runs, saved, ours = _neigh_state()
        if runs or not saved:
            return
        _neigh_write(neighbour_restored(saved, ours, neighbour_values()))
        (NEIGH_DIR / "saved.json").unlink(missing_ok=True)


def neighbour_runs() -> list[str]:
    """Run ids holding a neighbour-table raise."""
    return sorted(f.name for f in NEIGH_DIR.glob("ep*")) if NEIGH_DIR.is_dir() else []


def neighbour_stats() -> dict[str, int]:
    """The root namespace's ARP table: entries and the times it was full (``table_fulls``:
    an entry refused, a packet dropped)."""
    out = _run(["ip", "-s", "ntable", "show", "name", "arp_cache"], check=False).stdout
    got = {}
    for key in ("entries", "table_fulls", "forced_gc_runs"):
        if m := re.search(rf"\b{key} (\d+)", out):
            got[key] = int(m.group(1))
    return got


# ---------------------------------------------------------------- a node's rules


@dataclass(frozen=True)
class Route:
    """A declared link direction from a node: to ``dst`` on ``port`` through the proxy at
    ``proxy`` (host:port)."""

    dst_ip: str
    port: int
    proxy: str


def node_rules(subnet: str, routes: Sequence[Route]) -> str:
    """The iptables-restore text of one node's namespace on a testbed's subnet (see the
    module docstring)."""
    nat = ["*nat", f":{DNAT_CHAIN} - [0:0]", f"-A OUTPUT -j {DNAT_CHAIN}"]
    flt = ["*filter", f":{OUT_CHAIN} - [0:0]", f":{IN_CHAIN} - [0:0]",
           f"-A OUTPUT -j {OUT_CHAIN}", f"-A INPUT -j {IN_CHAIN}",
           f"-A {OUT_CHAIN} -o lo -j ACCEPT",  # the node to itself
           f"-A {OUT_CHAIN} -m conntrack --ctdir REPLY -j ACCEPT"]
    for r in routes:
        host, port = r.proxy.rsplit(":", 1)
        nat.append(f"-A {DNAT_CHAIN} -d {r.dst_ip} -p tcp --dport {r.port} -j DNAT "
                   f"--to-destination {r.proxy}")
        flt.append(f"-A {OUT_CHAIN} -p tcp -m conntrack --ctorigdst {r.dst_ip} "
                   f"--ctorigdstport {r.port} -j ACCEPT")
        flt.append(f"-A {OUT_CHAIN} -p tcp -d {host} --dport {port} -j ACCEPT")
    for dst in sorted({r.dst_ip for r in routes}):
        flt.append(f"-A {OUT_CHAIN} ! -p tcp -d {dst} -j ACCEPT")  # ping, UDP to linked peers
    flt.append(f"-A {OUT_CHAIN} -m conntrack --ctorigdst {subnet} "
               "-m comment --comment ep-drop -j DROP")
    return "\n".join([*nat, "COMMIT", *flt, "COMMIT", ""])


def route_packets(node: NodeNet, dst_ip: str) -> int:
    """Packets this node sent over its declared links to ``dst_ip`` (live counters of the
    ACCEPT rules; Toxiproxy's own byte counters move only when a connection closes)."""
    out = _run(in_netns(node, ["iptables-save", "-c", "-t", "filter"]), check=False).stdout
    total = 0
    dst = re.compile(rf"--ctorigdst {re.escape(dst_ip)}(/32)? ")  # iptables-nft drops the /32
    for line in out.splitlines():
        if dst.search(line) and "-j ACCEPT" in line and (
                m := re.match(r"\[(\d+):\d+\]", line)):
            total += int(m.group(1))
    return total


def dropped(node: NodeNet) -> int:
    """Packets this node sent to the testbed that were dropped (undeclared ports, nodes
    without a link), from the drop rule's counter."""
    out = _run(in_netns(node, ["iptables-save", "-c", "-t", "filter"]), check=False).stdout
    for line in out.splitlines():
        if "ep-drop" in line and (m := re.match(r"\[(\d+):\d+\]", line)):
            return int(m.group(1))
    return 0


# ---------------------------------------------------------------- partitions


def node_cut_rules(chain: str, proxies: Iterable[tuple[str, int]], peers: Iterable[str],
                   target: str = "DROP") -> str:
    """A partition's rules inside one source node's namespace (where the root namespace
    does not see its traffic: a container's), in a chain of its own first in ``EP-OUT``: TCP
    to the proxies of its cut links is dropped silently (``target`` REJECT refuses instead)
    and non-TCP traffic to the cut peers is dropped."""
    rules = ["*filter", f":{chain} - [0:0]"]
    rules += [f"-A {chain} -p tcp -d {h} --dport {port} -j {target}"
              for h, port in sorted(set(proxies))]
    rules += [f"-A {chain} ! -p tcp -d {ip} -j DROP" for ip in sorted(set(peers))]
    rules += [f"-I {OUT_CHAIN} 1 -j {chain}", "COMMIT", ""]
    return "\n".join(rules)


def node_mend(node: NodeNet, chain: str) -> None:
    """Remove a partition's chain from a node's namespace (idempotent)."""
    for argv in (["-D", OUT_CHAIN, "-j", chain], ["-F", chain], ["-X", chain]):
        _run(in_netns(node, ["iptables", "-w", "5", *argv]), check=False)


def node_chain_packets(node: NodeNet, chain: str) -> int:
    """Packets a chain inside a node's namespace dropped."""
    out = _run(in_netns(node, ["iptables-save", "-c", "-t", "filter"]), check=False).stdout
    return _counted(out, chain)


def _counted(saved: str, chain: str) -> int:
    total = 0
    for line in saved.splitlines():
        if f"-A {chain} " in line and (m := re.match(r"\[(\d+):\d+\]", line)):
            total += int(m.group(1))
    return total


# ---------------------------------------------------------------- probes from inside


_libc = ctypes.CDLL(None, use_errno=True)


def socket_in(netns_path: str) -> socket.socket:
    """A TCP socket created inside a namespace (setns in a short-lived thread: this
    process's own namespace never changes)."""
    return sockets_in(netns_path, 1)[0]


def sockets_in(netns_path: str, n: int) -> list[socket.socket]:
    """``n`` TCP sockets created inside a namespace by one short-lived thread (a socket
    stays in the namespace it was created in, whichever thread then uses it)."""
    out: dict[str, object] = {}

    def enter() -> None:
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {netns_path}: {os.strerror(err)}")
            out["socks"] = [socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                            for _ in range(n)]
        except BaseException as exc:  # handed to the caller
            out["err"] = exc
        finally:
            os.close(fd)

    t = threading.Thread(target=enter, name="setns", daemon=True)
    t.start()
    t.join(10)
    if "err" in out:
        raise out["err"]  # type: ignore[misc]
    if "socks" not in out:
        raise InfrastructureError(f"could not enter the namespace {netns_path}")
    return out["socks"]  # type: ignore[return-value]


def connects(netns_path: str, ip: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection from inside the namespace to ip:port is accepted."""
    s = socket_in(netns_path)
    s.settimeout(timeout_s)
    try:
        s.connect((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_status(netns_path: str, ip: str, port: int, path: str = "/health",
                timeout_s: float = 1.0) -> int | None:
    """The HTTP status of one GET from inside the namespace (None: no answer in time)."""
    s = socket_in(netns_path)
    s.settimeout(timeout_s)
    try:
        s.connect((ip, port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
        head = s.recv(64)
        m = re.match(rb"HTTP/\d\.\d (\d{3})", head)
        return int(m.group(1)) if m else None
    except OSError:
        return None
    finally:
        s.close()
