"""Each fault's effect, measured on the wire or on the node (not the API call), local backend."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from faults.clock import ClockSkew
from faults.node import Crash, Pause
from faults.partition import Partition
from faults.toxics import ToxicFault
from testbeds import nftcut
from testbeds.local import LocalTestbed
from testbeds.spec import TestbedSpec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTestbed]:
    base = tmp_path_factory.mktemp("trio")
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEPROOF_STATE_DIR", str(base / "state"))
    spec = TestbedSpec.model_validate({
        "service": {"mode": "quorum", "replica_timeout_ms": 300},
        "nodes": [{"name": f"edge-{i}", "hardware": {"service_ms": 0, "workers": 8}}
                  for i in (1, 2, 3)],
        "links": [{"between": ["edge-1", "edge-2"]}, {"between": ["edge-2", "edge-3"]},
                  {"between": ["edge-1", "edge-3"]}],
    })
    tb = LocalTestbed.up(spec, run_id="epfx" + base.name[-6:].replace("_", ""), name="trio",
                         workdir=base / "tb", seed=5)
    try:
        yield tb
    finally:
        tb.down()
        mp.undo()


def _rtts(url: str, n: int = 25, path: str = "/health") -> list[float]:
    out = []
    with httpx.Client(timeout=5, trust_env=False) as http:
        http.get(f"{url}{path}")  # connection set up outside the sample
        for _ in range(n):
            t = time.perf_counter()
            http.get(f"{url}{path}")
            out.append((time.perf_counter() - t) * 1000)
    return out


def _client(tb: LocalTestbed, node: str) -> str:
    return dict(tb.client_targets())[node]


def test_latency_adds_its_round_trip_and_jitter_stays_in_bound(trio: LocalTestbed) -> None:
    url = _client(trio, "edge-1")
    sample = _rtts(url)
    least, base = min(sample), statistics.median(sample)  # noise only ever adds to the least
    lat = ToxicFault("latency", ("clients", "edge-1"), {"latency": 50, "jitter": 0})
    lat.apply(trio)
    try:
        added = min(_rtts(url)) - least
    finally:
        lat.heal(trio)
    assert added == pytest.approx(50, abs=3), f"added {added:.2f} ms"
    jit = ToxicFault("latency", ("clients", "edge-1"), {"latency": 50, "jitter": 10})
    jit.apply(trio)
    try:
        samples = [s - base for s in _rtts(url, 40)]
    finally:
        jit.heal(trio)
    q = statistics.quantiles(samples, n=20)  # 5% .. 95%: one scheduling hiccup is no jitter
    assert q[0] >= 40 - 2 and q[-1] <= 60 + 12, samples
    assert statistics.pstdev(samples) > 2, "jitter should spread the samples"
    assert min(_rtts(url)) - least < 2, "healed"


def test_bandwidth_limits_a_bulk_transfer_to_its_rate(trio: LocalTestbed) -> None:
    blob = "x" * 300_000
    direct = trio.direct_url("edge-2")
    assert httpx.put(f"{direct}/kv/blob", json={"value": blob}, timeout=10).status_code == 200
    bw = ToxicFault("bandwidth", ("clients", "edge-2"), {"rate": 100})  # KB/s = 800 kbit/s
    bw.apply(trio)
    try:
        t = time.perf_counter()
        r = httpx.get(f"{_client(trio, 'edge-2')}/kv/blob", timeout=30, trust_env=False)
        secs = time.perf_counter() - t
    finally:
        bw.heal(trio)
    rate_kb = len(r.content) / 1024 / secs
    assert rate_kb == pytest.approx(100, rel=0.10), f"{rate_kb:.1f} KB/s"


def test_partition_cuts_silently_majority_serves_minority_does_not(trio: LocalTestbed) -> None:
    part = Partition.isolate("edge-3", trio.spec.node_names, id="t")
    part.apply(trio)
    table = nftcut.table_name(trio.run_id, "t")
    try:
        # in namespaces the cut is one nftables table, no toxic (scripts/setup.sh installs nft)
        assert table in nftcut.tables(), nftcut.tables()
        assert not [t.name for p in trio.admin.proxies().values() for t in p.toxics
                    if "partition" in t.name]
        across = trio.proxies("edge-3", "edge-1")[0].listen
        with pytest.raises(httpx.TimeoutException):  # a cut cable: no answer, no refusal
            httpx.get(f"http://{across}/health", timeout=0.5, trust_env=False)
        ok = httpx.put(f"{_client(trio, 'edge-1')}/kv/p", json={"value": 1}, timeout=5)
        assert ok.status_code == 200
        minority = httpx.put(f"{_client(trio, 'edge-3')}/kv/p", json={"value": 2}, timeout=5)
        assert minority.status_code == 503
        assert httpx.get(f"{_client(trio, 'edge-3')}/kv/p", timeout=5).status_code == 503
        assert (part.traffic(trio) or 0) > 0  # the drops are counted
    finally:
        part.heal(trio)
    assert table not in nftcut.tables()
    part.heal(trio)  # idempotent
    assert httpx.get(f"http://{across}/health", timeout=2, trust_env=False).status_code == 200
    assert httpx.put(f"{_client(trio, 'edge-3')}/kv/p", json={"value": 3},
                     timeout=5).status_code == 200


def test_reject_mode_refuses_connections(trio: LocalTestbed) -> None:
    part = Partition({("edge-1", "edge-2")}, mode="reject", id="r")
    part.apply(trio)
    try:
        addr = trio.proxies("edge-1", "edge-2")[0].listen
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{addr}/health", timeout=2, trust_env=False)
    finally:
        part.heal(trio)
    assert httpx.get(f"http://{addr}/health", timeout=2, trust_env=False).status_code == 200


def _clock_offset(tb: LocalTestbed, node: str, samples: int = 7) -> float:
    """The node's clock minus ours, NTP-style: of a few exchanges on one connection, the one
    with the shortest round trip (its midpoint error is at most half that round trip)."""
    best = (float("inf"), 0.0)
    with httpx.Client(trust_env=False, timeout=2) as http:
        for _ in range(samples):
            t0 = time.time()
            got = http.get(f"{tb.direct_url(node)}/clock").json()["time"]
            t1 = time.time()
            best = min(best, (t1 - t0, got - (t0 + t1) / 2))
    return best[1]


def test_clock_skew_offset_and_drift(trio: LocalTestbed) -> None:
    skew = ClockSkew("edge-2", offset_s=-20)
    skew.apply(trio)
    try:
        assert _clock_offset(trio, "edge-2") == pytest.approx(-20, abs=0.05)
    finally:
        skew.heal(trio)
    drift = ClockSkew("edge-2", offset_s=0, drift=0.5)
    drift.apply(trio)
    try:
        first = _clock_offset(trio, "edge-2")
        t = time.monotonic()
        deadline = t + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.05)  # letting the drift accumulate for a second
        gained = _clock_offset(trio, "edge-2") - first
        elapsed = time.monotonic() - t
    finally:
        drift.heal(trio)
    assert gained == pytest.approx(0.5 * elapsed, abs=0.1)
    assert _clock_offset(trio, "edge-2") == pytest.approx(0, abs=0.05)


def _answers_after_apply(tb: LocalTestbed, node: str, fault: Pause | Crash) -> int:
    """Health answers the node gave after apply returned, over five probes: a pause or a
    crash is in place when apply returns (apply probes it), so there must be none."""
    url = tb.direct_url(node)
    fault.apply(tb)
    answered = 0
    with httpx.Client(trust_env=False) as http:
        for _ in range(5):
            try:
                http.get(f"{url}/health", timeout=0.2)
                answered += 1
            except httpx.HTTPError:
                pass
    return answered


@pytest.mark.parametrize("kind", ["pause", "crash"])
def test_pause_and_crash_stop_the_node_at_once_and_heal(trio: LocalTestbed, kind: str) -> None:
    fault = Pause("edge-1") if kind == "pause" else Crash("edge-1")
    try:
        answered = _answers_after_apply(trio, "edge-1", fault)
    finally:
        fault.heal(trio)
    assert answered == 0, f"{kind}: the node still answered {answered} of 5 probes"
    assert trio.healthy("edge-1")
    assert httpx.put(f"{_client(trio, 'edge-1')}/kv/after", json={"value": 1},
                     timeout=5).status_code == 200
