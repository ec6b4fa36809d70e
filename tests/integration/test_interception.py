"""Faults that reach any real system, proven in place: real etcd and Redis addressing their
peers by their own addresses, intercepted into the links' proxies in the namespaces network;
each fault's effect probed and its traffic counted; a fault that met no traffic, or cannot
reach its target, is never a pass."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _cli import REPO, edgeproof, leftovers

pytestmark = pytest.mark.integration

ETCD = REPO / "examples" / "etcd"
REDIS = REPO / "examples" / "redis"


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed: `bash scripts/setup.sh` installs it")


def run(path: Path | str, out: Path, env: dict[str, str], timeout: float = 240
        ) -> tuple[int, dict[str, Any]]:
    proc = edgeproof("run", str(path), "--out", str(out), "-q", env=env, timeout=timeout)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads((out / "results.json").read_text())


def faults_by_kind(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["kind"]: f for f in res["faults"]}


def checks_of(res: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in res["checks"] if c["kind"] == kind]


def test_etcd_faults_are_proven_and_it_stays_linearizable(ep_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    need("etcd")
    out = tmp_path / "etcd"
    _, res = run(ETCD / "etcd-partition.yaml", out, ep_env)
    faults = faults_by_kind(res)
    for kind in ("crash", "pause", "partition"):
        f = faults[kind]
        assert f["ok"] and f["effect"] == "verified", f
        assert f["healed"]["status"] == "verified", f
    assert faults["partition"]["traffic"] == "seen" and faults["partition"]["traffic_count"] > 0
    log = (out / "testbed" / "nodes" / "etcd-a.log").read_text(errors="replace")
    assert "lost the TCP streaming connection" in log or "lost leader" in log, log[-2000:]
    # the isolated member's linearizable reads cannot complete while it is cut off
    part = faults["partition"]
    events = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    _, ops = _pairs(events)
    t0 = res["t0_ns"]
    cut = [o for o in ops if o["node"] == "etcd-a" and o["f"] == "read"
           and part["applied_at_s"] + 3 <= (o["start"] - t0) / 1e9 < part["healed_at_s"]]
    assert cut and not [o for o in cut if o["type"] == "ok"], cut[:5]
    assert checks_of(res, "consistency")[0]["verdict"] == "pass", checks_of(res, "consistency")
    assert not [c for c in checks_of(res, "availability") if c["verdict"] == "fail"], [
        c for c in checks_of(res, "availability") if c["verdict"] == "fail"]
    assert leftovers() == {"processes": [], "cgroups": [], "records": [], "nft tables": []}


def _pairs(events: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    open_: dict[Any, dict[str, Any]] = {}
    ops = []
    for e in events:
        if e["type"] == "invoke":
            open_[e["process"]] = e
        elif e["process"] in open_:
            inv = open_.pop(e["process"])
            ops.append({"node": inv["node"], "f": inv["f"], "type": e["type"],
                        "start": inv["time_ns"]})
    return len(ops), ops


def test_etcd_serializable_reads_go_stale_inside_the_partition(ep_env: dict[str, str],
                                                               tmp_path: Path) -> None:
    need("etcd")
    rc, res = run(ETCD / "etcd-stale.yaml", tmp_path / "stale", ep_env)
    assert rc == 1
    assert faults_by_kind(res)["partition"]["effect"] == "verified"
    (cons,) = checks_of(res, "consistency")
    ev = cons["evidence"]
    assert cons["verdict"] == "fail", cons
    assert ev["witness_phase"] == "partition isolate etcd-a", ev
    assert ev["stale_reads"] > 0 and ev["stale_per_phase"].get(
        "partition isolate etcd-a", 0) > 0, ev
    assert f"{ev['stale_reads']} stale read(s)" in cons["detail"]


def test_redis_replica_cut_is_stale_in_the_partition_window(ep_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    need("redis-server")
    rc, res = run(REDIS / "redis-replica-cut.yaml", tmp_path / "redis", ep_env)
    assert rc == 1
    part = faults_by_kind(res)["partition"]
    assert part["effect"] == "verified" and part["traffic"] == "seen", part
    (cons,) = checks_of(res, "consistency")
    ev = cons["evidence"]
    assert cons["verdict"] == "fail" and ev["witness_phase"] == "partition isolate redis-b", ev
    per = ev["stale_per_phase"]
    assert per.get("partition isolate redis-b", 0) > per.get("baseline", 0), per


QUIET = """\
name: quiet-pair
seed: 2
testbed:
  network: namespaces
  expect: {availability: every_node}
  nodes:
    - {name: a, command: "python3 -m http.server {ports.main} --bind {host}", ready: {tcp: main}}
    - {name: b, command: "python3 -m http.server {ports.main} --bind {host}", ready: {tcp: main}}
  links: [{between: [a, b], latency_ms: 1}]
