"""The load process: ``python -m workloads.loadproc --spec spec.json``.

Runs Locust headless through its library API (Environment + LocalRunner) in a process of its
own, because importing locust monkey-patches the process with gevent. spec.json::

    {"locustfile": "builtin:kv" | "builtin:ingest" | "/path/to/locustfile.py",
     "users", "think_time_ms", "duration_s", "keys", "read_fraction", "timeout_ms", "seed",
     "spawn_rate" (null = all at once), "targets": [{"node": "edge-1", "url": "http://..."}],
     "history_path", "stats_path", "cas_fraction", "shape" (closed | open | step | ramp |
     spike), "rate_rps" (open), "step_users", "step_s", "ramp_s", "ramp_from_users",
     "spike_users", "spike_at_s", "spike_s", "workers" (0 = one local runner)}

With ``workers: N`` this process is the Locust master (MasterRunner, no users of its own) and
starts N worker processes (``--worker-index i --master-port P``, WorkerRunner); worker i
numbers its history processes i, i+N, i+2N, ... and writes ``history.w<i>.jsonl``; at the end
the master merges the parts into ``history_path`` in time order. ``worker_prefix`` (a list
of argv prefixes, the i-th for worker i, e.g. ``["ssh", "host-b"]`` or ``["env", "FAKETIME=..."]``)
runs a worker elsewhere or on another clock: each worker measures its clock's offset from the
master's at the start and the end (workloads/clocksync.py), a prefixed worker's part is shifted
by it before the merge, and stats ``clock`` gives every worker's offset and error bound and
their worst, ``error_ns``: operations closer than that in time may be in either real-time order.
Workers without a prefix share the master's CLOCK_MONOTONIC (offset 0 by construction; the
measured offset is reported as a check of the method).

stdout: one JSON progress line per second ``{"elapsed_s", "ops", "ok", "fail", "info",
"users", "cpu_percent", "cpu_warning", "requests", "cpu_s"}`` (``ops`` = completed operations
so far, cpu of this process; ``requests`` = Locust's request count, ``cpu_s`` = this process's
CPU seconds so far, user and system, for exact per-request figures) and a last one with
``"final": true``. At the end
``stats_path`` gets Locust's stats, the history counts and ``started_ns``/``ended_ns``
(``time.monotonic_ns()``). Exit 0; exit 2 with one line on stderr for a bad spec/locustfile.
SIGTERM/SIGINT stop the users early (``"interrupted": true``) and still flush everything.

User locustfiles: their User classes are used as they are, and ``workloads.record`` /
``workloads.recorded`` record their operations (workloads/recorder.py). The run's context is
``self.environment.edgeproof`` (a :class:`LoadContext`): ``.spec`` (the spec dict),
``.targets``, ``.next_process()``, ``.target_for(process)``, ``.invoke(...)`` and
``.complete(...)`` to record history. Subclassing :class:`workloads.kv.EdgeproofUser` does
all of that; a user class without ``host`` gets the first target's URL.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
from gevent.event import Event  # noqa: E402
from greenlet import getcurrent  # noqa: E402
from locust import User  # noqa: E402
from locust import events as locust_events  # noqa: E402
from locust.env import Environment  # noqa: E402

from workloads import native  # noqa: E402
from workloads.clocksync import PING, ClockProbe, alignment, answer  # noqa: E402
from workloads.history import COMPLETIONS, HistoryWriter, merge_parts  # noqa: E402
from workloads.recorder import is_timeout, root_error  # noqa: E402
from workloads.shapes import SHAPES, Arrivals, make_shape, open_loop_class, pool_size  # noqa: E402
from workloads.timing import parse_server_timing  # noqa: E402

REQUIRED = ("targets", "history_path", "stats_path", "users", "duration_s")
DEFAULTS: dict[str, Any] = {
    "locustfile": "builtin:kv", "think_time_ms": 50.0, "keys": 10, "read_fraction": 0.5,
    "timeout_ms": 2000.0, "seed": 0, "spawn_rate": None, "cas_fraction": 0.0,
    "shape": "closed", "rate_rps": None, "workers": 0, "step_users": None, "step_s": None,
    "ramp_s": None, "ramp_from_users": None, "spike_users": None, "spike_at_s": None,
    "spike_s": None, "worker_prefix": None,
}
BUILTINS = {"builtin:kv": ("workloads.kv", "KvUser"),
            "builtin:ingest": ("workloads.ingest", "IngestUser"),
            "builtin:devices": ("workloads.devices", "DeviceUser", "SinkUser")}
WORKER_CONNECT_S = 30.0  # how long the master waits for its workers to connect
log = logging.getLogger("edgeproof.load")


class SpecError(Exception):
    """A bad spec or locustfile: reported as one line on stderr, exit 2."""


class LoadContext:
    """What users of this run share: the spec, targets, process ids, the history, counts.
    Process ids are ``offset + k * stride`` (k = 0, 1, ...), distinct across workers."""

    def __init__(self, spec: dict[str, Any], history: HistoryWriter, offset: int = 0,
                 stride: int = 1) -> None:
        self.spec = spec
        self.targets: list[dict[str, str]] = spec["targets"]
        self.history = history
        self._ids = itertools.count(offset, stride)
        self.active: dict[Any, Any] = {}  # greenlet -> open recorder Op
        self.stopping = False  # set when the run ends: users start no new operation
        self.t0: float | None = None  # monotonic start of the load
        self.timing_window_s = float((spec.get("extra") or {}).get("timing_window_s", 0.0))
        self.timings: list[dict[str, Any]] = []  # Server-Timing samples of the first window
        self._nodes = {t["url"].rstrip("/"): t["node"] for t in self.targets}
        self.users: dict[Any, Any] = {}  # greenlet -> Locust user (set on the user's start)
        self.warnings: list[str] = []
        self.requests_recorded = 0  # Locust requests recorded as operations of their own
        self.finishers: list[Any] = []  # called once the users stop starting operations
        self.flusher: Any = None  # the greenlet flushing a buffered history (see attach)

    @property
    def counts(self) -> dict[str, int]:
        """History events so far by type (``invoke``, ``ok``, ``fail``, ``info``), counted by
        the history writer (written or still buffered)."""
        return self.history.type_counts()

    def close(self) -> None:
        """Stop the periodic flushing and flush and close the history."""
        if self.flusher is not None:
            self.flusher.kill()
            self.flusher = None
        self.history.close()

    def next_process(self) -> int:
        """A fresh, unique history process id."""
        return next(self._ids)

    def target_for(self, process: int) -> dict[str, str]:
        """The target node of a process: round-robin by process id."""
        return self.targets[process % len(self.targets)]

    def process_of(self, user: Any) -> int:
        """The history process of a Locust user (assigned on first use)."""
        process = user.__dict__.get("_edgeproof_process")
        if process is None:
            process = user._edgeproof_process = self.next_process()
        return process

    def node_of(self, user: Any) -> str | None:
        """The target node whose URL is the user's host, if any (cached per user)."""
        d = user.__dict__
        if "_edgeproof_node" not in d:
            d["_edgeproof_node"] = self._nodes.get(str(getattr(user, "host", "") or "").rstrip("/"))
        return d["_edgeproof_node"]

    def on_request(self, request_type: str = "", name: str = "", response_time: float = 0.0,
                   response_length: int = 0, exception: BaseException | None = None,
                   context: Any = None, response: Any = None, url: Any = None,
                   start_time: Any = None, **_kw: Any) -> None:
        """Locust request listener: tell the recorder op open in this greenlet, if any; a
        request of a user whose class records nothing is an operation of its own. (Locust's
        arguments are all named: a call then fills no keyword dict.)"""
        me = getcurrent()
        op = self.active.get(me)
        if op is not None:  # Op.on_request, inline (this runs once per request)
            op.requests += 1
            if exception is not None:
                op.failure = (exception, response)
            return
        user = self.users.get(me)
        if user is None or getattr(type(user), "edgeproof_records", False):
            return
        self._record_request(user, name, exception, float(response_time or 0.0))

    def request_listener(self) -> Any:
        """The listener to hook to Locust's request event: :meth:`on_request`, or the
        compiled one (workloads/native.py) that does its common case (a request inside an
        open compiled ``record``) and hands every other request to :meth:`on_request`."""
        mod = native.module()
        return self.on_request if mod is None else mod.Listener(self.active, self.on_request)

    def _record_request(self, user: Any, name: str, exception: BaseException | None,
                        response_time_ms: float) -> None:
        """One Locust request as an operation: ``f`` its name, ok, or fail (info when it
        timed out), spanning the request's own response time."""
        end = time.monotonic_ns()
        start = end - int(response_time_ms * 1e6)
        type_ = "ok" if exception is None else (
            "info" if is_timeout(root_error(exception)) else "fail")
        process, node = self.process_of(user), self.node_of(user)
        f = name or "request"
        try:
            self._event((process, "invoke", f, None, None, node, start))
            self._event((process, type_, f, None, None, node, end))
        except ValueError:
            logging.warning("request after the history was closed: process %s", process)
        self.requests_recorded += 1

    def _event(self, ev: tuple[int, str, str, Any, Any, str | None, int]) -> None:
        """Append one history event (workloads.history.Event); ValueError once closed."""
        history = self.history
        pending = history.pending
        pending.append(ev)
        if len(pending) >= history.buffer_lines:
            history.flush()

    def note_timing(self, node: str, f: str, latency_ms: float, header: str) -> None:
        """Keep the server's own timing of an ok operation, during the calibration window
        at the start of the load only (bounded: the harness calibrates its model from it)."""
        if self.t0 is None:
            return
        elapsed = time.monotonic() - self.t0
        if not self.timing_window_s / 3 <= elapsed <= self.timing_window_s:
            return  # the first third warms connections and pools up
        parts = parse_server_timing(header)
        self.timings.append({"node": node, "f": f, "latency_ms": latency_ms, **parts})

    def invoke(self, process: int, f: str, key: Any, value: Any,
               node: str | None) -> int | None:
        """Record an invoke; return its ``time_ns`` (None once the history is closed)."""
        now = time.monotonic_ns()
        try:
            self._event((process, "invoke", f, key, value, node, now))
            return now
        except ValueError:
            logging.warning("event after the history was closed: process %s invoke", process)
            return None

    def complete(self, process: int, type_: str, f: str, key: Any, value: Any,
                 node: str | None) -> None:
        """Record a completion (``ok``, ``fail`` or ``info``)."""
        if type_ not in COMPLETIONS:
            raise ValueError(f"completion type {type_!r}: must be one of "
                             f"{', '.join(COMPLETIONS)}")
        try:
            self._event((process, type_, f, key, value, node, time.monotonic_ns()))
        except ValueError:
            logging.warning("event after the history was closed: process %s %s", process, type_)


