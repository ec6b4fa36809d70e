"""Finding, installing and running a real Toxiproxy server (pinned to TOXIPROXY_VERSION).

The server is built from source with ``go install`` (no release download needed), with the
version stamped in via -ldflags so that ``toxiproxy-server -version`` reports it. A plain
``go install`` build reports "git"; for those the Go build info embedded in the binary is
read instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx
import psutil

from harness.errors import ConfigError, InfrastructureError
from testbeds.net import free_port
from testbeds.processes import raise_nofile
from testbeds.toxiproxy.client import ToxiproxyClient

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
ENV_VAR = "EDGEPROOF_TOXIPROXY"
BINARY_NAME = "toxiproxy-server"
REPO_ROOT = Path(__file__).resolve().parents[2]
FIX_HINT = (
    "Fix: run `edgeproof install-toxiproxy` (or `bash scripts/setup.sh`, or "
    "`bash scripts/install-toxiproxy.sh`; both need Go), or set "
    f"{ENV_VAR}=/path/to/toxiproxy-server."
)


def repo_tools_bin(repo_root: Path | None = None) -> Path:
    """The repo's own tools folder: <repo>/.tools/bin."""
    return (repo_root or REPO_ROOT) / ".tools" / "bin"


def user_tools_bin(home: Path | None = None) -> Path:
    """The per-user tools folder: ~/.local/share/edgeproof/bin."""
    return (home or Path.home()) / ".local" / "share" / "edgeproof" / "bin"


def _is_executable(path: Path) -> bool:
    """A regular file we may execute."""
    return path.is_file() and os.access(path, os.X_OK)


