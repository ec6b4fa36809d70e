"""The Toxiproxy client and server wrapper against a real toxiproxy-server (loopback only).

The binary comes from EDGEPROOF_TOXIPROXY, PATH or the tools folders; if it is missing these
tests FAIL (CI installs it with `bash scripts/install-toxiproxy.sh`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from harness.errors import EdgeproofError, FaultError, InfrastructureError
from testbeds.toxiproxy.client import Proxy, ProxyAdmin, ProxySpec, Toxic, ToxiproxyClient
from testbeds.toxiproxy.server import ToxiproxyServer, find_toxiproxy, toxiproxy_version

pytestmark = pytest.mark.integration

SAMPLES = 15
TOLERANCE_MS = 5.0


@pytest.fixture(scope="module")
def binary() -> Path:
    """The real toxiproxy-server, or a failure that says how to get it."""
    try:
        return find_toxiproxy()
    except EdgeproofError as exc:
        pytest.fail(f"integration tests need toxiproxy-server: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def server(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    """One running server for the module."""
    log = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with ToxiproxyServer(binary, log_path=log) as srv:
        yield srv


@pytest.fixture()
def client(server: ToxiproxyServer) -> Iterator[ToxiproxyClient]:
    """The server's client, with every proxy deleted afterwards."""
    tp = server.client()
    yield tp
    for name in tp.proxies():
        tp.delete_proxy(name)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    """A TCP echo server on loopback; yields host:port."""
    srv = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def rtt_median_ms(proxy: Proxy, samples: int = SAMPLES) -> float:
    """Median request-response time of a 1-byte echo through the proxy, on one connection."""
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for i in range(samples + 1):
            start = time.perf_counter()
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
            if i:  # the first round trip also opens the upstream connection
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_client_satisfies_protocol(client: ToxiproxyClient) -> None:
    assert isinstance(client, ProxyAdmin)
    assert client.version()


def test_binary_is_the_pinned_version(binary: Path) -> None:
    assert toxiproxy_version(binary) == "v2.12.0"


def test_two_servers_in_one_process(binary: Path, echo: str) -> None:
    with ToxiproxyServer(binary) as a, ToxiproxyServer(binary) as b:
        assert a.url != b.url
        pa = a.client().create_proxy("shared-name", "127.0.0.1:0", echo)
        pb = b.client().create_proxy("shared-name", "127.0.0.1:0", echo)
        assert pa.port != pb.port
        assert set(a.client().proxies()) == {"shared-name"}
        b.client().delete_proxy("shared-name")
        assert a.client().proxies().keys() == {"shared-name"}
        assert b.client().proxies() == {}
        assert rtt_median_ms(pa, 3) < 50


def test_listen_port_zero_reports_real_port(client: ToxiproxyClient, echo: str) -> None:
    proxy = client.create_proxy("p0", "127.0.0.1:0", echo)
    assert proxy.host == "127.0.0.1"
    assert proxy.port > 0
    assert client.get_proxy("p0") == proxy
    assert client.proxies()["p0"].listen == proxy.listen
    with socket.create_connection((proxy.host, proxy.port), timeout=2):
        pass


def test_latency_toxic_add_update_remove(client: ToxiproxyClient, echo: str) -> None:
    proxy = client.create_proxy("lat", "127.0.0.1:0", echo)
    baseline = rtt_median_ms(proxy)
    toxic = client.add_toxic("lat", "slow", "latency", attributes={"latency": 50})
    assert toxic == Toxic("slow", "latency", "downstream", 1.0, {"latency": 50, "jitter": 0})
    assert rtt_median_ms(proxy) == pytest.approx(baseline + 50, abs=TOLERANCE_MS)

    updated = client.update_toxic("lat", "slow", {"latency": 100})
    assert updated.attributes["latency"] == 100
    assert client.toxics("lat") == [updated]
    assert rtt_median_ms(proxy) == pytest.approx(baseline + 100, abs=TOLERANCE_MS)

    assert client.remove_toxic("lat", "slow") is True
    assert client.toxics("lat") == []
    assert rtt_median_ms(proxy) == pytest.approx(baseline, abs=TOLERANCE_MS)


def test_update_uses_patch_without_deprecation_warning(
    server: ToxiproxyServer, client: ToxiproxyClient, echo: str
) -> None:
    client.create_proxy("patched", "127.0.0.1:0", echo)
    client.add_toxic("patched", "t", "latency", attributes={"latency": 1})
    client.update_toxic("patched", "t", {"jitter": 2}, toxicity=0.5)
    toxic = client.toxics("patched")[0]
    assert (toxic.attributes, toxic.toxicity) == ({"latency": 1, "jitter": 2}, 0.5)
    assert server.log_path is not None
    assert "deprecated" not in server.log_path.read_text().replace("depercated", "deprecated")


def test_disable_refuses_connections_and_enable_restores(
    client: ToxiproxyClient, echo: str
) -> None:
    proxy = client.create_proxy("onoff", "127.0.0.1:0", echo)
    assert client.set_enabled("onoff", False).enabled is False
    with pytest.raises(OSError), socket.create_connection((proxy.host, proxy.port), timeout=2) as s:
        s.sendall(b"x")
        if s.recv(1) == b"":
            raise ConnectionResetError("closed")
    again = client.set_enabled("onoff", True)
    assert again.enabled is True and again.listen == proxy.listen
    assert rtt_median_ms(again, 3) < 50