# ---------------------------------------------------------------- spec and user classes


def load_spec(path: str) -> dict[str, Any]:
    """Read and check spec.json; raise SpecError with a one-line reason."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"spec {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise SpecError(f"spec {path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise SpecError(f"spec {path}: must be a JSON object")
    missing = [k for k in REQUIRED if spec.get(k) is None]
    if missing:
        raise SpecError(f"spec {path}: missing {', '.join(missing)}")
    if not spec["targets"] or not all("url" in t and "node" in t for t in spec["targets"]):
        raise SpecError(f"spec {path}: targets must be a non-empty list of {{node, url}}")
    spec = {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None}}
    _check_shape(path, spec)
    return spec


def _check_shape(path: str, spec: dict[str, Any]) -> None:
    if spec["shape"] not in SHAPES:
        raise SpecError(f"spec {path}: shape {spec['shape']!r} unknown; use one of "
                        f"{', '.join(SHAPES)}")
    if spec["shape"] == "open" and not (spec["rate_rps"] or 0) > 0:
        raise SpecError(f"spec {path}: shape open needs rate_rps > 0 (arrivals per second)")
    if int(spec["workers"]) < 0:
        raise SpecError(f"spec {path}: workers must be >= 0 (0 = no distributed load)")
    prefix = spec["worker_prefix"]
    if prefix is not None and not (isinstance(prefix, list) and all(
            isinstance(p, list) and all(isinstance(a, str) for a in p) for p in prefix)):
        raise SpecError(f"spec {path}: worker_prefix must be a list of argv lists (the i-th "
                        f"runs worker i, e.g. [[\"ssh\", \"host-b\"]]), got {prefix!r}")


def resolve_users(locustfile: str) -> list[type[User]]:
    """The User classes of a builtin name or a locustfile path; raise SpecError."""
    if locustfile in BUILTINS:
        module_name, *names = BUILTINS[locustfile]
        module = importlib.import_module(module_name)
        return [getattr(module, n) for n in names]
    if locustfile.startswith("builtin:"):
        raise SpecError(f"locustfile {locustfile!r}: unknown; use one of {', '.join(BUILTINS)}")
    path = Path(locustfile)
    if not path.is_file():
        raise SpecError(f"locustfile {locustfile}: no such file; give a path to a .py file "
                        "defining Locust User classes, or builtin:kv / builtin:ingest")
    module = _import_file(path)
    users = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if issubclass(c, User) and not c.__dict__.get("abstract", False)]
    if not users:
        raise SpecError(f"locustfile {locustfile}: defines no non-abstract Locust User class")
    return users


def _import_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"edgeproof_locustfile_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SpecError(f"locustfile {path}: cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SpecError(
            f"locustfile {path}: syntax error on line {exc.lineno}: {exc.msg}"
        ) from None
    except Exception as exc:
        raise SpecError(f"locustfile {path}: import failed: {type(exc).__name__}: {exc}") from None
    return module


# ---------------------------------------------------------------- shared set-up


def n_users(spec: dict[str, Any]) -> int:
    """Users to start: ``users``, or for an open loop a pool big enough for ``rate_rps``
    (``extra.pool_users`` overrides it, for tests and benchmarks)."""
    pool = (spec.get("extra") or {}).get("pool_users")
    if spec["shape"] == "open" and pool:
        return int(pool)
    if spec["shape"] == "open":
        return pool_size(float(spec["rate_rps"]), spec["timeout_ms"] / 1000.0, int(spec["users"]))
    return int(spec["users"])


def placed(cls: type[User]) -> type[User]:
    """``cls`` as it runs here (a subclass of the same name): each user gets its history
    process on start, and one without a ``host`` of its own gets a client target, round-robin
    by process, so a plain locustfile's users spread over the client links (and their
    faults). Classes that pick their own target (:class:`workloads.kv.EdgeproofUser`) are
    used as they are."""
    if getattr(cls, "edgeproof_targets", False):
        return cls
    own_host = getattr(cls, "host", None)

    def __init__(self: Any, environment: Environment) -> None:
        ctx = environment.edgeproof  # type: ignore[attr-defined]
        process = ctx.process_of(self)
        if own_host is None:
            self.host = ctx.target_for(process)["url"]
        cls.__init__(self, environment)

    def on_start(self: Any) -> None:
        self.environment.edgeproof.users[getcurrent()] = self
        cls.on_start(self)

    return type(cls.__name__, (cls,), {"__init__": __init__, "on_start": on_start,
                                       "__module__": cls.__module__})


def own_hosts(classes: list[type[User]], targets: list[dict[str, str]]) -> list[str]:
    """Warnings for user classes whose own ``host`` bypasses the client proxies."""
    urls = {t["url"].rstrip("/") for t in targets}
    out = []
    for cls in classes:
        host = getattr(cls, "host", None)
        if host and str(host).rstrip("/") not in urls and not getattr(cls, "edgeproof_targets",
                                                                        False):
            out.append(f"user class {cls.__name__} sets its own host {host!r}: its requests "
                       "bypass the client proxies, so client-link faults cannot reach them "
                       "(remove the host to have edgeproof spread its users over the nodes)")
    return out


def make_env(spec: dict[str, Any], classes: list[type[User]],
             arrivals: Arrivals | None = None) -> Environment:
    """An Environment for the spec, with Locust's own ``events`` (so a locustfile's
    ``@events.init``, ``test_start`` and ``test_stop`` listeners fire) and no global host
    (Locust would force it on every class): users get their targets from :func:`placed`."""
    classes = [placed(c) for c in classes]
    if arrivals is not None:
        classes = [open_loop_class(c, arrivals) for c in classes]
    return Environment(user_classes=classes, host=None, events=locust_events,
                       shape_class=make_shape(spec),
                       stop_timeout=spec["timeout_ms"] / 1000.0 + 1.0, catch_exceptions=True)


def fire_init(env: Environment) -> None:
    """Locust's ``init`` event, as ``locust`` itself fires it once the runner exists."""
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)


