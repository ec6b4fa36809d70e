"""Integration tests of the reference edge service: real node processes on 127.0.0.1.

Peers point directly at each other (no proxy). Every process started here is ended by the
`cluster` fixture: SIGTERM first, SIGKILL if it does not exit, whatever the test's outcome.
"""

from __future__ import annotations

import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
READY_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Cluster:
    """Config files, processes and HTTP access for a few service nodes."""

    def __init__(self, root: Path, names: list[str], **settings: Any) -> None:
        self.root, self.names = root, names
        root.mkdir(parents=True)
        self.ports = {n: free_port() for n in names}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(timeout=5.0)
        for i, name in enumerate(names):
            cfg = {"name": name, "host": HOST, "port": self.ports[name], "seed": 7 + i,
                   "members": names, "data_dir": str(root / name),
                   "peers": {p: f"{HOST}:{self.ports[p]}" for p in names if p != name},
                   "workers": 2, "service_ms": 1.0, "replica_timeout_ms": 500,
                   **settings}
            (root / f"{name}.json").write_text(json.dumps(cfg))

    def url(self, name: str, path: str) -> str:
        return f"http://{HOST}:{self.ports[name]}{path}"

    def start(self, *names: str) -> None:
        """Start the nodes (all by default) and wait until each answers /health."""
        for name in names or self.names:
            err = (self.root / f"{name}.stderr").open("ab")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "testbeds.service", "--config",
                 str(self.root / f"{name}.json")], stderr=err, stdout=subprocess.DEVNULL)
        for name in names or self.names:
            self._await_health(name)

    def _await_health(self, name: str) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                break
            try:
                if self.http.get(self.url(name, "/health"), timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        stderr = (self.root / f"{name}.stderr").read_text(errors="replace")
        pytest.fail(f"{name} not healthy within {READY_S}s (exit {self.procs[name].poll()}): "
                    f"{stderr[-2000:]}")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    def stop(self, name: str) -> int:
        """SIGTERM, then SIGKILL after 5 s; returns the exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def close(self) -> list[int]:
        codes = [self.stop(name) for name in list(self.procs)]
        self.http.close()
        return codes

    def get(self, name: str, key: str) -> httpx.Response:
        return self.http.get(self.url(name, f"/kv/{key}"))

    def put(self, name: str, key: str, value: Any, **extra: Any) -> httpx.Response:
        return self.http.put(self.url(name, f"/kv/{key}"), json={"value": value, **extra})


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Factory: cluster(names, **settings); everything it started is stopped afterwards."""
    made: list[Cluster] = []

    def make(names: list[str] | None = None, **settings: Any) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", names or ["edge-1", "edge-2", "edge-3"],
                    **settings)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def poll(fn: Callable[[], bool], deadline_s: float) -> bool:
    """True as soon as fn() is, False after the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def test_quorum_reads_writes_and_loses_availability_without_a_majority(cluster) -> None:
    c = cluster(mode="quorum")
    c.start()
    r = c.put("edge-1", "x", {"v": 1})
    assert r.status_code == 200 and r.json() == {"key": "x", "value": {"v": 1}, "version": 1}
    for node in ("edge-2", "edge-3"):
        assert c.get(node, "x").json() == {"key": "x", "value": {"v": 1}, "version": 1}
    assert c.get("edge-2", "absent").status_code == 404
    cas = c.put("edge-1", "x", 9, if_version=1)
    assert cas.status_code == 501 and "primary" in cas.json()["error"]

    c.kill("edge-3")
    r = c.put("edge-1", "x", "two")
    assert r.status_code == 200 and r.json()["version"] == 2
    assert c.get("edge-2", "x").json()["value"] == "two"

    c.kill("edge-2")
    r = c.put("edge-1", "x", "three")
    assert r.status_code == 503 and r.json()["reached"] == 1 and r.json()["needed"] == 2
    assert c.get("edge-1", "x").status_code == 503

    c.start("edge-3")  # restarted from its write log; with edge-1 it is a majority again
    assert c.http.get(c.url("edge-3", "/metrics")).json()["keys"] == 1
    assert c.get("edge-3", "x").json()["value"] == "two"  # not its own stale version 1


def test_primary_forwards_replicates_and_does_compare_and_set(cluster) -> None:
    c = cluster(mode="primary", primary="edge-1")
    c.start()
    r = c.put("edge-2", "p", "a")
    assert r.status_code == 200 and r.json()["version"] == 1
    for node in ("edge-1", "edge-2", "edge-3"):
        assert c.get(node, "p").json() == {"key": "p", "value": "a", "version": 1}

    wrong = c.put("edge-3", "p", "b", if_version=0)
    assert wrong.status_code == 412 and wrong.json()["version"] == 1
    right = c.put("edge-3", "p", "b", if_version=1)
    assert right.status_code == 200 and right.json()["version"] == 2
    assert c.get("edge-1", "p").json()["value"] == "b"
    assert c.put("edge-1", "new", 1, if_version=0).status_code == 200

    c.kill("edge-3")  # a replica down: the primary cannot get every ack
    r = c.put("edge-1", "p", "c")
    assert r.status_code == 503 and r.json()["reached"] == 2 and r.json()["needed"] == 3
    c.kill("edge-1")  # the primary down: forwarded writes fail
    assert c.put("edge-2", "p", "d").status_code == 503
    assert c.get("edge-2", "p").json()["value"] == "c"  # local read; 'c' did reach edge-2


def test_eventual_converges_by_anti_entropy(cluster) -> None:
    c = cluster(mode="eventual", anti_entropy_ms=200)
    c.start("edge-1", "edge-2")
    assert c.put("edge-1", "e", "late").status_code == 200
    assert poll(lambda: c.get("edge-2", "e").status_code == 200, 5.0)
    c.start("edge-3")  # missed the asynchronous push; only anti-entropy can bring it
    assert poll(lambda: c.get("edge-3", "e").status_code == 200, 5.0)
    assert c.get("edge-3", "e").json()["value"] == "late"
    lag = c.http.get(c.url("edge-1", "/metrics")).json()["replication_lag_ms"]
    assert poll(lambda: c.http.get(c.url("edge-1", "/metrics")).json()[
        "replication_lag_ms"] < 1000, 3.0), lag


def test_service_time_and_observability_endpoints(cluster) -> None:
    c = cluster(["edge-1"], mode="eventual", workers=1, service_ms=10.0)
    c.start()
    ingest, health, n = [], [], 150
    for i in range(n):
        t0 = time.monotonic()
        r = c.http.post(c.url("edge-1", "/ingest"), json={"device": "d1", "readings": [i, i]})
        ingest.append(time.monotonic() - t0)
        assert r.status_code == 200 and r.json() == {"accepted": 2}
        t0 = time.monotonic()
        c.http.get(c.url("edge-1", "/health"))
        health.append(time.monotonic() - t0)
    service_ms = (statistics.fmean(ingest) - statistics.fmean(health)) * 1000
    assert 7.0 <= service_ms <= 13.0, service_ms

    clock = c.http.get(c.url("edge-1", "/clock")).json()
    assert clock["name"] == "edge-1" and abs(clock["time"] - time.time()) < 5
    assert isinstance(clock["time_ns"], int)
    metrics = c.http.get(c.url("edge-1", "/metrics")).json()
    assert metrics["completed"] == n and metrics["workers"] == 1
    assert metrics["queue_length"] == 0 and metrics["in_service"] == 0
    cpu = c.http.post(c.url("edge-1", "/cpu"), json={"iterations": 20000})
    assert cpu.status_code == 200 and cpu.json()["iterations"] == 20000
    assert cpu.json()["elapsed_ms"] > 0
    assert c.http.post(c.url("edge-1", "/cpu"), json={"iterations": "x"}).status_code == 400
    assert c.close() == [0]  # SIGTERM: graceful exit 0


def test_port_in_use_exits_2_with_one_clear_line(cluster) -> None:
    c = cluster(["edge-1"], mode="quorum")
    c.start()
    proc = subprocess.run([sys.executable, "-m", "testbeds.service", "--config",
                           str(c.root / "edge-1.json")], capture_output=True, timeout=15)
    assert proc.returncode == 2
    line = proc.stderr.decode().strip()
    assert line.startswith(f"edge-1: cannot listen on {HOST}:{c.ports['edge-1']}: "
                           "address already in use")
    assert len(line.splitlines()) == 1
