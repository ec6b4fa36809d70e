"""Faults on the local testbed, measured on the wire: node-link latency, clock skew, crash."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faults.clock import ClockSkew
from faults.node import Crash
from faults.toxics import ToxicFault
from testbeds.local import LocalTestbed
from testbeds.spec import TestbedSpec
from workloads.timing import parse_server_timing

pytestmark = pytest.mark.integration


@pytest.fixture(params=["template", "exec"])
def nodes_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Reference nodes forked from the template (the default) or one interpreter each."""
    if request.param == "exec":
        monkeypatch.setenv("EDGEPROOF_NODE_TEMPLATE", "0")
    return str(request.param)


@pytest.fixture
def pair(tmp_path: Path, ep_env: dict[str, str]) -> Iterator[LocalTestbed]:
    with two_nodes(tmp_path) as tb:
        yield tb


@contextlib.contextmanager
def two_nodes(tmp_path: Path) -> Iterator[LocalTestbed]:
    """Two quorum nodes joined by a link (the environment decides how nodes start)."""
    spec = TestbedSpec.model_validate({
        "service": {"mode": "quorum"},
        "nodes": [{"name": "edge-1", "hardware": {"service_ms": 0}},
                  {"name": "edge-2", "hardware": {"service_ms": 0}}],
        "links": [{"between": ["edge-1", "edge-2"]}],
    })
    tb = LocalTestbed.up(spec, run_id="eptest" + tmp_path.name[-6:].replace("_", ""),
                         name="pair", workdir=tmp_path / "tb", seed=3)
    try:
        yield tb
    finally:
        tb.down()


def _replication_ms(url: str, n: int = 15) -> float:
    """Median replication time the node reports for quorum reads (one round to its peer)."""
    got = []
    with httpx.Client(timeout=5) as http:
        for _ in range(n):
            r = http.get(f"{url}/kv/probe")
            got.append(parse_server_timing(r.headers["Server-Timing"])["replication"])
    return statistics.median(got)


def test_latency_on_a_node_link_delays_replication_and_heals(pair: LocalTestbed) -> None:
    url = dict(pair.client_targets())["edge-1"]
    _replication_ms(url, n=5)  # warm: connections to the peer, the node's first requests
    before = _replication_ms(url)
    fault = ToxicFault("latency", ("edge-1", "edge-2"), {"latency": 50, "jitter": 0})
    fault.apply(pair)
    during = _replication_ms(url)
    fault.heal(pair)
    fault.heal(pair)  # idempotent
    after = _replication_ms(url)
    assert during - before == pytest.approx(50, abs=5)
    assert after - before <= 3, "healed: replication no slower than before the fault"
    assert all(not t.name.startswith("fault") for p in pair.record.proxies
               for t in pair.admin.toxics(p.name))


def test_clock_skew_moves_the_node_clock_at_run_time(pair: LocalTestbed) -> None:
    if not pair.nodes["edge-1"].clock_file:
        pytest.fail("libfaketime not found: install Debian's libfaketime (scripts/setup.sh)")
    url = pair.direct_url("edge-1")
    skew = ClockSkew("edge-1", offset_s=30)
    skew.apply(pair)
    off = httpx.get(f"{url}/clock").json()["time"] - time.time()
    skew.heal(pair)
    back = httpx.get(f"{url}/clock").json()["time"] - time.time()
    assert off == pytest.approx(30, abs=0.05)
    assert back == pytest.approx(0, abs=0.05)


def test_crash_kills_and_heal_restarts_with_data(pair: LocalTestbed) -> None:
    url = dict(pair.client_targets())["edge-1"]
    assert httpx.put(f"{url}/kv/durable", json={"value": 7}, timeout=5).status_code == 200
    crash = Crash("edge-2")
    crash.apply(pair)
    assert not pair.node_running("edge-2")
    r = httpx.put(f"{url}/kv/other", json={"value": 8}, timeout=5)
    assert r.status_code == 503  # no quorum of 2 without edge-2
    crash.heal(pair)
    assert pair.healthy("edge-2")
    got = httpx.get(f"{pair.direct_url('edge-2')}/kv/durable", timeout=5).json()
    assert got["value"] == 7


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.parametrize("keep_data", [True, False])
def test_crashed_node_restarts_at_once(nodes_from: str, tmp_path: Path,
                                       ep_env: dict[str, str], keep_data: bool) -> None:
    """A crashed reference node's restart costs no interpreter start-up: forked again from
    the template, or (one interpreter per node) handed over to the standby that waited,
    imported but unbound, while it was down; with or without its data."""
    with two_nodes(tmp_path) as tb:
        _restart_at_once(tb, nodes_from, keep_data)


def _restart_at_once(pair: LocalTestbed, nodes_from: str, keep_data: bool) -> None:
    url = dict(pair.client_targets())["edge-1"]
    assert httpx.put(f"{url}/kv/kept", json={"value": 3}, timeout=5).status_code == 200
    old = pair.nodes["edge-2"].pid
    assert (pair.template is not None) is (nodes_from == "template")
    crash = Crash("edge-2", keep_data=keep_data)
    crash.apply(pair)
    assert not pair.node_running("edge-2") and not pair.port_open("edge-2")
    if nodes_from == "exec":
        standby, _fifo = pair.standbys["edge-2"]
        assert standby.poll() is None and "--standby" in _cmdline(standby.pid)
    crash.heal(pair)
    new = pair.nodes["edge-2"].pid
    assert new != old
    if nodes_from == "exec":
        assert new == standby.pid
    else:
        assert pair.template is not None
        assert f"PPid:\t{pair.template.pid}" in Path(f"/proc/{new}/status").read_text()
    assert pair.node_running("edge-2") and pair.healthy("edge-2")
    log = Path(pair.record.workdir) / "nodes" / "edge-2" / "data" / "kv.jsonl"
    stored = log.read_text() if log.exists() else ""  # before any read writes it back
    assert ('"kept"' in stored) is keep_data, stored
    assert "edge-2" not in pair.standbys
