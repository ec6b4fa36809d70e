"""The docker backend against a real Docker engine, through the real `edgeproof` command.

Without an engine these tests are skipped, loudly, naming DOCKER_HOST; under CI (env CI set)
a missing engine fails them instead, since `.ci/run` starts one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _cli import EDGEPROOF, REPO, accuracy_applies, added_per_kind, edgeproof

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _engine() -> Any:
    """A client for the engine, or skip (fail under CI) with the reason."""
    from harness.errors import InfrastructureError
    from testbeds.docker import connect
    try:
        return connect()
    except InfrastructureError as exc:
        where = os.environ.get("DOCKER_HOST", "unset (default unix:///var/run/docker.sock)")
        reason = f"NO DOCKER ENGINE (DOCKER_HOST={where}): docker backend tests not run: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """The engine, with the images built once for the module."""
    client = _engine()
    from testbeds.images import ensure_images
    ensure_images(client)
    yield client
    client.close()


def labelled(client: Any, run_id: str | None = None) -> dict[str, list[str]]:
    """Containers, networks and volumes carrying our run label (of one run, or any)."""
    flt = {"label": f"edgeproof.run={run_id}" if run_id else "edgeproof.run"}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=flt)],
            "networks": [n.name for n in client.networks.list(filters=flt)],
            "volumes": [v.name for v in client.volumes.list(filters=flt)]}


def _status(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(edgeproof("status", "--json", env=env, check=True).stdout)


def test_up_quorum_and_down_leaves_nothing(engine: Any, ep_env: dict[str, str]) -> None:
    edgeproof("up", "examples/three-edge.yaml", "--backend", "docker", env=ep_env, check=True)
    st = _status(ep_env)
    assert st["backend"] == "docker"
    assert [n["healthy"] for n in st["nodes"]] == [True, True, True]
    urls = {n["name"]: n["client_url"] for n in st["nodes"]}
    r = httpx.put(f"{urls['edge-1']}/kv/k1", json={"value": 4242}, timeout=5)
    assert r.status_code == 200, r.text
    for other in ("edge-2", "edge-3"):
        assert httpx.get(f"{urls[other]}/kv/k1", timeout=5).json()["value"] == 4242
    assert labelled(engine, st["run_id"])["containers"]
    edgeproof("down", env=ep_env, check=True)
    assert labelled(engine, st["run_id"]) == {"containers": [], "networks": [], "volumes": []}


def _cpu_scenario(tmp: Path) -> Path:
    nodes = [{"name": "slow", "hardware": {"cpus": 0.25, "workers": 1}},
             {"name": "fast", "hardware": {"cpus": 1.0, "workers": 1}}]
    path = tmp / "cpu.yaml"
    path.write_text(yaml.safe_dump({
        "name": "cpu-ratio", "testbed": {"backend": "docker", "service": {"mode": "eventual"},
                                         "nodes": nodes},
        "workload": {"duration_s": 1}}))
    return path


def _cpu_ms(url: str, iterations: int) -> float:
    """Wall-clock ms of one CPU-bound request (best of five: the least disturbed by other load)."""
    times = []
    for _ in range(5):
        t = time.perf_counter()
        r = httpx.post(f"{url}/cpu", json={"iterations": iterations}, timeout=60)
        assert r.status_code == 200, r.text
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def test_cpu_quota_slows_cpu_bound_work(engine: Any, ep_env: dict[str, str],
                                        tmp_path: Path) -> None:
    edgeproof("up", str(_cpu_scenario(tmp_path)), env=ep_env, check=True)
    urls = {n["name"]: n["client_url"] for n in _status(ep_env)["nodes"]}
    n = 300_000  # ~0.3 s of sha256 at one core: many CFS periods (100 ms) long
    fast, slow = _cpu_ms(urls["fast"], n), _cpu_ms(urls["slow"], n)
    ratio = slow / fast
    edgeproof("down", env=ep_env, check=True)
    # 4x in theory; a busy 2-core host slows the unthrottled node too (CI saw 2.48x), while a
    # quota that is not applied gives ~1x, so 2x still tells the two apart.
    assert 2.0 <= ratio <= 6, f"cpus 0.25 vs 1.0: {slow:.0f} ms vs {fast:.0f} ms = {ratio:.2f}x"


def test_run_latency_step_passes(engine: Any, ep_env: dict[str, str], tmp_path: Path,
                                 quiet_host: float, request: pytest.FixtureRequest) -> None:
    out = tmp_path / "run"
    proc = edgeproof("run", "examples/latency-step.yaml", "--backend", "docker", "--out",
                     str(out), env=ep_env, timeout=300)
    res = json.loads((out / "results.json").read_text())
    assert res["backend"] == "docker"
    assert labelled(engine, res["run_id"]) == {"containers": [], "networks": [], "volumes": []}
    if not accuracy_applies(res, request.node.nodeid):
        return
    for f, step in added_per_kind(out, res).items():
        assert abs(step - 50) <= 5, f"latency step {step:.1f} ms on {f}"
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


def test_sigkill_mid_run_then_clean_leaves_nothing(engine: Any, ep_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    before = set(labelled(engine)["containers"])
    proc = subprocess.Popen([EDGEPROOF, "run", "examples/latency-step.yaml", "--backend",
                             "docker", "--out", str(tmp_path / "run")], env=ep_env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "run" / "history.jsonl").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)  # waiting for the load to start, bounded by the deadline
    mine = set(labelled(engine)["containers"]) - before
    assert mine, "the run started no containers"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    edgeproof("clean", env=ep_env, check=True)
    left = labelled(engine)
    assert not mine & set(left["containers"]), left
    runs = {name.split("-")[1] for name in mine}
    for run in runs:
        assert labelled(engine, run) == {"containers": [], "networks": [], "volumes": []}


def test_unreachable_engine_is_a_clear_error(ep_env: dict[str, str]) -> None:
    env = {**ep_env, "DOCKER_HOST": "unix:///nonexistent.sock"}
    proc = edgeproof("up", "examples/three-edge.yaml", "--backend", "docker", env=env)
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert "DOCKER_HOST=unix:///nonexistent.sock" in text
    assert "dockerd" in text and "Traceback" not in text


def test_a_users_own_image_as_a_node(engine: Any, ep_env: dict[str, str],
                                     tmp_path: Path) -> None:
    """`image` + `command` + named ports + a readiness probe, with placeholders; faults on
    its client link reach its traffic (any image will do: here the testbed's own base)."""
    from testbeds.images import ensure_images
    base = ensure_images(engine).base
    scn = {"name": "own-image", "testbed": {"backend": "docker", "nodes": [{
        "name": "web", "image": base, "clock": "none",
        "command": "python3 -m http.server {ports.main} --bind 0.0.0.0",
        "ports": ["main"], "ready": {"tcp": "main"}}]},
        "workload": {"duration_s": 5}, "checks": {"latency": None}}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(scn))
    edgeproof("up", str(path), env=ep_env, check=True)
    try:
        st = _status(ep_env)
        url = st["nodes"][0]["client_url"]
        assert st["nodes"][0]["healthy"] is True
        assert httpx.get(f"{url}/", timeout=5).status_code == 200
    finally:
        edgeproof("down", env=ep_env, check=True)
    assert labelled(engine, st["run_id"]) == {"containers": [], "networks": [], "volumes": []}


