"""Topology: proxies per link direction and client link, static link toxics, placeholders."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from testbeds.net import node_host
from testbeds.placeholders import render_command
from testbeds.spec import CLIENTS, NodeSpec, TestbedSpec
from testbeds.topology import ProxyPlan, link_toxics, plan_proxies, proxy_name

RUN = "ep1234abcd"


def spec(nodes: list[str], links: list[dict[str, Any]], clients: dict[str, Any] | None = None,
         ports: dict[str, list[str]] | None = None) -> TestbedSpec:
    return TestbedSpec.model_validate({
        "nodes": [{"name": n, **({"ports": ports[n]} if ports and n in ports else {})}
                  for n in nodes],
        "links": links,
        "clients": clients or {},
    })


def addrs_for(tb: TestbedSpec) -> dict[str, tuple[str, dict[str, int]]]:
    return {n.name: (node_host(0, i), {p: 7000 + 10 * i + j for j, p in enumerate(n.ports)})
            for i, n in enumerate(tb.nodes)}


def plan(name: str, latency: float = 0.0, jitter: float = 0.0,
         kbps: float | None = None) -> ProxyPlan:
    return ProxyPlan(name, "a", "b", "main", "127.0.0.1:1", latency, jitter, kbps)


def test_one_proxy_per_direction_plus_one_per_client_node() -> None:
    tb = spec(["a", "b", "c"],
              [{"between": ["a", "b"], "latency_ms": 2}, {"from": "b", "to": "c"}],
              {"nodes": ["a", "c"], "latency_ms": 1})
    addrs = addrs_for(tb)
    plans = plan_proxies(tb, RUN, addrs)
    pairs = Counter((p.src, p.dst) for p in plans)
    assert pairs == Counter({("a", "b"): 1, ("b", "a"): 1, ("b", "c"): 1,
                             (CLIENTS, "a"): 1, (CLIENTS, "c"): 1})
    by = {(p.src, p.dst): p for p in plans}
    ab = by[("a", "b")]
    assert ab.name == proxy_name(RUN, "a", "b", "main") == f"{RUN}:a>b:main"
    assert ab.upstream == f"{addrs['b'][0]}:{addrs['b'][1]['main']}"
    assert ab.latency_ms == 2
    assert by[(CLIENTS, "c")].upstream == f"{addrs['c'][0]}:{addrs['c'][1]['main']}"
    assert by[(CLIENTS, "c")].latency_ms == 1
    assert by[("b", "c")].latency_ms == 0
    assert len({p.name for p in plans}) == len(plans)


def test_symmetric_link_is_two_proxies() -> None:
    tb = spec(["a", "b"], [{"between": ["a", "b"]}], {"nodes": []})
    # an empty client list means every node takes client traffic
    plans = plan_proxies(tb, RUN, addrs_for(tb))
    assert sorted((p.src, p.dst) for p in plans) == [
        ("a", "b"), ("b", "a"), (CLIENTS, "a"), (CLIENTS, "b")]


def test_a_proxy_per_destination_port_and_clients_use_the_client_port() -> None:
    tb = spec(["db", "app"], [{"from": "app", "to": "db"}],
              ports={"db": ["main", "admin"]})
    tb.nodes[0].client_port = "admin"
    plans = plan_proxies(tb, RUN, addrs_for(tb))
    links = sorted(p.port_name for p in plans if p.src == "app")
    assert links == ["admin", "main"]
    client_db = [p for p in plans if p.src == CLIENTS and p.dst == "db"]
    assert [p.port_name for p in client_db] == ["admin"]


def test_a_later_link_wins_for_the_same_direction() -> None:
    tb = spec(["a", "b"], [{"between": ["a", "b"], "latency_ms": 2},
                           {"from": "a", "to": "b", "latency_ms": 9}])
    plans = plan_proxies(tb, RUN, addrs_for(tb))
    lat = {(p.src, p.dst): p.latency_ms for p in plans if p.src != CLIENTS}
    assert lat == {("a", "b"): 9, ("b", "a"): 2}


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 7), data=st.data())
def test_proxy_count(n: int, data: st.DataObject) -> None:
    names = [f"n{i}" for i in range(n)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    chosen = data.draw(st.lists(st.sampled_from(pairs), unique=True), label="links")
    directed = data.draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    clients = data.draw(st.lists(st.sampled_from(names), unique=True, min_size=1), label="clients")
    links = [{"from": a, "to": b} if d else {"between": [a, b]}
             for (a, b), d in zip(chosen, directed, strict=True)]
    tb = spec(names, links, {"nodes": clients})
    plans = plan_proxies(tb, RUN, addrs_for(tb))
    want = sum(1 if d else 2 for d in directed) + len(clients)
    assert len(plans) == want
    assert sum(p.src == CLIENTS for p in plans) == len(clients)


def test_link_toxics_latency_both_ways() -> None:
    toxics = link_toxics(plan("p", latency=2))
    assert toxics == [
        {"name": "link-latency-upstream", "type": "latency", "stream": "upstream",
         "attributes": {"latency": 2, "jitter": 0}},
        {"name": "link-latency-downstream", "type": "latency", "stream": "downstream",
         "attributes": {"latency": 2, "jitter": 0}},
    ]


def test_link_toxics_bandwidth_in_kilobytes() -> None:
    toxics = link_toxics(plan("p", kbps=800))
    assert [(t["type"], t["stream"], t["attributes"]["rate"]) for t in toxics] == [
        ("bandwidth", "upstream", 100), ("bandwidth", "downstream", 100)]


def test_plain_link_has_no_toxics() -> None:
    assert link_toxics(plan("p")) == []
    jitter_only = link_toxics(plan("p", jitter=3))
    assert [t["attributes"] for t in jitter_only] == [{"latency": 0, "jitter": 3}] * 2


NODE = NodeSpec(name="redis-b", command="redis-server")
CTX: dict[str, Any] = {
    "host": "127.100.0.2",
    "ports": {"main": 7002},
    "data_dir": "/tmp/d/redis-b",
    "nodes": {"redis-a": ("127.100.0.1", {"main": 7001})},
    "links": {"redis-a": ("127.0.0.1", {"main": 41001})},
}


def test_render_command_fills_placeholders() -> None:
    tmpl = ("redis-server --bind {host} --port {ports.main} --dir {data_dir} "
            "--replicaof {links.redis-a.host} {links.redis-a.ports.main} "
            "# {nodes.redis-a.host}:{nodes.redis-a.ports.main} {{literal}}")
    assert render_command(NODE, tmpl, **CTX) == (
        "redis-server --bind 127.100.0.2 --port 7002 --dir /tmp/d/redis-b "
        "--replicaof 127.0.0.1 41001 # 127.100.0.1:7001 {literal}")


@pytest.mark.parametrize("bad", ["{nosuch}", "--port {ports.other}", "{links.redis-z.host}",
                                 "{nodes.redis-a.ports.admin}"])
def test_render_command_names_an_unknown_placeholder(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_command(NODE, bad, **CTX)
    msg = str(info.value)
    placeholder = bad[bad.index("{"):]
    assert placeholder in msg
    assert "redis-b" in msg and "command" in msg
    assert "{host}" in msg and "{links.OTHER.host}" in msg  # what to use instead


def test_render_command_stray_brace_says_how_to_escape() -> None:
    with pytest.raises(ConfigError) as info:
        render_command(NODE, "echo {", **CTX)
    assert "{{" in str(info.value) and "redis-b" in str(info.value)


def test_node_hosts_are_distinct_loopback_addresses() -> None:
    hosts = [node_host(3, i) for i in range(600)]
    assert len(set(hosts)) == 600
    assert all(h.startswith("127.") for h in hosts)
    assert all(0 < int(h.rsplit(".", 1)[1]) < 255 for h in hosts)