workload: {locustfile: LF, users: 2, think_time_ms: 50, duration_s: 8}
faults: [{at_s: 3, for_s: 3, kind: partition, isolate: b}]
checks: {latency: {tolerance: 5, min_samples: 5}, availability: {tolerance_pp: 50}}
"""

GET_ROOT = """\
from locust import HttpUser, task


class Browse(HttpUser):
    @task
    def root(self):
        self.client.get("/", name="root")
"""


def test_a_partition_that_meets_no_traffic_judges_nothing(ep_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    (tmp_path / "lf.py").write_text(GET_ROOT)
    scn = tmp_path / "quiet.yaml"
    scn.write_text(QUIET.replace("LF", str(tmp_path / "lf.py")))
    rc, res = run(scn, tmp_path / "q", ep_env)
    part = faults_by_kind(res)["partition"]
    assert part["effect"] == "verified" and part["traffic"] == "none", part
    window = [c for c in res["checks"] if c.get("phase") == "partition isolate b"]
    assert window and all(c["verdict"] == "unknown" and "touched no traffic" in c["detail"]
                          for c in window), window
    assert rc == 1 and res["verdict"] == "unknown"


def test_clock_skew_on_a_node_whose_clock_cannot_move_is_bad_input(
        ep_env: dict[str, str], tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        testbed:
          nodes:
            - {name: a, command: "sleep 60", clock: none, ready: {command: "true"}}
        workload: {duration_s: 5}
        faults: [{at_s: 1, for_s: 1, kind: clock_skew, node: a, offset_s: 30}]
        """)
    (tmp_path / "s.yaml").write_text(text)
    proc = edgeproof("run", str(tmp_path / "s.yaml"), env=ep_env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "faults[0].node (line 5)" in err and "clock: none" in err, err
    assert leftovers()["records"] == []


def test_loopback_refuses_faults_that_cannot_reach_node_addresses(
        ep_env: dict[str, str], tmp_path: Path) -> None:
    text = (REDIS / "redis-replica-cut.yaml").read_text().replace(
        "network: namespaces", "network: loopback")
    (tmp_path / "lo.yaml").write_text(text)
    proc = edgeproof("run", str(tmp_path / "lo.yaml"), env=ep_env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "faults[0]" in err and "bypasses the link proxies" in err, err
    assert "testbed.network: namespaces" in err


def test_undeclared_traffic_is_dropped_and_counted(ep_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    from harness.scenario import Scenario
    from testbeds import netns
    from testbeds.backends import up
    scn = Scenario.model_validate({"testbed": {
        "network": "namespaces", "nodes": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "links": [{"between": ["a", "b"]}]}})
    tb = up(scn.testbed, run_id="ep0c0ffee1", name="drops", workdir=tmp_path / "tb")
    try:
        a, b, c = (tb.nodes[n] for n in ("a", "b", "c"))
        path = f"/run/netns/{a.netns}"
        assert netns.connects(path, b.host, b.ports["main"]), "declared: a -> b:main"
        assert not netns.connects(path, b.host, 7999), "undeclared port"
        assert not netns.connects(path, c.host, c.ports["main"]), "no link a - c"
        assert tb.status()["dropped"]["a"] >= 2  # type: ignore[attr-defined]
        assert tb.status()["network"] == "namespaces"  # type: ignore[attr-defined]
    finally:
        tb.down()
    assert not [n for n in netns.list_netns() if n.startswith("ep-ep0c0ffee1-")]
