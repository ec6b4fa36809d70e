"""Container images for the docker backend, built locally (no registry), cached by content hash.

Three images:

- the base: ``$EDGEPROOF_DOCKER_BASE``, else ``python:3.12-slim`` if the engine has it, else
  ``edgeproof/base:bookworm``, built here with ``debootstrap --variant=minbase`` (python3,
  python3-aiohttp, python3-pip, libfaketime) and ``docker import`` (needs root and debootstrap;
  bookworm's aiohttp is 3.8 and the service needs >= 3.9, so pip upgrades it in the chroot);
- the reference service, ``edgeproof/service:<hash>``, from ``testbeds/docker/service.Dockerfile``;
- Toxiproxy, ``edgeproof/toxiproxy:<hash>``: the statically linked server in a ``scratch`` image
  (built with ``CGO_ENABLED=0 go install`` when the server we have is dynamically linked).

The tag's hash covers the Dockerfile, every file copied into the image and the base image's id,
so a changed source gives a new tag and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError
from testbeds.progress import quiet
from testbeds.toxiproxy.server import (
    TOXIPROXY_MODULE,
    TOXIPROXY_VERSION,
    find_toxiproxy,
    repo_tools_bin,
)

REPO = Path(__file__).resolve().parent.parent
CONTEXT = Path(__file__).resolve().parent / "docker"
SERVICE_SOURCES = ("testbeds/__init__.py", "testbeds/service.py", "testbeds/replication.py",
                   "testbeds/forward.py", "testbeds/control.py")
DEFAULT_BASE = "python:3.12-slim"
LOCAL_BASE = "edgeproof/base:bookworm"
BASE_ENV = "EDGEPROOF_DOCKER_BASE"
BASE_PACKAGES = "python3,python3-aiohttp,python3-pip,libfaketime"
DEBIAN_MIRROR = os.environ.get("EDGEPROOF_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STATIC_TOXIPROXY = "toxiproxy-server-static"
LABEL = "edgeproof.image"
AIOHTTP = "aiohttp>=3.9"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Images:
    """The tags a docker testbed runs."""

    base: str
    service: str
    toxiproxy: str


def _has(client: Any, ref: str) -> bool:
    import docker.errors  # cost: the SDK loads only where images are built
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------ base image
def choose_base(client: Any, base: str | None = None, say: Say = quiet) -> str:
    """The base to build the service on: argument, env, python:3.12-slim, or our own."""
    chosen = base or os.environ.get(BASE_ENV)
    if chosen:
        if not _has(client, chosen):
            raise InfrastructureError(
                f"base image {chosen!r} (from {'--base' if base else BASE_ENV}) is not on the "
                "Docker engine and there is no registry to pull it from; `docker load` or "
                f"`docker import` it first, or unset {BASE_ENV} to build {LOCAL_BASE} here")
        return chosen
    for ref in (DEFAULT_BASE, LOCAL_BASE):
        if _has(client, ref):
            return ref
    build_local_base(client, say)
    return LOCAL_BASE


def build_local_base(client: Any, say: Say = quiet) -> str:
    """debootstrap a Debian minbase with python3, aiohttp and libfaketime; docker import it."""
    boot = shutil.which("debootstrap")
    if os.geteuid() != 0 or boot is None:
        raise InfrastructureError(
            f"no base image for the service: neither {DEFAULT_BASE} nor {LOCAL_BASE} is on the "
            f"Docker engine, and building {LOCAL_BASE} needs root and debootstrap ("
            f"{'not root' if os.geteuid() else 'debootstrap not found'}). Fix: run "
            "`sudo apt-get install debootstrap && sudo edgeproof images`, or "
            f"`docker load` an image and set {BASE_ENV}=IMAGE")
    with tempfile.TemporaryDirectory(prefix="edgeproof-base-") as tmp:
        root = Path(tmp) / "root"
        say(f"building {LOCAL_BASE} with debootstrap (about a minute)")
        cmd = [boot, "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(root),
               DEBIAN_MIRROR]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise InfrastructureError(
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}); check access to the Debian "
                f"mirror (EDGEPROOF_DEBIAN_MIRROR). Its last output:\n{tail}")
        _upgrade_aiohttp(root)
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        tar = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
        say(f"importing {LOCAL_BASE}")
        repo, tag = LOCAL_BASE.split(":")
        client.api.import_image_from_file(
            str(tar), repository=repo, tag=tag,
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     f"LABEL {LABEL}=base"])
    return LOCAL_BASE


def _upgrade_aiohttp(root: Path) -> None:
    """Install aiohttp >= 3.9 into the chroot (bookworm ships 3.8): the wheels are fetched by
    the host's pip (its index, proxy and CA settings), then installed offline in the chroot."""
    ver = _run(["chroot", str(root), "python3", "-c",
                "import sys; print('%d%d' % sys.version_info[:2])"]).strip()
    arch = platform.machine()
    wheels = root / "tmp" / "wheels"
    plats = [f"--platform={p}_{arch}" for p in
             ("manylinux_2_36", "manylinux_2_28", "manylinux_2_17", "manylinux2014", "linux")]
    _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d",
          str(wheels), f"--python-version={ver}", "--implementation=cp", *plats, AIOHTTP])
    _run(["chroot", str(root), "python3", "-m", "pip", "install", "-q", "--no-index",
          "--find-links=/tmp/wheels", "--break-system-packages", AIOHTTP])
    shutil.rmtree(wheels, ignore_errors=True)


