"""The load process: ``python -m workloads.loadproc --spec spec.json``.

Runs Locust headless through its library API (Environment + LocalRunner) in a process of its
own, because importing locust monkey-patches the process with gevent. spec.json::

    {"locustfile": "builtin:kv" | "builtin:ingest" | "/path/to/locustfile.py",
     "users", "think_time_ms", "duration_s", "keys", "read_fraction", "timeout_ms", "seed",
     "spawn_rate" (null = all at once), "targets": [{"node": "edge-1", "url": "http://..."}],
     "history_path", "stats_path"}

stdout: one JSON progress line per second ``{"elapsed_s", "ops", "ok", "fail", "info",
"users", "cpu_percent", "cpu_warning"}`` (``ops`` = completed operations so far, cpu of this
process) and a last one with ``"final": true``. At the end
``stats_path`` gets Locust's stats, the history counts and ``started_ns``/``ended_ns``
(``time.monotonic_ns()``). Exit 0; exit 2 with one line on stderr for a bad spec/locustfile.
SIGTERM/SIGINT stop the users early (``"interrupted": true``) and still flush everything.

User locustfiles: their User classes are used as they are. The run's context is
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
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust import User  # noqa: E402
from locust.env import Environment  # noqa: E402

from workloads.history import HistoryWriter  # noqa: E402

REQUIRED = ("targets", "history_path", "stats_path", "users", "duration_s")
DEFAULTS: dict[str, Any] = {
    "locustfile": "builtin:kv", "think_time_ms": 50.0, "keys": 10, "read_fraction": 0.5,
    "timeout_ms": 2000.0, "seed": 0, "spawn_rate": None,
}
BUILTINS = {"builtin:kv": ("workloads.kv", "KvUser"),
            "builtin:ingest": ("workloads.ingest", "IngestUser")}


class SpecError(Exception):
    """A bad spec or locustfile: reported as one line on stderr, exit 2."""


class LoadContext:
    """What users of this run share: the spec, targets, process ids, the history, counts."""

    def __init__(self, spec: dict[str, Any], history: HistoryWriter) -> None:
        self.spec = spec
        self.targets: list[dict[str, str]] = spec["targets"]
        self.history = history
        self._ids = itertools.count()
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

    def next_process(self) -> int:
        """A fresh, unique history process id."""
        return next(self._ids)

    def target_for(self, process: int) -> dict[str, str]:
        """The target node of a process: round-robin by process id."""
        return self.targets[process % len(self.targets)]

    def invoke(self, process: int, f: str, key: Any, value: Any, node: str | None) -> None:
        self._record(process, "invoke", f, key, value, node)

    def complete(self, process: int, type_: str, f: str, key: Any, value: Any,
                 node: str | None) -> None:
        self._record(process, type_, f, key, value, node)

    def _record(self, process: int, type_: str, f: str, key: Any, value: Any,
                node: str | None) -> None:
        self.counts[type_] += 1
        try:
            self.history.record(process, type_, f, key, value, node)
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
    return {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None or k == "spawn_rate"}}


def resolve_users(locustfile: str) -> list[type[User]]:
    """The User classes of a builtin name or a locustfile path; raise SpecError."""
    if locustfile in BUILTINS:
        module_name, cls_name = BUILTINS[locustfile]
        return [getattr(importlib.import_module(module_name), cls_name)]
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
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SpecError(
            f"locustfile {path}: syntax error on line {exc.lineno}: {exc.msg}"
        ) from None
    except Exception as exc:
        raise SpecError(f"locustfile {path}: import failed: {type(exc).__name__}: {exc}") from None
    return module


# ---------------------------------------------------------------- running


def _progress_line(ctx: LoadContext, env: Environment, t0: float, cpu: psutil.Process,
                   **extra: Any) -> str:
    c = ctx.counts
    runner = env.runner
    line = {
        "elapsed_s": round(time.monotonic() - t0, 3), "ops": c["ok"] + c["fail"] + c["info"],
        "ok": c["ok"], "fail": c["fail"], "info": c["info"],
        "users": runner.user_count if runner else 0,
        "cpu_percent": cpu.cpu_percent(interval=None),
        "cpu_warning": bool(runner and runner.cpu_warning_emitted), **extra,
    }
    return json.dumps(line)


def _reporter(ctx: LoadContext, env: Environment, t0: float) -> None:
    cpu = psutil.Process()
    cpu.cpu_percent(interval=None)
    tick = 1
    while True:
        gevent.sleep(max(0.0, t0 + tick - time.monotonic()))
        print(_progress_line(ctx, env, t0, cpu), flush=True)
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


def stats_dict(env: Environment, ctx: LoadContext, started_ns: int, ended_ns: int,
               interrupted: bool) -> dict[str, Any]:
    """Locust's stats entries and totals, errors, the history counts and the time span."""
    st = env.stats
    entries = sorted(st.entries.values(), key=lambda e: (e.name, e.method))
    return {
        "started_ns": started_ns, "ended_ns": ended_ns,
        "duration_s": (ended_ns - started_ns) / 1e9, "interrupted": interrupted,
        "users": ctx.spec["users"], "history": dict(ctx.counts),
        "entries": [_entry(e) for e in entries], "total": _entry(st.total),
        "errors": [{"method": e.method, "name": e.name, "error": str(e.error),
                    "occurrences": e.occurrences} for e in st.errors.values()],
        "cpu_warning": bool(env.runner and env.runner.cpu_warning_emitted),
    }


def run(spec: dict[str, Any], user_classes: list[type[User]]) -> int:
    """Run the users for duration_s (or until SIGTERM/SIGINT), then write the stats."""
    first_url = spec["targets"][0]["url"]
    for cls in user_classes:
        if getattr(cls, "host", None) is None:
            cls.host = first_url
    stop_timeout = spec["timeout_ms"] / 1000.0 + 1.0
    env = Environment(user_classes=user_classes, host=first_url, stop_timeout=stop_timeout,
                      catch_exceptions=True)
    history = HistoryWriter(spec["history_path"])
    ctx = LoadContext(spec, history)
    env.edgeproof = ctx  # type: ignore[attr-defined]
    runner = env.create_local_runner()
    stop = Event()
    interrupted: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, lambda: (interrupted.append(True), stop.set()))
    t0 = time.monotonic()
    started_ns = time.monotonic_ns()
    reporter = gevent.spawn(_reporter, ctx, env, t0)
    users = int(spec["users"])
    runner.start(users, spawn_rate=float(spec["spawn_rate"] or users))
    stop.wait(timeout=max(0.0, spec["duration_s"] - (time.monotonic() - t0)))
    runner.stop()  # graceful: in-flight requests finish within stop_timeout, else info
    ended_ns = time.monotonic_ns()
    runner.quit()
    reporter.kill()
    print(_progress_line(ctx, env, t0, psutil.Process(), final=True), flush=True)
    history.close()
    out = stats_dict(env, ctx, started_ns, ended_ns, bool(interrupted))
    Path(spec["stats_path"]).parent.mkdir(parents=True, exist_ok=True)
    Path(spec["stats_path"]).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.loadproc")
    parser.add_argument("--spec", required=True, help="path of spec.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        spec = load_spec(args.spec)
        user_classes = resolve_users(str(spec["locustfile"]))
    except SpecError as exc:
        print(f"edgeproof load: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        return run(spec, user_classes)
    except OSError as exc:  # e.g. history or stats path not writable
        print(f"edgeproof load: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
