"""The recorder: history events from any Locust user class, HTTP or not.

In a locustfile run by edgeproof::

    from workloads import record, recorded

    class Shop(FastHttpUser):
        @task
        @recorded("read", key="cart")             # decorator: the whole task is one operation
        def view(self):
            self.client.get("/cart")

        @task
        def buy(self):
            with record(self, "write", "cart", 42) as op:   # context manager
                r = self.client.post("/cart", json={"item": 42})
                op.ok(r.json()["id"])                        # optional: explicit outcome/value

An operation is an ``invoke`` event when the block starts and exactly one completion when it
ends. Without an explicit ``op.ok/fail/info``, the outcome follows the same rules as the
built-in workloads: a Locust request that failed inside the block (or an exception leaving
it) makes it ``info`` if it timed out, ``fail`` if the connection was refused or, for other
errors, if it was a read (or got a 4xx/501 answer); otherwise ``info`` (a write whose
effect is unknown). No failure means ``ok`` (with the task's return value, if any, for
:func:`recorded`). Each Locust user is one history ``process``; its ``node`` is the target
whose URL is the user's ``host``. Outside edgeproof (plain ``locust -f``) recording is a no-op.

This module does not import locust, so the harness may import it without gevent.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from greenlet import GreenletExit, getcurrent

from workloads import native

READ = "read"
_UNSET: Any = object()
_now = time.monotonic_ns
log = logging.getLogger("edgeproof.recorder")


def root_error(err: BaseException) -> BaseException:
    """The underlying error (geventhttpclient wraps it: ``RetriesExceeded(original=...)``)."""
    for _ in range(5):
        inner = getattr(err, "original", None) or err.__cause__
        if not isinstance(inner, BaseException):
            break
        err = inner
    return err


def is_timeout(err: BaseException) -> bool:
    """True for errors that leave the outcome unknown because the reply never came in time."""
    if isinstance(err, TimeoutError | socket.timeout):
        return True
    return type(err).__name__ == "Timeout" and type(err).__module__.startswith("gevent")


def error_outcome(f: str, err: BaseException) -> str:
    """A transport error's completion type: timeouts are ``info``; a refused connection was
    never sent (``fail``); other errors fail a read but leave other operations unknown."""
    err = root_error(err)
    if is_timeout(err):
        return "info"
    if isinstance(err, ConnectionRefusedError):
        return "fail"
    return "fail" if f == READ else "info"


def status_outcome(f: str, status: int) -> str:
    """A completed HTTP answer's type: 2xx/3xx ok; reads fail otherwise; others fail on
    4xx and 501 (rejected) and are ``info`` on other 5xx (may have been applied)."""
    if 200 <= status < 400:
        return "ok"
    if f == READ or status == 501 or 400 <= status < 500:
        return "fail"
    return "info"


def _response_status(response: Any) -> int | None:
    try:
        status = int(response.status_code)
    except (AttributeError, TypeError, ValueError):
        return None
    return status or None


class Op:
    """One recorded operation; call at most one of :meth:`ok`, :meth:`fail`, :meth:`info`."""

    outcome: tuple[str, Any] | None = None  # class defaults: a record() sets none of them
    failure: tuple[BaseException, Any] | None = None
    result: Any = None
    requests = 0  # Locust request events fired inside the block

    def __init__(self, ctx: Any, process: int, f: str, key: Any, value: Any,
                 node: str | None) -> None:
        self.ctx, self.process, self.f, self.key, self.value = ctx, process, f, key, value
        self.node = node

    def ok(self, value: Any = _UNSET) -> None:
        """Completed with effect; ``value`` is what a read returned (default: the invoke's)."""
        self._set("ok", value)

    def fail(self, value: Any = _UNSET) -> None:
        """Certainly had no effect (rejected, refused, a read that failed)."""
        self._set("fail", value)

    def info(self, value: Any = _UNSET) -> None:
        """Outcome unknown (timeout, connection lost after sending)."""
        self._set("info", value)

    def _set(self, type_: str, value: Any) -> None:
        self.outcome = (type_, self.value if value is _UNSET else value)

    def on_request(self, exception: BaseException | None, response: Any) -> None:
        """Called for each Locust request event fired while the block runs (the load
        process's listener does the same inline)."""
        self.requests += 1
        if exception is not None:
            self.failure = (exception, response)

    def decide(self, exc: BaseException | None) -> tuple[str, Any]:
        """The completion (type, value) by the rules in the module docstring."""
        if self.outcome is not None:
            return self.outcome
        if exc is not None:
            return error_outcome(self.f, exc), self.value
        if self.failure is not None:
            err, response = self.failure
            status = _response_status(response)
            type_ = status_outcome(self.f, status) if status else error_outcome(self.f, err)
            return ("fail" if type_ == "ok" else type_), self.value
        if self.result is not None:
            return "ok", self.result
        return "ok", self.value


class _NoOp(Op):
    """What :func:`record` yields outside edgeproof: accepts everything, records nothing."""

    def __init__(self, f: str, key: Any, value: Any) -> None:
        super().__init__(None, -1, f, key, value, None)


def _bind(user: Any) -> tuple[Any, int, str | None] | None:
    """(context, process, node) of ``user``, kept on the user; None outside edgeproof."""
    try:
        ctx = user.environment.edgeproof
    except AttributeError:  # not a Locust user of an edgeproof load process
        return None
    if ctx is None:
        return None
    ids = user._edgeproof_ids = (ctx, ctx.process_of(user), ctx.node_of(user))
    cls = type(user)
    if not getattr(cls, "edgeproof_records", False):  # its other requests are not ops; set
        cls.edgeproof_records = True  # once: a class attribute assignment empties caches
    return ids


def _closed(process: int, type_: str) -> None:
    log.warning("event after the history was closed: process %s %s", process, type_)


class _Slow:
    """The uncommon steps of :class:`record` (the compiled one calls these by name)."""

    user: Any
    f: str
    key: Any
    value: Any
    process: Any
    start: int | None
    requests: int

    def _bind_ids(self) -> tuple[Any, int, str | None] | Op:
        """This user's (context, process, node), found on its first operation; outside
        edgeproof the no-op :class:`Op` the block gets instead."""
        ids = _bind(self.user)
        return _NoOp(self.f, self.key, self.value) if ids is None else ids

    def _stop(self) -> None:
        """The run is ending: start no new operation."""
        from locust.exception import StopUser  # cost: Locust only inside a load process

        raise StopUser()

    def _nested(self, process: int, active: dict[Any, Any], me: Any) -> None:
        raise RuntimeError(
            f"record({self.f!r}): process {process} already has an open operation "
            f"({active[me].f!r}); operations of one user cannot nest")

    def _settle(self, exc: BaseException | None) -> tuple[str, Any]:
        """The completion of a block that did not simply end ``ok`` (and the object reset,
        so that it may be entered again)."""
        if isinstance(exc, GreenletExit) and self.requests == 0 and self.outcome is None:
            _report_killed(self.user, self.f, self.start, exc)  # keeps Locust's counts
        done = self.decide(exc)  # type: ignore[attr-defined]
        self.outcome = self.failure = self.result = None
        return done

    def _closed(self, type_: str) -> None:
        _closed(self.process, type_)


class PyRecord(_Slow, Op):
    """:class:`record` in pure Python (where the compiled module is not built): the same
    steps and the same events. The object is itself the :class:`Op` the block gets: one
    allocation per operation, and a class rather than a generator for speed (it runs twice
    per request). The events go straight into the context's history writer
    (``ctx.history.pending``, see workloads/history.py), encoded there in batches."""

    def __init__(self, user: Any, f: str, key: Any = None, value: Any = None,
                 node: str | None = None) -> None:
        self.user, self.f, self.key, self.value, self.node_arg = user, f, key, value, node
        self.ctx: Any = None

    def __enter__(self) -> Op:
        try:  # (context, process, node) of this user, found once per user
            ctx, process, node = self.user._edgeproof_ids
        except AttributeError:
            ids = self._bind_ids()
            if not isinstance(ids, tuple):
                return ids
            ctx, process, node = ids
        if ctx.stopping:  # the run is ending: start no new operation
            self._stop()
        me = getcurrent()
        active = ctx.active
        if me in active:
            self._nested(process, active, me)
        if self.node_arg is not None:
            node = self.node_arg
        self.ctx = ctx
        self.process = process
        self.node = node
        self.me = me
        self.requests = 0
        history = ctx.history
        pending = history.pending
        self.start = now = _now()
        try:
            pending.append((process, "invoke", self.f, self.key, self.value, node, now))
        except ValueError:
            self._closed("invoke")
            self.start = None
        if len(pending) >= history.buffer_lines:
            history.flush()
        active[me] = self
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        self.ctx = None
        ctx.active.pop(self.me, None)
        if exc is None and self.outcome is None and self.failure is None:  # the common case
            type_ = "ok"
            value = self.result
            if value is None:
                value = self.value
            else:
                self.result = None  # the object may be entered again
        else:
            type_, value = self._settle(exc)
        history = ctx.history
        pending = history.pending
        try:
            pending.append((self.process, type_, self.f, self.key, value, self.node, _now()))
        except ValueError:
            self._closed(type_)
        if len(pending) >= history.buffer_lines:
            history.flush()


def _compiled() -> type | None:
    """:class:`record` on the compiled hot path (workloads/native.py), or None."""
    mod = native.module()
    if mod is None:
        return None

    class record(mod.RecordBase, _Slow, Op):  # type: ignore[name-defined,misc]
        """Record the ``with`` block as one operation of ``user``'s process (see the module
        docstring): :class:`PyRecord`'s steps, compiled (workloads/_native/recorder.c)."""

        __slots__ = ()

    record.__qualname__ = "record"
    return record


record: type = _compiled() or PyRecord  # lower case: used like a function,
# ``with record(user, f, key, value) as op``; compiled where workloads/native.py built it


def _report_killed(user: Any, f: str, start_ns: int | None, exc: BaseException) -> None:
    """Tell Locust of an operation killed before its request (``start_ns``: the invoke's
    ``time_ns``, when the context's ``invoke`` returns it)."""
    took_ms = (time.monotonic_ns() - start_ns) / 1e6 if start_ns else 0.0
    user.environment.events.request.fire(
        request_type="OP", name=f, response_time=took_ms,
        response_length=0, exception=exc, context={}, response=None, url=None,
        start_time=time.time(),
    )


def recorded(f: str, key: Any = None, value: Any = None) -> Callable[[Callable], Callable]:
    """Decorator form of :func:`record` for a task method: the whole call is one operation.
    ``key`` and ``value`` may be callables of the user (``key=lambda u: u.cart_id``); a
    non-None return value of the task becomes the value of an ``ok`` completion."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            k = key(self) if callable(key) else key
            v = value(self) if callable(value) else value
            with record(self, f, k, v) as op:
                op.result = fn(self, *args, **kwargs)
                return op.result
        return wrapper
    return deco
