"""The load process end to end: real Locust (in its own process) against a tiny aiohttp KV
server on loopback. Run as a script (``--serve PORT``) this file is that server."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workloads.history import operations, read_history, validate_pairs
from workloads.load import LoadProcess, LoadSpec, run_load

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- the server (subprocess)


def serve(port: int, slow_key: str | None, slow_ms: float) -> None:
    """A minimal KV service with the reference API (CAS by ``if_version``, 412 on mismatch);
    requests on ``slow_key`` sleep."""
    import asyncio

    from aiohttp import web

    store: dict[str, tuple[object, int]] = {}

    async def delay(key: str) -> None:
        if key == slow_key:
            await asyncio.sleep(slow_ms / 1000)

    async def get(req: web.Request) -> web.Response:
        key = req.match_info["key"]
        await delay(key)
        if key not in store:
            return web.json_response({"error": "not found"}, status=404)
        value, version = store[key]
        return web.json_response({"key": key, "value": value, "version": version})

    async def put(req: web.Request) -> web.Response:
        key = req.match_info["key"]
        body = await req.json()
        await delay(key)
        value, current = store.get(key, (None, 0))
        if body.get("if_version") is not None and body["if_version"] != current:
            return web.json_response({"key": key, "value": value, "version": current},
                                     status=412)
        version = current + 1
        store[key] = (body["value"], version)
        return web.json_response({"key": key, "value": body["value"], "version": version})

    async def ingest(req: web.Request) -> web.Response:
        body = await req.json()
        ok = isinstance(body.get("device"), str) and isinstance(body.get("readings"), list)
        if not ok:
            return web.json_response({"error": "bad batch"}, status=400)
        return web.json_response({"stored": len(body["readings"])})

    async def health(_req: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/kv/{key}", get)
    app.router.add_put("/kv/{key}", put)
    app.router.add_post("/ingest", ingest)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


# ---------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"test KV server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=0.5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"test KV server at {url} not ready within {timeout_s} s")


@pytest.fixture(name="kv_server")
def kv_server_fixture() -> Iterator[Callable[..., str]]:
    """Factory: start a KV server subprocess, return its URL; all are stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def start(slow_key: str | None = None, slow_ms: float = 0.0) -> str:
        port = _free_port()
        cmd = [sys.executable, str(HERE), "--serve", str(port), "--slow-ms", str(slow_ms)]
        if slow_key:
            cmd += ["--slow-key", slow_key]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _spec(tmp_path: Path, url: str, **kw: object) -> LoadSpec:
    targets = [{"node": "edge-1", "url": url}, {"node": "edge-2", "url": url}]
    base: dict = dict(users=10, think_time_ms=50, duration_s=5, keys=10, read_fraction=0.5,
                      timeout_ms=1000, seed=3)
    base.update(kw)
    return LoadSpec(targets=targets, history_path=str(tmp_path / "history.jsonl"),
                    stats_path=str(tmp_path / "stats.json"), **base)


def _completions(events: list[dict]) -> int:
    return sum(e["type"] != "invoke" for e in events)


# ---------------------------------------------------------------- tests


@pytest.mark.integration
def test_builtin_kv_history_stats_and_littles_law(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server())
    seen: list[dict] = []
    result = run_load(spec, on_progress=seen.append)
    assert result.returncode == 0, result.stderr_tail
    assert result.stats is not None and not result.stats["interrupted"]

    events = read_history(result.history_path)
    validate_pairs(events)
    ops = operations(events)
    assert len(ops) > 0
    assert ops["end_ns"].notna().all(), "every invoke has a completion"
    assert _completions(events) == len(ops)
    assert (ops["type"] == "ok").mean() > 0.99
    assert set(ops["f"]) == {"read", "write"}
    writes = ops[ops["f"] == "write"]["value"]
    assert writes.is_unique
    for proc, node in ops[["process", "node"]].drop_duplicates().itertuples(index=False):
        assert node == ("edge-1" if proc % 2 == 0 else "edge-2")  # round-robin, sticky
    assert ops["process"].nunique() == spec.users

    total = result.stats["total"]["num_requests"]
    assert abs(total - len(ops)) <= spec.users
    assert result.stats["history"]["invoke"] == len(ops)
    assert {e["name"] for e in result.stats["entries"]} == {"read", "write"}

    duration_s = (result.stats["ended_ns"] - result.stats["started_ns"]) / 1e9
    throughput = len(ops) / duration_s
    r_s = ops["latency_ms"].mean() / 1000
    predicted = spec.users / (spec.think_time_ms / 1000 + r_s)  # Little's law, closed loop
    assert abs(throughput - predicted) / predicted < 0.10, (throughput, predicted)

    assert len(seen) >= 4 and seen[-1].get("final") is True
    assert {"elapsed_s", "ops", "ok", "fail", "info", "users", "cpu_percent", "requests",
            "cpu_s"} <= set(seen[0])
    assert seen[-1]["ops"] == len(ops)
    from workloads import native  # the load process runs the recorder this process would

    assert result.stats["recorder"] == ("compiled" if native.module() else "python")
    ticks = [p for p in seen if not p.get("final")]
    assert ticks[-1]["requests"] > ticks[0]["requests"] and ticks[-1]["requests"] <= total
    assert 0 < ticks[-1]["cpu_s"] - ticks[0]["cpu_s"] <= 2 * (
        ticks[-1]["elapsed_s"] - ticks[0]["elapsed_s"])  # 2 cores at most


