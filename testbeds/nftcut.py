"""Partitions of a namespaced local testbed as one nftables table in the root namespace.

Every link proxy of a local testbed listens on its bridge's address in the root namespace, so
every byte of a cut direction passes the root namespace's input (node -> proxy) and output
(proxy -> node) hooks, and a node's non-TCP traffic to a peer crosses the bridge. One table per
partition holds a set of its cut proxies, two fixed rules for them and a rule per group of
sources for non-TCP traffic, applied and removed in one atomic ``nft -f`` each: a cut cable
for connections the source opened (both streams; what the peer sends back on them too), silent
drops, and counters for the effect evidence. The cost grows with the set's elements, not with
a rule or a toxic per proxy: a 50-node mesh cut into halves (1,250 directions) lands in
under 20 ms, a 100-node one (5,000) in about 50 ms.

Tables are named ``ep_<run id>_<partition>`` (label by run id; `edgeproof clean` removes a
killed run's). Where ``nft`` or the kernel's nf_tables bridge family is missing,
:func:`apply` raises and the caller keeps its toxics-and-chains path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

PRIORITY = -10  # before iptables' filter tables (0): a drop in any base chain is final


@dataclass(frozen=True)
class Cut:
    """What one partition cuts: the listen ports of its cut proxies (each carries one
    direction of one link only, so a port names the direction), and (source, destination)
    node addresses for non-TCP traffic."""

    proxy_host: str
    ports: frozenset[int]
    peers: frozenset[tuple[str, str]]


def available() -> bool:
    """Whether the nft tool is here (the kernel's support shows when a table is applied)."""
    return shutil.which("nft") is not None


def table_name(run_id: str, tag: str) -> str:
    """The table of one partition of one testbed (an nft identifier: [A-Za-z0-9_])."""
    return "ep_" + re.sub(r"[^A-Za-z0-9_]", "_", f"{run_id}_{tag}")


def ruleset(name: str, cut: Cut) -> str:
    """The ``nft -f`` text of a partition's tables (ip: the proxies' TCP; bridge: non-TCP).

    The proxies are a set of (address . port), a hash set linear in its elements (a set of
    bare ports is a bitmap whose loading grows with the square of its elements); the peers
    are one rule per group of sources that cut the same destinations (two for halves)."""
    tcp = ", ".join(f"{cut.proxy_host} . {port}" for port in sorted(cut.ports))
    tcp_set = f"elements = {{ {tcp} }}; " if tcp else ""
    lines = [
        f"table ip {name} {{",
        f"  set cuts {{ type ipv4_addr . inet_service; {tcp_set}}}",
        f"  chain cut_in {{ type filter hook input priority {PRIORITY}; policy accept;",
        "    ip daddr . tcp dport @cuts counter drop; }",
        f"  chain cut_out {{ type filter hook output priority {PRIORITY}; policy accept;",
        "    ip saddr . tcp sport @cuts counter drop; }",
        "}",
        f"table bridge {name} {{",
        f"  chain cut_fwd {{ type filter hook forward priority {PRIORITY}; policy accept;"]
    for srcs, dsts in peer_groups(cut.peers):
        lines.append(f"    meta l4proto != tcp ip saddr {{ {', '.join(srcs)} }} "
                     f"ip daddr {{ {', '.join(dsts)} }} counter drop;")
    return "\n".join([*lines, "  }", "}", ""])


def peer_groups(peers: Iterable[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    """The cut pairs as (sources, destinations) groups: sources that cut exactly the same
    destinations share one rule."""
    by_src: dict[str, set[str]] = {}
    for a, b in peers:
        by_src.setdefault(a, set()).add(b)
    groups: dict[frozenset[str], list[str]] = {}
    for src, dsts in by_src.items():
        groups.setdefault(frozenset(dsts), []).append(src)
    return sorted((sorted(srcs), sorted(dsts)) for dsts, srcs in groups.items())


def _nft(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)


def apply(name: str, cut: Cut) -> None:
    """Put the partition in place, atomically (all or nothing); OSError when nft refuses."""
    proc = _nft(ruleset(name, cut))
    if proc.returncode != 0:
        delete(name)  # nft -f is atomic; this only clears a table of the same name
        raise OSError(f"nft refused the partition table {name}: "
                      f"{proc.stderr.strip()[-300:]}")


def delete(name: str) -> None:
    """Remove a partition's tables (idempotent)."""
    for family in ("ip", "bridge"):
        subprocess.run(["nft", "delete", "table", family, name], capture_output=True,
                       timeout=30, check=False)


def packets(name: str) -> int | None:
    """Packets the partition's rules dropped so far (None when its table is not there)."""
    total, found = 0, False
    for family in ("ip", "bridge"):
        proc = subprocess.run(["nft", "list", "table", family, name], capture_output=True,
                              text=True, timeout=30, check=False)
        if proc.returncode != 0:
            continue
        found = True
        total += sum(int(m) for m in re.findall(r"counter packets (\d+)", proc.stdout))
    return total if found else None


def tables(prefix: str = "ep_") -> list[str]:
    """Names of the partition tables on this machine (either family)."""
    if not available():
        return []
    proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          timeout=30, check=False)
    names = re.findall(r"^table (?:ip|bridge) (\S+)$", proc.stdout, re.M)
    return sorted({n for n in names if n.startswith(prefix)})


def delete_run(run_id: str) -> list[str]:
    """Remove every partition table of a testbed (a killed run's); returns what it removed."""
    mine = tables(table_name(run_id, ""))
    for name in mine:
        delete(name)
    return mine


def run_ids(names: Iterable[str]) -> set[str]:
    """The run ids that partition tables belong to."""
    return {m.group(1) for n in names if (m := re.match(r"ep_(ep[0-9a-f]{8})_", n))}
