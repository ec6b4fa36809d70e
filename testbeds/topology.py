"""The wiring of a testbed, independent of the backend: which proxies carry which links.

Every byte between two nodes, and between the load generator and a node, passes a Toxiproxy
proxy named ``<run_id>:<src>><dst>:<port>`` (``src`` is ``clients`` for client links). Static
link properties become toxics named ``link-*``; faults add toxics named ``fault-*``, so healing
a fault never touches the link itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testbeds.spec import CLIENTS, ClientsSpec, LinkSpec, TestbedSpec


@dataclass(frozen=True)
class ProxyPlan:
    """One proxy to create: where it listens is chosen by Toxiproxy (port 0)."""

    name: str
    src: str
    dst: str
    port_name: str
    upstream: str
    latency_ms: float
    jitter_ms: float
    bandwidth_kbps: float | None


def proxy_name(run_id: str, src: str, dst: str, port: str) -> str:
    return f"{run_id}:{src}>{dst}:{port}"


def plan_proxies(spec: TestbedSpec, run_id: str, addrs: dict[str, tuple[str, dict[str, int]]],
                 listen_host: str = "127.0.0.1") -> list[ProxyPlan]:
    """One proxy per link direction and per port of the destination, plus one per client link."""
    plans = []
    for src, dst, link in spec.link_directions():
        host, ports = addrs[dst]
        for pname, port in ports.items():
            plans.append(_plan(run_id, src, dst, pname, f"{host}:{port}", link))
    for node in spec.client_nodes:
        host, ports = addrs[node]
        pname = spec.node(node).main_port
        plans.append(_plan(run_id, CLIENTS, node, pname, f"{host}:{ports[pname]}", spec.clients))
    return plans


def _plan(run_id: str, src: str, dst: str, pname: str, upstream: str,
          link: LinkSpec | ClientsSpec) -> ProxyPlan:
    return ProxyPlan(proxy_name(run_id, src, dst, pname), src, dst, pname, upstream,
                     link.latency_ms, link.jitter_ms, link.bandwidth_kbps)


def link_toxics(plan: ProxyPlan) -> list[dict[str, Any]]:
    """The static toxics that make a link what the testbed says (one-way delay each way)."""
    toxics = []
    for stream in ("upstream", "downstream"):
        if plan.latency_ms or plan.jitter_ms:
            toxics.append({"name": f"link-latency-{stream}", "type": "latency", "stream": stream,
                           "attributes": {"latency": round(plan.latency_ms),
                                          "jitter": round(plan.jitter_ms)}})
        if plan.bandwidth_kbps:
            toxics.append({"name": f"link-bandwidth-{stream}", "type": "bandwidth",
                           "stream": stream,
                           "attributes": {"rate": max(1, round(plan.bandwidth_kbps / 8))}})
    return toxics
