"""The recorder's outcome rules and history contract, with a fake load context."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from greenlet import GreenletExit

from workloads import recorder
from workloads.history import HistoryWriter, operations, read_history, validate_pairs
from workloads.recorder import PyRecord, error_outcome, recorded, status_outcome


class FakeCtx:
    """The duck-typed part of workloads.loadproc.LoadContext that the recorder uses: its
    ``history`` (events go to ``history.pending``), ``active``, ``stopping``, and a user's
    process and node."""

    def __init__(self, path: Path, buffer_lines: int = 0) -> None:
        self.history = HistoryWriter(path, buffer_lines=buffer_lines)
        self.active: dict[Any, Any] = {}
        self.stopping = False
        self._next = 0

    def process_of(self, user: Any) -> int:
        if "_edgeproof_process" not in user.__dict__:
            user._edgeproof_process = self._next
            self._next += 1
        return user._edgeproof_process

    def node_of(self, user: Any) -> str:
        return "edge-1"


class FakeUser:
    def __init__(self, ctx: FakeCtx | None) -> None:
        self.fired: list[dict] = []
        events = SimpleNamespace(request=SimpleNamespace(fire=lambda **kw: self.fired.append(kw)))
        self.environment = SimpleNamespace(edgeproof=ctx, events=events)


def _request(user: FakeUser, exception: BaseException | None, status: int | None) -> None:
    """What a Locust request event does to the open op (via LoadContext.on_request)."""
    from greenlet import getcurrent

    op = user.environment.edgeproof.active.get(getcurrent())
    op.on_request(exception, SimpleNamespace(status_code=status) if status else None)


@pytest.fixture(params=[0, 3], ids=["unbuffered", "buffered"])
def ctx(tmp_path: Path, request: pytest.FixtureRequest) -> FakeCtx:
    return FakeCtx(tmp_path / "h.jsonl", buffer_lines=request.param)


IMPLEMENTATIONS = {"compiled": recorder.record, "python": PyRecord}


@pytest.fixture(autouse=True, params=list(IMPLEMENTATIONS))
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both recorders: the compiled one (workloads/native.py, built by
    scripts/setup.sh) and the pure-Python one; the same events either way."""
    if request.param == "compiled":
        request.getfixturevalue("compiled_recorder")  # fails or skips where it is not built
    monkeypatch.setattr(recorder, "record", IMPLEMENTATIONS[request.param])
    return request.param


def _ops(ctx: FakeCtx):
    ctx.history.close()
    events = read_history(ctx.history.path)
    validate_pairs(events)
    return operations(events)


def test_explicit_and_automatic_outcomes(ctx: FakeCtx) -> None:
    user = FakeUser(ctx)
    with recorder.record(user, "read", "k1") as op:
        op.ok(7)
    with recorder.record(user, "write", "k1", 8):
        _request(user, None, 200)
    with recorder.record(user, "write", "k1", 9):
        _request(user, RuntimeError("HTTP 503"), 503)
    with recorder.record(user, "write", "k1", 10):
        _request(user, RuntimeError("HTTP 409"), 409)
    with recorder.record(user, "read", "k1"):
        _request(user, TimeoutError("timed out"), None)
    ops = _ops(ctx)
    assert list(ops["type"]) == ["ok", "ok", "info", "fail", "info"]
    assert list(ops["value"])[:2] == [7, 8]
    assert set(ops["process"]) == {0} and set(ops["node"]) == {"edge-1"}


def test_exception_in_block_still_completes(ctx: FakeCtx) -> None:
    user = FakeUser(ctx)
    with pytest.raises(ConnectionRefusedError), recorder.record(user, "write", "k1", 1):
        raise ConnectionRefusedError()
    with pytest.raises(TimeoutError), recorder.record(user, "write", "k1", 2):
        raise TimeoutError()
    with pytest.raises(GreenletExit), recorder.record(user, "write", "k1", 3):
        raise GreenletExit()  # killed before any request: Locust is told, so counts match
    ops = _ops(ctx)
    assert list(ops["type"]) == ["fail", "info", "info"]
    assert len(user.fired) == 1 and user.fired[0]["name"] == "write"


def test_decorator_uses_return_value_and_callables(ctx: FakeCtx) -> None:
    class U(FakeUser):
        cart = "c9"

        @recorded("read", key=lambda u: u.cart)
        def view(self) -> int:
            _request(self, None, 200)
            return 41

    user = U(ctx)
    assert user.view() == 41
    ops = _ops(ctx)
    assert (ops["key"].iloc[0], ops["value"].iloc[0], ops["type"].iloc[0]) == ("c9", 41, "ok")


def test_nesting_in_one_user_is_refused(ctx: FakeCtx) -> None:
    user = FakeUser(ctx)
    with pytest.raises(RuntimeError, match="cannot nest"), recorder.record(user, "write", "k", 1), \
            recorder.record(user, "read", "k"):
        pass
    validate_pairs(read_history(ctx.history.path))


def test_outside_edgeproof_it_is_a_no_op() -> None:
    user = FakeUser(None)
    with recorder.record(user, "write", "k", 1) as op:
        op.ok()
    assert user.fired == []


def test_outcome_rules() -> None:
    assert status_outcome("read", 200) == "ok" and status_outcome("read", 500) == "fail"
    assert status_outcome("write", 412) == "fail" and status_outcome("cas", 501) == "fail"
    assert status_outcome("write", 503) == "info"
    assert error_outcome("read", ConnectionResetError()) == "fail"
    assert error_outcome("write", ConnectionResetError()) == "info"
    wrapped = RuntimeError("retries exceeded")
    wrapped.original = TimeoutError()  # geventhttpclient's wrapping
    assert error_outcome("read", wrapped) == "info"


def test_a_record_object_may_be_entered_again(ctx: FakeCtx) -> None:
    user = FakeUser(ctx)
    rec = recorder.record(user, "write", "k1", 5)
    with rec:
        _request(user, RuntimeError("HTTP 409"), 409)
    with rec:
        _request(user, None, 200)
    with rec as op:
        op.info()
    with rec:
        pass
    ops = _ops(ctx)
    assert list(ops["type"]) == ["fail", "ok", "info", "ok"]
    assert list(ops["value"]) == [5, 5, 5, 5]


def test_events_after_the_history_closed_are_dropped_with_a_warning(
        ctx: FakeCtx, caplog: pytest.LogCaptureFixture) -> None:
    user = FakeUser(ctx)
    with recorder.record(user, "write", "k1", 1):
        ctx.history.close()
    with recorder.record(user, "write", "k1", 2):
        pass
    assert len(read_history(ctx.history.path)) == 1
    assert "after the history was closed" in caplog.text
