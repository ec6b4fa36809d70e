"""The wiring of a testbed, independent of the backend: proxies, addresses and placeholders.

Every byte between two nodes, and between the load generator and a node, passes a Toxiproxy
proxy named ``<run_id>:<src>><dst>:<port>`` (``src`` is ``clients`` for client links). Static
link properties become toxics named ``link-*``; faults add toxics named ``fault-*``, so healing
a fault never touches the link itself.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from harness.errors import ConfigError
from harness.scenario import CLIENTS, ClientsSpec, LinkSpec, NodeSpec, TestbedSpec


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


def node_host(slot: int, index: int) -> str:
    """A loopback address of the node's own: 127.<slot>.<i/250>.<i%250+1>."""
    return f"127.{100 + slot % 150}.{index // 250}.{index % 250 + 1}"


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


class _Strict(string.Formatter):
    """str.format that reports unknown placeholders by name instead of raising KeyError."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (KeyError, AttributeError) as exc:
            raise ConfigError(
                f"placeholder {{{field_name}}} is unknown ({exc}); use {{host}}, {{ports.NAME}}, "
                "{data_dir}, {nodes.OTHER.host}, {nodes.OTHER.ports.NAME}, "
                "{links.OTHER.host} or {links.OTHER.ports.NAME}"
            ) from None


def render_command(node: NodeSpec, template: str, *, host: str, ports: dict[str, int],
                   data_dir: str, nodes: dict[str, tuple[str, dict[str, int]]],
                   links: dict[str, tuple[str, dict[str, int]]]) -> str:
    """Fill a user command's placeholders for one node (see DESIGN.md)."""
    def ns(addr: tuple[str, dict[str, int]]) -> SimpleNamespace:
        return SimpleNamespace(host=addr[0], ports=SimpleNamespace(**addr[1]))

    values = {
        "host": host,
        "ports": SimpleNamespace(**ports),
        "data_dir": data_dir,
        "nodes": SimpleNamespace(**{k: ns(v) for k, v in nodes.items()}),
        "links": SimpleNamespace(**{k: ns(v) for k, v in links.items()}),
        "name": node.name,
    }
    try:
        return _Strict().format(template, **values)
    except ConfigError as exc:
        raise ConfigError(f"testbed.nodes[{node.name}].command: {exc}") from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(
            f"testbed.nodes[{node.name}].command: {exc}; write literal braces as {{{{ and }}}}"
        ) from None