def make_arrivals(spec: dict[str, Any], index: int = 0) -> Arrivals | None:
    """This process's Poisson arrivals (the rate split evenly over workers), open loop only."""
    if spec["shape"] != "open":
        return None
    share = float(spec["rate_rps"]) / max(1, int(spec["workers"]))
    return Arrivals(share, f"{spec['seed']}/{index}")


HISTORY_BUFFER_LINES = 512  # history lines go out in writes of 512 lines (~55 KiB) ...
HISTORY_FLUSH_S = 0.1  # ... or every 0.1 s, whichever comes first (and at the end)


def _flush_history(history: HistoryWriter, every_s: float) -> None:
    """Flush the run's buffered history every ``every_s``: a SIGKILLed load process loses at
    most the last ~0.1 s of lines (SIGTERM/SIGINT and a normal end flush everything)."""
    while True:
        gevent.sleep(every_s)
        try:
            history.flush()
        except OSError as exc:
            log.error("history %s: lines lost, cannot write them: %s", history.path, exc)


RECORDER_SWITCH = "EDGEPROOF_RECORDER"  # "off": plain requests are not recorded (a baseline)


def attach(env: Environment, spec: dict[str, Any], history_path: str, offset: int = 0,
           stride: int = 1) -> LoadContext:
    """Create the run's LoadContext on ``env`` and hook the recorder to Locust's events."""
    ctx = LoadContext(spec, HistoryWriter(history_path, buffer_lines=HISTORY_BUFFER_LINES),
                      offset, stride)
    ctx.flusher = gevent.spawn(_flush_history, ctx.history, HISTORY_FLUSH_S)
    ctx.warnings += own_hosts(list(env.user_classes), spec["targets"])
    for w in ctx.warnings:
        log.warning("%s", w)
    env.edgeproof = ctx  # type: ignore[attr-defined]
    if os.environ.get(RECORDER_SWITCH) != "off":  # off: bench/recording_overhead's baseline
        env.events.request.add_listener(ctx.request_listener())
    return ctx