def test_reset_enables_all_and_removes_toxics(client: ToxiproxyClient, echo: str) -> None:
    client.populate([ProxySpec("r1", "127.0.0.1:0", echo), ProxySpec("r2", "127.0.0.1:0", echo)])
    client.add_toxic("r1", "cut", "timeout", stream="upstream", attributes={"timeout": 0})
    client.set_enabled("r2", False)
    client.reset()
    proxies = client.proxies()
    assert all(p.enabled and not p.toxics for p in proxies.values())


def test_populate_creates_and_reports_ports(client: ToxiproxyClient, echo: str) -> None:
    made = client.populate(
        [
            ProxySpec("a", "127.0.0.1:0", echo),
            {"name": "b", "listen": "127.0.0.1:0", "upstream": echo, "enabled": False},
        ]
    )
    assert [(p.name, p.enabled) for p in made] == [("a", True), ("b", False)]
    assert made[0].port > 0
    assert made[1].port == 0  # a disabled proxy is bound (and its :0 resolved) only when enabled
    enabled = client.set_enabled("b", True)
    assert enabled.port > 0
    assert client.set_enabled("b", False).listen == enabled.listen  # then kept across toggles


def test_delete_and_remove_are_idempotent(client: ToxiproxyClient, echo: str) -> None:
    client.create_proxy("gone", "127.0.0.1:0", echo)
    client.add_toxic("gone", "t", "latency", attributes={"latency": 1})
    assert client.remove_toxic("gone", "t") is True
    assert client.remove_toxic("gone", "t") is False
    assert client.delete_proxy("gone") is True
    assert client.delete_proxy("gone") is False
    assert client.remove_toxic("gone", "t") is False


def test_rejections_are_fault_errors_naming_the_thing(client: ToxiproxyClient, echo: str) -> None:
    client.create_proxy("dup", "127.0.0.1:0", echo)
    with pytest.raises(FaultError, match=r"'dup'.*409.*already exists.*fix:"):
        client.create_proxy("dup", "127.0.0.1:0", echo)
    client.add_toxic("dup", "t", "latency", attributes={"latency": 1})
    with pytest.raises(FaultError, match=r"toxic 't'.*'dup'.*409.*update_toxic"):
        client.add_toxic("dup", "t", "latency", attributes={"latency": 1})
    with pytest.raises(FaultError, match=r"toxic 'x'.*'dup'.*400 'invalid toxic type'"):
        client.add_toxic("dup", "x", "no-such-type")
    with pytest.raises(FaultError, match=r"'nope'.*404 'proxy not found'"):
        client.get_proxy("nope")
    with pytest.raises(FaultError, match=r"toxic 'missing'.*404"):
        client.update_toxic("dup", "missing", {"latency": 5})


def test_closed_port_is_infrastructure_error_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with ToxiproxyClient(f"http://127.0.0.1:{port}", timeout_s=0.5) as tp:
        with pytest.raises(InfrastructureError, match=r"at http://127\.0\.0\.1:\d+.*running\?"):
            tp.version()
    assert time.monotonic() - start < 1.0


def test_silent_server_times_out_as_infrastructure_error() -> None:
    """A listener that never answers (a hung admin API): the timeout is honoured."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel accepts; nobody ever reads or answers
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        start = time.monotonic()
        with ToxiproxyClient(url, timeout_s=0.3) as tp:
            with pytest.raises(InfrastructureError, match=r"no answer within 0\.3 s"):
                tp.proxies()
        assert 0.25 < time.monotonic() - start < 1.5


def test_stop_leaves_no_process(binary: Path) -> None:
    srv = ToxiproxyServer(binary, env={"EDGEPROOF_RUN": "r-42"}).start()
    pid = srv.pid
    assert pid is not None and psutil.pid_exists(pid)
    assert os.getpgid(pid) == pid  # own session/process group, so a reaper can kill it
    environ = psutil.Process(pid).environ()
    assert (environ["EDGEPROOF_RUN"], environ["LOG_LEVEL"]) == ("r-42", "warn")
    srv.stop()
    srv.stop()  # idempotent
    assert not psutil.pid_exists(pid)
    with pytest.raises(InfrastructureError):
        ToxiproxyClient(srv.url, timeout_s=0.5).version()


def test_start_failure_reports_log_tail(binary: Path, server: ToxiproxyServer) -> None:
    taken = ToxiproxyServer(binary, port=server.port, ready_timeout_s=5)
    with contextlib.ExitStack() as stack:
        stack.callback(taken.stop)
        with pytest.raises(InfrastructureError, match=r"(?s)did not start.*address already in use"):
            taken.start()
    assert not taken.running()


def test_update_falls_back_to_post_where_patch_is_not_allowed() -> None:
    """Older servers route toxic updates by POST only (405 for PATCH)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "PATCH":
            return httpx.Response(405)
        body = {"name": "t", "type": "latency", "attributes": {"latency": 7}}
        return httpx.Response(200, json=body)

    with ToxiproxyClient("http://tp.test", transport=httpx.MockTransport(handler)) as tp:
        assert tp.update_toxic("p", "t", {"latency": 7}).attributes == {"latency": 7}
    assert seen == ["PATCH", "POST"]