def _from_env(env: Mapping[str, str]) -> Path | None:
    """The binary named by EDGEPROOF_TOXIPROXY, or None if unset; ConfigError if unusable."""
    raw = env.get(ENV_VAR, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not _is_executable(path):
        state = "does not exist" if not path.exists() else "is not an executable file"
        raise ConfigError(
            f"{ENV_VAR}={raw!r} {state}. Set {ENV_VAR} to the path of a toxiproxy-server "
            f"binary (e.g. {repo_tools_bin() / BINARY_NAME}), or unset it to search PATH and "
            "the tools folders; `edgeproof install-toxiproxy` installs one."
        )
    return path


def find_toxiproxy(
    env: Mapping[str, str] | None = None,
    repo_root: Path | None = None,
    home: Path | None = None,
) -> Path:
    """Locate toxiproxy-server: $EDGEPROOF_TOXIPROXY, PATH, <repo>/.tools/bin, ~/.local/share."""
    env = os.environ if env is None else env
    from_env = _from_env(env)
    if from_env is not None:
        return from_env
    on_path = shutil.which(BINARY_NAME, path=env.get("PATH", ""))
    if on_path:
        return Path(on_path)
    folders = [repo_tools_bin(repo_root), user_tools_bin(home)]
    for folder in folders:
        if _is_executable(folder / BINARY_NAME):
            return folder / BINARY_NAME
    looked = ", ".join(str(f / BINARY_NAME) for f in folders)
    raise InfrastructureError(
        f"Toxiproxy server ({BINARY_NAME} {TOXIPROXY_VERSION}) not found: {ENV_VAR} is not "
        f"set, {BINARY_NAME} is not on PATH, and neither {looked} exists. {FIX_HINT}"
    )


def toxiproxy_version(binary: Path) -> str | None:
    """The version a binary reports ('v2.12.0'), or its Go build info's; None if unknown."""
    try:
        out = subprocess.run(
            [str(binary), "-version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    reported = out.strip().rsplit(" ", 1)[-1] if out.strip() else ""
    if reported and reported != "git":
        return "v" + reported.lstrip("v")
    return _build_info_version(binary)


def _build_info_version(binary: Path) -> str | None:
    """The toxiproxy module version recorded in a Go binary's build info."""
    marker = f"mod\t{TOXIPROXY_MODULE}\t".encode()
    try:
        data = binary.read_bytes()
    except OSError:
        return None
    at = data.find(marker)
    if at < 0:
        return None
    end = data.find(b"\t", at + len(marker))
    return data[at + len(marker) : end].decode(errors="replace") or None


def is_pinned_version(binary: Path) -> bool:
    """True if the binary is Toxiproxy TOXIPROXY_VERSION."""
    version = toxiproxy_version(binary)
    return version == TOXIPROXY_VERSION


def _go_install(go: str, gobin: Path, timeout_s: float) -> Path:
    """Build the pinned server into ``gobin``; returns the built binary."""
    ldflags = f"-X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION.lstrip('v')}"
    cmd = [go, "install", "-ldflags", ldflags, f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"]
    env = {**os.environ, "GOBIN": str(gobin)}
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(
            f"`{' '.join(cmd)}` did not finish within {timeout_s:.0f} s; check that the Go "
            "module proxy is reachable (GOPROXY) and retry."
        ) from exc
    built = gobin / "server"
    if proc.returncode != 0 or not built.is_file():
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise InfrastructureError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); check network access to the "
            f"Go module proxy (GOPROXY) and the Go version. Its last output:\n{tail}"
        )
    return built


def install_toxiproxy(dest_dir: Path | None = None, timeout_s: float = 900.0) -> Path:
    """Build the pinned toxiproxy-server with Go into dest_dir (default <repo>/.tools/bin)."""
    dest = Path(dest_dir) if dest_dir else repo_tools_bin()
    target = dest / BINARY_NAME
    if _is_executable(target) and is_pinned_version(target):
        return target
    go = shutil.which("go")
    if go is None:
        raise InfrastructureError(
            f"Cannot install Toxiproxy {TOXIPROXY_VERSION}: the Go toolchain (`go`) is not on "
            "PATH. Fix: `sudo apt-get install golang-go` (or install Go from https://go.dev/dl), "
            f"then rerun `edgeproof install-toxiproxy`; or set {ENV_VAR} to an existing "
            "toxiproxy-server binary."
        )
    with tempfile.TemporaryDirectory(prefix="edgeproof-gobin-") as gobin:
        built = _go_install(go, Path(gobin), timeout_s)
        dest.mkdir(parents=True, exist_ok=True)
        staging = dest / f".{BINARY_NAME}.{os.getpid()}.tmp"
        shutil.copy2(built, staging)
        staging.chmod(0o755)
        os.replace(staging, target)  # atomic: a concurrent reader sees old or new, never half
    return target


def _tail(path: Path | None, lines: int = 20, offset: int = 0) -> str:
    """The last lines of a log file from ``offset`` on, or a note that there is none."""
    if path is None:
        return "(no log kept)"
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(log {path} unreadable)"
    return "\n".join(text.strip().splitlines()[-lines:]) or f"(log {path} is empty)"


class ToxiproxyServer:
    """A toxiproxy-server subprocess with its admin API on loopback; a context manager."""

    def __init__(
        self,
        binary: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        log_level: str = "warn",
        ready_timeout_s: float = 10.0,
        stop_grace_s: float = 3.0,
        client_timeout_s: float = 2.0,
        env: Mapping[str, str] | None = None,
        metrics: bool = True,
        nofile: int | None = None,
    ) -> None:
        self.binary = Path(binary) if binary else find_toxiproxy()
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else None
        self.log_level = log_level
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.client_timeout_s = client_timeout_s
        self.env = dict(env or {})  # extra variables, e.g. a run label a reaper can look for
        self.metrics = metrics  # -proxy-metrics: bytes per proxy, the proof a link had traffic
        self.nofile = nofile  # open files to lift the server to (a fleet's proxies and sockets)
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: ToxiproxyClient | None = None
        self._temp_log: Path | None = None
        self._log_offset = 0  # where this attempt's output starts in the log

    def __repr__(self) -> str:
        return f"ToxiproxyServer(url={self.url!r}, pid={self.pid})"

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The admin API URL (http://127.0.0.1:PORT)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's pid (also its process-group id), None before start."""
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def client(self) -> ToxiproxyClient:
        """A client for this server (one, shared, closed by stop())."""
        if self._client is None:
            self._client = ToxiproxyClient(self.url, timeout_s=self.client_timeout_s)
        return self._client

    def start(self) -> ToxiproxyServer:
        """Start and wait until /version answers; retries on a free-port race."""
        if self.running():
            return self
        attempts = 1 if self.port is not None else 3
        fixed_port = self.port
        for attempt in range(attempts):
            self.port = fixed_port if fixed_port is not None else free_port(self.host)
            self._spawn()
            error = self._wait_ready()
            if error is None:
                return self
            self._kill()
            raced = "address already in use" in self._log_since_start().lower()
            if not raced or attempt == attempts - 1:
                raise self._start_error(error)
        raise AssertionError("unreachable")

    def _start_error(self, why: str) -> InfrastructureError:
        """The one-paragraph start failure, with the tail of this attempt's log."""
        log = self._log_file()
        return InfrastructureError(
            f"Toxiproxy server {self.binary} did not start on {self.url}: {why}. Check the "
            f"binary (`{self.binary} -version`) and the port; last lines of its log "
            f"{log or ''}:\n{_tail(log, offset=self._log_offset)}"
        )

    def _log_since_start(self) -> str:
        """What the current attempt has logged so far (last 50 lines)."""
        return _tail(self._log_file(), 50, self._log_offset)

    def _log_file(self) -> Path | None:
        """Where this server's output goes."""
        return self.log_path or self._temp_log

    def _open_log(self) -> IO[bytes]:
        """Open the caller's log, or a temporary one kept for start-up diagnostics."""
        if self.log_path is None and self._temp_log is None:
            fd, name = tempfile.mkstemp(prefix="edgeproof-toxiproxy-", suffix=".log")
            os.close(fd)
            self._temp_log = Path(name)
        elif self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        path = self._log_file()
        assert path is not None
        handle = path.open("ab")
        self._log_offset = handle.tell()
        return handle

    def _spawn(self) -> None:
        """Start the subprocess in a session of its own."""
        cmd = [str(self.binary), "-host", self.host, "-port", str(self.port)]
        if self.metrics:
            cmd.append("-proxy-metrics")
        env = {**os.environ, **self.env, "LOG_LEVEL": self.log_level}
        with self._open_log() as log:
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise InfrastructureError(
                    f"Cannot execute Toxiproxy server {self.binary}: {exc}. {FIX_HINT}"
                ) from exc
        if self.nofile:  # the child's own limit (prlimit), whatever it inherited
            raise_nofile(self.nofile, self._proc.pid)

    def _wait_ready(self) -> str | None:
        """Poll until our process listens and /version answers; None when ready, else why not."""
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout_s
        delay = 0.01
        with httpx.Client(timeout=0.5, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    return f"it exited with code {self._proc.returncode}"
                # v2.12 does not exit when the API port is taken: it logs this and idles.
                if "Server finished with error" in self._log_since_start():
                    return "its API server failed (see the log below)"
                if self._owns_port() and self._answers(http):
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        return f"/version did not answer within {self.ready_timeout_s} s"

    def _answers(self, http: httpx.Client) -> bool:
        """True if GET /version answers 200."""
        try:
            return http.get(f"{self.url}/version").status_code == 200
        except httpx.HTTPError:
            return False

    def _owns_port(self) -> bool:
        """True if our process (not some other one) listens on the API port."""
        assert self._proc is not None
        try:
            conns = psutil.Process(self._proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in conns)

    def _kill(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; reaps the process."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_grace_s)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            proc.wait(timeout=5)

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the server's own process group (it runs in a session of its own)."""
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Stop the server (idempotent) and close the shared client."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._kill()
        if self._temp_log is not None:
            self._temp_log.unlink(missing_ok=True)
            self._temp_log = None