def _signals(stop: Event, interrupted: list[bool]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, lambda: (interrupted.append(True), stop.set()))


# ---------------------------------------------------------------- progress and stats


def _progress_line(counts: dict[str, int], env: Environment, t0: float, cpu: psutil.Process,
                   arrivals_waited: bool = False, **extra: Any) -> str:
    c = counts
    runner = env.runner
    line = {
        "elapsed_s": round(time.monotonic() - t0, 3), "ops": c["ok"] + c["fail"] + c["info"],
        "ok": c["ok"], "fail": c["fail"], "info": c["info"],
        "users": runner.user_count if runner else 0,
        "cpu_percent": cpu.cpu_percent(interval=None),
        "requests": env.stats.total.num_requests, "cpu_s": _cpu_seconds(cpu),
        "cpu_warning": bool(runner and runner.cpu_warning_emitted),
        "arrivals_waited": arrivals_waited, **extra,
    }
    return json.dumps(line)


def _recorder_kind() -> str:
    """Which recorder this load ran: ``off`` (the bench's baseline), ``compiled`` or
    ``python`` (see workloads/native.py)."""
    if os.environ.get(RECORDER_SWITCH) == "off":
        return "off"
    return "compiled" if native.module() is not None else "python"


def _cpu_seconds(proc: psutil.Process) -> float:
    """This process's CPU time so far (user and system), in seconds."""
    t = proc.cpu_times()
    return round(t.user + t.system, 4)


