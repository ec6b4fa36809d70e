"""The compiled recorder's request listener (workloads/_native/recorder.c)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

from workloads import recorder
from workloads.history import HistoryWriter, read_history


class FakeCtx:
    """What a record touches of the load context: history, active ops, stopping."""

    def __init__(self, path: Path, buffer_lines: int) -> None:
        self.history = HistoryWriter(path, buffer_lines=buffer_lines)
        self.active: dict = {}
        self.stopping = False


class FakeUser:
    def __init__(self, ctx: FakeCtx) -> None:
        self._edgeproof_ids = (ctx, 0, "edge-1")  # what the recorder finds on a bound user


def test_the_compiled_request_listener_counts_on_the_open_record(
        tmp_path: Path, compiled_recorder: ModuleType) -> None:
    """workloads/_native/recorder.c's Listener: a request inside an open compiled record
    counts on it (a failure makes a read fail); any other request goes to the fallback with
    Locust's arguments as they came."""
    ctx = FakeCtx(tmp_path / "h.jsonl", buffer_lines=3)
    handed: list[dict] = []
    listener = compiled_recorder.Listener(ctx.active, lambda **kw: handed.append(kw))
    user = FakeUser(ctx)
    with recorder.record(user, "read", "k1") as op:
        listener(request_type="GET", name="/kv", response_time=1.0, exception=None,
                 response=SimpleNamespace(status_code=200))
        listener(request_type="GET", name="/kv", response_time=1.0,
                 exception=ConnectionRefusedError(), response=None)
        assert op.requests == 2 and isinstance(op.failure[0], ConnectionRefusedError)
    listener(request_type="GET", name="/other", exception=None)
    assert handed == [{"request_type": "GET", "name": "/other", "exception": None}]
    ctx.history.close()
    assert [e["type"] for e in read_history(ctx.history.path)] == ["invoke", "fail"]