@pytest.mark.integration
def test_slow_responses_beyond_timeout_are_info(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server(slow_key="k0", slow_ms=800), users=4, keys=2,
                 duration_s=3, timeout_ms=300, think_time_ms=20)
    result = run_load(spec)
    assert result.returncode == 0, result.stderr_tail
    events = read_history(result.history_path)
    validate_pairs(events)
    ops = operations(events)
    slow, fast = ops[ops["key"] == "k0"], ops[ops["key"] == "k1"]
    assert len(slow) > 0 and (slow["type"] == "info").all()
    assert slow["latency_ms"].min() >= 250  # the client gave up at ~timeout_ms, not earlier
    assert (fast["type"] == "ok").all() and len(fast) > 0
    assert result.stats["total"]["num_requests"] == len(ops)
    assert result.stats["total"]["num_failures"] == len(slow)


@pytest.mark.integration
def test_builtin_ingest(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server(), users=3, duration_s=2, locustfile="builtin:ingest")
    result = run_load(spec)
    assert result.returncode == 0, result.stderr_tail
    ops = operations(read_history(result.history_path))
    assert len(ops) > 0 and set(ops["f"]) == {"ingest"} and (ops["type"] == "ok").all()
    assert set(ops["key"]) == {"dev-0", "dev-1", "dev-2"}
    assert result.stats["total"]["num_requests"] == len(ops)


@pytest.mark.integration
def test_missing_locustfile_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "http://127.0.0.1:9", locustfile=str(tmp_path / "nope.py"))
    result = run_load(spec)
    assert result.returncode == 2
    assert result.stats is None
    assert "nope.py: no such file" in result.stderr_tail
    assert "Traceback" not in result.stderr_tail


@pytest.mark.integration
def test_user_locustfile_and_sigterm(tmp_path: Path, kv_server) -> None:
    locustfile = tmp_path / "mylocust.py"
    locustfile.write_text(
        "from locust import task\n"
        "from workloads.kv import EdgeproofUser, classify_read\n\n"
        "class Reader(EdgeproofUser):\n"
        "    @task\n"
        "    def get(self):\n"
        "        self.operation('read', 'k1', None, 'GET', '/kv/k1', classify=classify_read)\n"
    )
    spec = _spec(tmp_path, kv_server(), users=3, duration_s=60, locustfile=str(locustfile))
    with LoadProcess(spec) as lp:
        first = next(lp.progress(timeout=15))
        assert first["users"] == 3
        lp.terminate()
        result = lp.wait(timeout=10)
    assert result.returncode == 0, result.stderr_tail
    assert result.stats is not None and result.stats["interrupted"] is True
    assert result.stats["duration_s"] < 30
    events = read_history(result.history_path)
    validate_pairs(events)
    ops = operations(events)
    assert len(ops) > 0 and set(ops["f"]) == {"read"}
    assert ops["end_ns"].notna().all()
    assert result.stats["total"]["num_requests"] == len(ops)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int, required=True)
    parser.add_argument("--slow-key", default=None)
    parser.add_argument("--slow-ms", type=float, default=0.0)
    args = parser.parse_args()
    serve(args.serve, args.slow_key, args.slow_ms)