def _reporter(counts: Any, env: Environment, t0: float, waited: Any) -> None:
    cpu = psutil.Process()
    cpu.cpu_percent(interval=None)
    tick = 1
    while True:
        gevent.sleep(max(0.0, t0 + tick - time.monotonic()))
        print(_progress_line(counts(), env, t0, cpu, waited()), flush=True)
        tick += 1


def _entry(e: Any) -> dict[str, Any]:
    return {
        "name": e.name, "method": e.method, "num_requests": e.num_requests,
        "num_failures": e.num_failures, "avg_response_time": e.avg_response_time,
        "median_response_time": e.median_response_time,
        "p95_response_time": e.get_response_time_percentile(0.95),
        "p99_response_time": e.get_response_time_percentile(0.99),
        "min_response_time": e.min_response_time, "max_response_time": e.max_response_time,
        "total_rps": e.total_rps,
    }


def stats_dict(env: Environment, spec: dict[str, Any], counts: dict[str, int],
               started_ns: int, ended_ns: int, interrupted: bool,
               arrivals: dict[str, Any] | None = None) -> dict[str, Any]:
    """Locust's stats entries and totals, errors, the history counts and the time span, and
    which recorder ran (:func:`_recorder_kind`)."""
    st = env.stats
    entries = sorted(st.entries.values(), key=lambda e: (e.name, e.method))
    return {
        "started_ns": started_ns, "ended_ns": ended_ns,
        "duration_s": (ended_ns - started_ns) / 1e9, "interrupted": interrupted,
        "users": spec["users"], "pool_users": n_users(spec), "shape": spec["shape"],
        "workers": int(spec["workers"]), "history": dict(counts),
        "entries": [_entry(e) for e in entries], "total": _entry(st.total),
        "errors": [{"method": e.method, "name": e.name, "error": str(e.error),
                    "occurrences": e.occurrences} for e in st.errors.values()],
        "cpu_warning": bool(env.runner and env.runner.cpu_warning_emitted),
        "arrivals": arrivals, "arrivals_waited": bool(arrivals and arrivals["waited"]),
        "recorder": _recorder_kind(),
    }


