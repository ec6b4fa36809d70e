"""Faults against a user's own system: cut a real Redis replica from its primary."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.partition import Partition
from harness.scenario import load_scenario
from testbeds.local import LocalTestbed

pytestmark = pytest.mark.integration


def resp(host: str, port: int, *args: str) -> str:
    """One Redis command over RESP; the reply as text (bulk string, status or nil)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(payload.encode())
        data = s.recv(65536).decode()
    if data.startswith("$-1"):
        return ""
    return data.split("\r\n")[1] if data.startswith("$") else data.strip().lstrip("+")


def wait_for(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)  # polling the replica's state; bounded
    return False


@pytest.fixture
def redis_pair(tmp_path: Path, ep_env: dict[str, str]) -> Iterator[LocalTestbed]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not installed: run scripts/setup.sh (Debian redis-server)")
    scn = load_scenario("examples/redis-replica.yaml")
    tb = LocalTestbed.up(scn.testbed, run_id="eprd" + tmp_path.name[-6:].replace("_", ""),
                         name="redis", workdir=tmp_path / "tb")
    try:
        yield tb
    finally:
        tb.down()


def test_partition_cuts_the_replica_from_its_primary(redis_pair: LocalTestbed) -> None:
    a, b = redis_pair.nodes["redis-a"], redis_pair.nodes["redis-b"]
    pa, pb = a.ports["main"], b.ports["main"]
    resp(a.host, pa, "SET", "k", "before")
    assert wait_for(lambda: resp(b.host, pb, "GET", "k") == "before", 10), "replication"
    cut = Partition.isolate("redis-b", redis_pair.spec.node_names, id="cut")
    cut.apply(redis_pair)
    try:
        resp(a.host, pa, "SET", "k", "during")
        assert not wait_for(lambda: resp(b.host, pb, "GET", "k") == "during", 1.5)
    finally:
        cut.heal(redis_pair)
    assert wait_for(lambda: resp(b.host, pb, "GET", "k") == "during", 15), "catch-up after heal"
