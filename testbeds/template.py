"""A template process that imports the reference service once and forks every node from it.

Why: each node started as its own interpreter pays Python's start-up and aiohttp's import
(~0.5 s of CPU), so a 30-node testbed on 2 cores waited 16 s for its first node. Forked
children share the imported pages copy-on-write and start in milliseconds. Each child still
gets what an exec'd node has: its own session (a process group to kill), network namespace
(``setns``), cgroups, log, working directory and environment; its wall clock is the service's
own (:class:`testbeds.replication.WallClock` reading the node's clock file), since a fork
cannot be put under libfaketime.

Protocol (one JSON line each way per node, on the template's stdin and stdout):
``{"config", "log", "cwd", "netns", "cgroups", "env"}`` -> ``{"pid"}`` or ``{"error"}``.
The template reaps its children and exits when its stdin closes (the children live on: they
are the testbed's, reaped by their label like every other process of a run).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from testbeds import service  # the point of the template: imported once, before any fork

CLONE_NEWNET = 0x40000000


class TemplateError(RuntimeError):
    """The template could not fork a node (the message says why)."""


def _reap(_signum: int, _frame: Any) -> None:
    """SIGCHLD: collect every dead child, so that a killed node is gone, not a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _enter_netns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _child(req: dict[str, Any]) -> int:
    """In the forked child: become the node (namespace, cgroups, log, cwd, env), serve."""
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    for group in req.get("cgroups") or []:
        (Path(group) / "cgroup.procs").write_text(str(os.getpid()))
    if req.get("netns"):
        _enter_netns(str(req["netns"]))
    log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.chdir(req["cwd"])
    os.environ.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    return service.serve(Path(req["config"]))


def fork_node(req: dict[str, Any]) -> int:
    """Fork one node; its pid (the child never returns here)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(req)
        except BaseException as exc:  # the child must never fall back into the template loop
            print(f"edge service: could not start from the template: {exc!r}", file=sys.stderr)
        finally:
            os._exit(code)
    return pid


def main() -> int:
    """The template's loop: one request line in, one answer line out, until stdin closes."""
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness's Ctrl-C is not ours to act on
    for line in sys.stdin:
        try:
            answer: dict[str, Any] = {"pid": fork_node(json.loads(line))}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


class Template:
    """The testbed's side: start the template process, ask it for nodes, close it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "testbeds.template"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, req: dict[str, Any]) -> int:
        """A new node process from the template; its pid. TemplateError when it cannot."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            try:
                self.proc.stdin.write((json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except OSError as exc:
                raise TemplateError(f"the node template is gone: {exc}") from None
        if not line:
            raise TemplateError(f"the node template exited (code {self.proc.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise TemplateError(str(answer["error"]))
        return int(answer["pid"])

    def close(self) -> None:
        """Let the template exit (its children live on until the testbed reaps them)."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