def _write_stats(spec: dict[str, Any], out: dict[str, Any]) -> None:
    path = Path(spec["stats_path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")


# ---------------------------------------------------------------- local runner


def _start_users(env: Environment, spec: dict[str, Any], arrivals: Arrivals | None) -> None:
    runner = env.runner
    assert runner is not None
    if env.shape_class is not None:
        runner.start_shape()
        return
    users = n_users(spec) + sum(int(getattr(c, "fixed_count", 0) or 0)
                                for c in env.user_classes)
    rate = float(users if arrivals is not None else (spec["spawn_rate"] or users))
    runner.start(users, spawn_rate=rate, wait=arrivals is not None)


def run(spec: dict[str, Any], user_classes: list[type[User]]) -> int:
    """Run the users for duration_s (or until SIGTERM/SIGINT), then write the stats."""
    arrivals = make_arrivals(spec)
    env = make_env(spec, user_classes, arrivals)
    ctx = attach(env, spec, spec["history_path"])
    try:
        return _run_local(env, spec, ctx, arrivals)
    finally:
        ctx.close()  # a no-op after a normal end; if the run failed, the lines so far


def _run_local(env: Environment, spec: dict[str, Any], ctx: LoadContext,
               arrivals: Arrivals | None) -> int:
    runner = env.create_local_runner()
    fire_init(env)
    stop, interrupted = Event(), []
    _signals(stop, interrupted)
    _start_users(env, spec, arrivals)
    if arrivals is not None:
        arrivals.start()
    t0, started_ns = time.monotonic(), time.monotonic_ns()
    ctx.t0 = t0
    waited = (lambda: bool(arrivals.waited)) if arrivals is not None else (lambda: False)
    reporter = gevent.spawn(_reporter, lambda: ctx.counts, env, t0, waited)
    stop.wait(timeout=max(0.0, spec["duration_s"] - (time.monotonic() - t0)))
    if arrivals is not None:
        arrivals.stop()
    ctx.stopping = True
    for finish in ctx.finishers:  # e.g. the sink watcher drains what is still on its way
        finish()
    runner.stop()  # graceful: in-flight requests finish within stop_timeout, else info
    ended_ns = time.monotonic_ns()
    runner.quit()
    reporter.kill()
    print(_progress_line(ctx.counts, env, t0, psutil.Process(), waited(), final=True),
          flush=True)
    ctx.close()
    stats = stats_dict(env, spec, ctx.counts, started_ns, ended_ns, bool(interrupted),
                       arrivals.as_dict() if arrivals is not None else None)
    stats["server_timing"] = ctx.timings
    stats["warnings"] = ctx.warnings
    stats["requests_recorded"] = ctx.requests_recorded
    _write_stats(spec, stats)
    return 0


# ---------------------------------------------------------------- distributed: master


def part_path(history_path: str, index: int) -> str:
    """Where worker ``index`` writes its part of the history."""
    p = Path(history_path)
    return str(p.with_name(f"{p.stem}.w{index}{p.suffix}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workers:
    """The master's view of its worker processes and what they report."""

    def __init__(self, spec_path: str, n: int, port: int,
                 prefixes: list[list[str]] | None = None) -> None:
        self.n = n
        self.counts: dict[int, dict[str, int]] = {}
        self.arrivals: dict[int, dict[str, Any]] = {}
        self.clocks: dict[int, dict[str, Any]] = {}
        self.done: set[int] = set()
        self.all_done = Event()
        self.prefixes = [list((prefixes or [])[i]) if i < len(prefixes or []) else []
                         for i in range(n)]
        cmd = [sys.executable, "-m", "workloads.loadproc", "--spec", spec_path,
               "--master-port", str(port), "--worker-index"]
        self.procs = [subprocess.Popen([*self.prefixes[i], *cmd, str(i)],
                                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                      for i in range(n)]

    def on_counts(self, environment: Any = None, msg: Any = None, **_kw: Any) -> None:
        self.counts[int(msg.data["index"])] = msg.data["counts"]

    def on_done(self, environment: Any = None, msg: Any = None, **_kw: Any) -> None:
        self.on_counts(msg=msg)
        if msg.data.get("arrivals"):
            self.arrivals[int(msg.data["index"])] = msg.data["arrivals"]
        if msg.data.get("clock"):
            self.clocks[int(msg.data["index"])] = msg.data["clock"]
        self.done.add(int(msg.data["index"]))
        if len(self.done) >= self.n:
            self.all_done.set()

    def total(self) -> dict[str, int]:
        out = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        for c in list(self.counts.values()):
            for k in out:
                out[k] += c.get(k, 0)
        return out

    def arrivals_total(self) -> dict[str, Any] | None:
        if not self.arrivals:
            return None
        parts = list(self.arrivals.values())
        return {"rate_rps": sum(a["rate_rps"] for a in parts),
                "count": sum(a["count"] for a in parts),
                "waited": sum(a["waited"] for a in parts),
                "max_lag_ms": max(a["max_lag_ms"] for a in parts)}

    def offsets_ns(self) -> list[int]:
        """What to add to each part's times: a prefixed worker's measured offset (0 when it
        could not be measured: then ``clock()`` says so), 0 for one on the master's clock."""
        return [int(self.clocks.get(i, {}).get("offset_ns") or 0) if self.prefixes[i] else 0
                for i in range(self.n)]

    def clock(self) -> dict[str, Any]:
        """Every worker's alignment and the worst error bound (None: one is unmeasured)."""
        rows = [{"index": i, "shared_clock": not self.prefixes[i],
                 **(self.clocks.get(i) or alignment(None, None))} for i in range(self.n)]
        for r in rows:  # a worker on the master's own clock is aligned exactly
            r["applied_offset_ns"] = 0 if r["shared_clock"] else r["offset_ns"]
        errors = [0 if r["shared_clock"] else r["error_ns"] for r in rows]
        return {"method": "Cristian 1989: least round trip of 7 pings, at start and end",
                "workers": rows,
                "error_ns": None if any(e is None for e in errors) else max(errors, default=0)}

    def reap(self, timeout_s: float = 10.0) -> None:
        """Wait for the worker processes to exit; kill those that do not."""
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def _await_workers(runner: Any, workers: Workers) -> None:
    deadline = time.monotonic() + WORKER_CONNECT_S
    while runner.worker_count < workers.n:
        dead = [p.returncode for p in workers.procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise SpecError(f"only {runner.worker_count} of {workers.n} Locust workers "
                            f"connected (exited: {dead}); see the worker log lines above")
        gevent.sleep(0.1)


def run_master(spec: dict[str, Any], user_classes: list[type[User]], spec_path: str) -> int:
    """Master of ``workers`` worker processes; merges their history parts at the end."""
    env = make_env(spec, user_classes, make_arrivals(spec))
    runner = env.create_master_runner(master_bind_host="127.0.0.1",
                                      master_bind_port=(port := _free_port()))
    fire_init(env)
    workers = Workers(spec_path, int(spec["workers"]), port, spec["worker_prefix"])
    runner.register_message(PING, answer(runner))
    runner.register_message("edgeproof_counts", workers.on_counts)
    runner.register_message("edgeproof_done", workers.on_done)
    try:
        return _master_load(env, spec, workers)
    finally:
        runner.quit()
        workers.reap()


def _master_load(env: Environment, spec: dict[str, Any], workers: Workers) -> int:
    runner = env.runner
    assert runner is not None
    _await_workers(runner, workers)
    stop, interrupted = Event(), []
    _signals(stop, interrupted)
    spawned = Event()
    env.events.spawning_complete.add_listener(lambda **_kw: spawned.set())
    _start_users(env, spec, None)
    if spec["shape"] == "open":
        spawned.wait(timeout=WORKER_CONNECT_S)
        runner.send_message("edgeproof_start")
    t0, started_ns = time.monotonic(), time.monotonic_ns()
    waited = lambda: bool((workers.arrivals_total() or {}).get("waited"))  # noqa: E731
    reporter = gevent.spawn(_reporter, workers.total, env, t0, waited)
    stop.wait(timeout=max(0.0, spec["duration_s"] - (time.monotonic() - t0)))
    if env.shape_class is not None and runner.shape_greenlet is not None:
        runner.shape_greenlet.kill(block=True)
    runner.send_message("edgeproof_stop")
    ended_ns = time.monotonic_ns()
    if not workers.all_done.wait(timeout=spec["timeout_ms"] / 1000.0 + 15.0):
        log.warning("workers %s did not report their end", set(range(workers.n)) - workers.done)
    reporter.kill()
    print(_progress_line(workers.total(), env, t0, psutil.Process(), waited(), final=True),
          flush=True)
    counts = merge_parts([part_path(spec["history_path"], i) for i in range(workers.n)],
                         spec["history_path"], workers.offsets_ns())
    stats = stats_dict(env, spec, counts, started_ns, ended_ns, bool(interrupted),
                       workers.arrivals_total())
    _write_stats(spec, {**stats, "clock": workers.clock()})
    return 0


# ---------------------------------------------------------------- distributed: worker


def run_worker(spec: dict[str, Any], user_classes: list[type[User]], index: int,
               master_port: int) -> int:
    """One worker: runs the users the master gives it and writes its own history part."""
    n = int(spec["workers"])
    arrivals = make_arrivals(spec, index)
    env = make_env(spec, user_classes, arrivals)
    ctx = attach(env, spec, part_path(spec["history_path"], index), offset=index, stride=n)
    runner = env.create_worker_runner("127.0.0.1", master_port)
    probe = ClockProbe(runner)
    first = gevent.spawn(probe.sample)  # the start's clock offset, while the users spawn
    fire_init(env)
    gevent.signal_handler(signal.SIGTERM, lambda: None)  # the master ends the run
    gevent.signal_handler(signal.SIGINT, lambda: None)

    def report(done: bool = False) -> None:
        data = {"index": index, "counts": dict(ctx.counts),
                "arrivals": arrivals.as_dict() if arrivals is not None else None}
        if done:
            data["clock"] = alignment(first.get(timeout=30.0), probe.sample())
        runner.send_message("edgeproof_done" if done else "edgeproof_counts", data)

    def on_stop(**_kw: Any) -> None:
        if arrivals is not None:
            arrivals.stop()
        ctx.stopping = True
        runner.stop()
        runner._send_stats()  # the last samples reach the master before "done"
        ctx.history.flush()  # the master merges the parts once every worker is done
        report(done=True)

    def heartbeat() -> None:
        while True:
            gevent.sleep(1.0)
            report()

    runner.register_message("edgeproof_stop", on_stop, concurrent=True)
    if arrivals is not None:
        runner.register_message("edgeproof_start", lambda **_kw: arrivals.start())
    beat = gevent.spawn(heartbeat)
    runner.greenlet.join()
    beat.kill()
    ctx.close()
    return 0


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.loadproc")
    parser.add_argument("--spec", required=True, help="path of spec.json")
    parser.add_argument("--worker-index", type=int, default=None, help="(internal) worker i")
    parser.add_argument("--master-port", type=int, default=None, help="(internal)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        spec = load_spec(args.spec)
        user_classes = resolve_users(str(spec["locustfile"]))
        if args.worker_index is not None:
            return run_worker(spec, user_classes, args.worker_index, args.master_port)
        if int(spec["workers"]) > 0:
            return run_master(spec, user_classes, args.spec)
        return run(spec, user_classes)
    except SpecError as exc:
        print(f"edgeproof load: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:  # e.g. history or stats path not writable
        print(f"edgeproof load: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