def _run(cmd: list[str]) -> str:
    """Run a build step; InfrastructureError with its output's tail when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-600:]}; "
            "check access to PyPI (pip's index settings), or set EDGEPROOF_DOCKER_BASE to an "
            "image with python3 and aiohttp >= 3.9")
    return proc.stdout


# ------------------------------------------------------------------ service image
def service_tag(client: Any, base: str) -> str:
    """edgeproof/service:<hash of Dockerfile, sources and base image id>."""
    parts = [(CONTEXT / "service.Dockerfile").read_bytes(), client.images.get(base).id.encode()]
    parts += [s.encode() + (REPO / s).read_bytes() for s in SERVICE_SOURCES]
    return f"edgeproof/service:{_digest(parts)}"


def build_service(client: Any, base: str, say: Say = quiet, nocache: bool = False) -> str:
    """Build the reference service image unless its tag exists."""
    tag = service_tag(client, base)
    if _has(client, tag):
        return tag
    say(f"building {tag} on {base}")
    with tempfile.TemporaryDirectory(prefix="edgeproof-ctx-") as tmp:
        ctx = Path(tmp)
        shutil.copy(CONTEXT / "service.Dockerfile", ctx / "Dockerfile")
        for src in SERVICE_SOURCES:
            (ctx / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / src, ctx / src)
        _build(client, ctx, tag, {"BASE": base}, nocache)
    return tag


def _build(client: Any, ctx: Path, tag: str, args: dict[str, str], nocache: bool = False
           ) -> None:
    import docker.errors  # cost: as above
    try:
        client.images.build(path=str(ctx), tag=tag, buildargs=args, rm=True, forcerm=True,
                            pull=False, nocache=nocache, labels={LABEL: tag.split(":")[0]})
    except docker.errors.BuildError as exc:
        tail = "".join(str(c.get("stream") or c.get("error") or "") for c in exc.build_log)
        raise InfrastructureError(
            f"building image {tag} failed: {exc.msg}; last build output:\n"
            + "\n".join(tail.strip().splitlines()[-10:])) from None


# ------------------------------------------------------------------ toxiproxy image
def is_static(binary: Path) -> bool:
    """True when an ELF executable has no program interpreter (PT_INTERP), i.e. is static."""
    with binary.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        end = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack(end + "Q", head[32:40])
        phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = (struct.unpack(end + "I", table[i * phentsize:i * phentsize + 4])[0]
             for i in range(phnum))
    return 3 not in types  # PT_INTERP


def static_toxiproxy(say: Say = quiet) -> Path:
    """A statically linked toxiproxy-server: the one we use if static, else build one."""
    found = find_toxiproxy()
    if is_static(found):
        return found
    target = repo_tools_bin() / STATIC_TOXIPROXY
    if target.is_file() and is_static(target):
        return target
    go = shutil.which("go")
    if go is None:
        raise InfrastructureError(
            f"the Toxiproxy image needs a statically linked server, {found} is dynamically "
            "linked and Go is not on PATH to build one; install Go (`apt-get install golang-go`)")
    say("building a static toxiproxy-server (CGO_ENABLED=0)")
    with tempfile.TemporaryDirectory(prefix="edgeproof-gobin-") as gobin:
        ldflags = f"-X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION.lstrip('v')}"
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [go, "install", "-ldflags", ldflags,
               f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise InfrastructureError(
                f"`CGO_ENABLED=0 {' '.join(cmd)}` failed (exit {proc.returncode}): "
                f"{proc.stderr.strip()[-800:]}; check access to the Go module proxy (GOPROXY)")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(gobin) / "server", target)
    return target


def build_toxiproxy(client: Any, say: Say = quiet, nocache: bool = False) -> str:
    """edgeproof/toxiproxy:<hash of binary and Dockerfile>, built FROM scratch if missing."""
    binary = static_toxiproxy(say)
    dockerfile = CONTEXT / "toxiproxy.Dockerfile"
    tag = f"edgeproof/toxiproxy:{_digest([dockerfile.read_bytes(), binary.read_bytes()])}"
    if _has(client, tag):
        return tag
    say(f"building {tag}")
    with tempfile.TemporaryDirectory(prefix="edgeproof-ctx-") as tmp:
        shutil.copy(dockerfile, Path(tmp) / "Dockerfile")
        shutil.copy2(binary, Path(tmp) / "toxiproxy-server")
        _build(client, Path(tmp), tag, {}, nocache)
    return tag


# ------------------------------------------------------------------ all of them
def ensure_images(client: Any, base: str | None = None, say: Say = quiet,
                  nocache: bool = False) -> Images:
    """Build whatever is missing (each step is a no-op when its tag exists); ``nocache``
    builds every step anew (a cold build: no layer of an earlier build reused)."""
    chosen = choose_base(client, base, say)
    return Images(chosen, build_service(client, chosen, say, nocache),
                  build_toxiproxy(client, say, nocache))


def timed_ensure(client: Any, base: str | None = None, say: Say = quiet,
                 nocache: bool = False) -> tuple[Images, float]:
    """ensure_images and the seconds it took (for the CLI and the benchmark)."""
    t = time.monotonic()
    return ensure_images(client, base, say, nocache), time.monotonic() - t


# ------------------------------------------------------------------ other engines
def distribute(source: Any, targets: list[Any], refs: list[str], say: Say = quiet,
               force: bool = False) -> list[str]:
    """Give each target engine the images it lacks, with no registry: ``docker save`` on
    the source engine streamed into ``docker load`` on the target (both over their engine
    APIs, chunk by chunk). An image already there with the same id is skipped unless
    ``force``. Returns ``"<ref> -> <engine>"`` for each copy made."""
    import docker.errors  # cost: as above
    copied = []
    for target in targets:
        where = str(getattr(target.api, "base_url", "?"))
        for ref in refs:
            want = source.images.get(ref).id
            try:
                if not force and target.images.get(ref).id == want:
                    continue
            except docker.errors.ImageNotFound:
                pass
            say(f"copying image {ref} to the engine at {where} (docker save | docker load)")
            target.api.load_image(source.api.get_image(ref))
            if target.images.get(ref).id != want:
                raise InfrastructureError(
                    f"copying image {ref} to the engine at {where} did not give the same "
                    "image id; load it by hand: `docker save REF | docker -H ENGINE load`")
            copied.append(f"{ref} -> {where}")
    return copied