def _etcd_image(engine: Any, tmp_path: Path) -> str:
    """A user's image built here from the base image, with Debian's etcd binary in it."""
    import shutil

    from testbeds.images import ensure_images
    etcd = shutil.which("etcd")
    if etcd is None:
        pytest.fail("etcd is not installed: `bash scripts/setup.sh` installs etcd-server")
    ctx = tmp_path / "etcd-image"
    ctx.mkdir()
    shutil.copy(etcd, ctx / "etcd")
    base = ensure_images(engine).base
    (ctx / "Dockerfile").write_text(f"FROM {base}\nCOPY etcd /usr/local/bin/etcd\n")
    tag = "edgeproof-test/etcd:local"
    engine.images.build(path=str(ctx), tag=tag, rm=True, labels={"edgeproof.image": "test"})
    return tag


@pytest.mark.slow  # ~50 s: the default run stays under its 25 min
def test_user_image_peers_by_address_are_intercepted(engine: Any, ep_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    """Real etcd in a user's image, members addressing each other by their own addresses:
    on docker too every fault is proven in place and the isolated member loses its peers."""
    scn = yaml.safe_load((REPO / "examples" / "etcd" / "etcd-partition.yaml").read_text())
    scn["testbed"]["backend"] = "docker"
    image = _etcd_image(engine, tmp_path)
    for node in scn["testbed"]["nodes"]:
        node["image"] = image
    scn["workload"]["locustfile"] = str(REPO / "examples" / "locustfiles" / "etcd_kv.py")
    path = tmp_path / "etcd-docker.yaml"
    path.write_text(yaml.safe_dump(scn, sort_keys=False))
    out = tmp_path / "run"
    proc = edgeproof("run", str(path), "--out", str(out), "-q", env=ep_env, timeout=400)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["backend"] == "docker" and res["network"] == "namespaces", res.get("network")
    faults = {f["kind"]: f for f in res["faults"]}
    for kind in ("crash", "pause", "partition"):
        assert faults[kind]["ok"] and faults[kind]["effect"] == "verified", faults[kind]
        assert faults[kind]["healed"]["status"] == "verified", faults[kind]
    assert faults["partition"]["traffic"] == "seen", faults["partition"]
    text = (out / "testbed" / "nodes" / "etcd-a.log").read_text(errors="replace")
    assert "lost the TCP streaming connection" in text or "lost leader" in text, text[-2000:]
    cons = [c for c in res["checks"] if c["kind"] == "consistency"]
    assert cons and cons[0]["verdict"] == "pass", cons
    assert not [c for c in res["checks"] if c["kind"] == "availability"
                and c["verdict"] == "fail"], res["checks"]
    assert labelled(engine, res["run_id"]) == {"containers": [], "networks": [], "volumes": []}


def test_undeclared_traffic_between_containers_is_dropped_and_counted(
        engine: Any, ep_env: dict[str, str], tmp_path: Path) -> None:
    from harness.scenario import Scenario
    from testbeds import netns
    from testbeds.backends import up
    scn = Scenario.model_validate({"testbed": {
        "backend": "docker", "nodes": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "links": [{"between": ["a", "b"]}]}})
    tb = up(scn.testbed, run_id="ep0d0ffee1", name="drops", workdir=tmp_path / "tb")
    try:
        a, b, c = (tb.nodes[n] for n in ("a", "b", "c"))
        assert a.netns and a.netns.startswith("/proc/"), a.netns
        assert netns.connects(a.netns, b.host, b.ports["main"]), "declared: a -> b:main"
        assert not netns.connects(a.netns, b.host, 7999), "undeclared port"
        assert not netns.connects(a.netns, c.host, c.ports["main"]), "no link a - c"
        st = tb.status()
        assert st["network"] == "namespaces" and st["dropped"]["a"] >= 2, st["dropped"]
        # the declared connection went through the link's proxy: its traffic is counted
        assert (tb.link_packets("a", "b") or 0) > 0
    finally:
        tb.down()
    assert labelled(engine, "ep0d0ffee1") == {"containers": [], "networks": [], "volumes": []}
