"""Interception cost: the round trip a namespaced node pays to reach a peer at the peer's own
address (its namespace, the DNAT rule, the bridge, then the link's proxy) against today's
direct proxy path on loopback (a client connecting to the link proxy's own address), in the
same run, rounds alternated.

Two 2-node reference testbeds (network: namespaces and network: loopback); each sample opens
a connection, sends GET /health and reads the answer (HTTP/1.0, a new connection each time,
as a node's first request to a peer would).

    .venv/bin/python bench/interception.py [--samples 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.runner import new_run_id, stand_up
from harness.scenario import Scenario
from testbeds import netns
from testbeds.base import Testbed


def scenario(network: str) -> Scenario:
    return Scenario.model_validate({"name": f"intercept-{network}", "testbed": {
        "network": network, "nodes": [{"name": "a"}, {"name": "b"}],
        "links": [{"between": ["a", "b"]}]}})


def get_health(s: socket.socket, host: str, port: int) -> float:
    """One GET /health on a new connection (its socket made beforehand, where the caller's
    traffic starts); connect to the last byte, in microseconds."""
    s.settimeout(5)
    t = time.perf_counter()
    try:
        s.connect((host, port))
        s.sendall(f"GET /health HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        while s.recv(4096):
            pass
    finally:
        s.close()
    return (time.perf_counter() - t) * 1e6


def sampler(tb: Testbed, network: str) -> Callable[[int], list[float]]:
    """n round trips over the path a's traffic to b takes on this network."""
    b = tb.nodes["b"]
    if network == "namespaces":
        path = f"/run/netns/{tb.nodes['a'].netns}"
        return lambda n: [get_health(s, b.host, b.ports["main"])
                          for s in netns.sockets_in(path, n)]
    proxy = tb.proxies("a", "b")[0].listen
    host, port = proxy.rsplit(":", 1)
    return lambda n: [get_health(socket.socket(), host, int(port)) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgeproof-intercept-"))
    beds: dict[str, Testbed] = {}
    try:
        for network in ("namespaces", "loopback"):
            beds[network] = stand_up(scenario(network), run_id=new_run_id(),
                                     workdir=work / network, detached=False,
                                     say=lambda _m: None)
        samplers = {n: sampler(tb, n) for n, tb in beds.items()}
        times: dict[str, list[float]] = {n: [] for n in beds}
        for _ in range(args.rounds):
            for n, fn in samplers.items():
                fn(20)  # warm-up
                times[n] += fn(args.samples)
    finally:
        for tb in beds.values():
            tb.down()
    report(times)


def report(times: dict[str, list[float]]) -> None:
    q = {n: (statistics.median(v), statistics.quantiles(v, n=100)[98]) for n, v in times.items()}
    t = Table(title="a -> b round trip, new connection + GET /health (µs)")
    for col in ("path", "samples", "p50", "p99"):
        t.add_column(col)
    t.add_row("namespace + DNAT + proxy", str(len(times["namespaces"])),
              f"{q['namespaces'][0]:.0f}", f"{q['namespaces'][1]:.0f}")
    t.add_row("loopback, straight to the proxy", str(len(times["loopback"])),
              f"{q['loopback'][0]:.0f}", f"{q['loopback'][1]:.0f}")
    Console().print(t)
    extra = (q["namespaces"][0] - q["loopback"][0]) / 1000
    print(f"interception adds {extra:+.3f} ms at p50 (target <= 0.1 ms)")
    print(json.dumps({"bench": "interception", "p50_us": {n: round(v[0]) for n, v in q.items()},
                      "p99_us": {n: round(v[1]) for n, v in q.items()},
                      "added_p50_ms": round(extra, 4), "target_ms": 0.1}))


if __name__ == "__main__":
    main()
