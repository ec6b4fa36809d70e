"""The recorder's compiled hot path (``_native/recorder.c``, a CPython extension): build, load.

Why: the recorder runs twice per Locust request; in C its ``with record(...)`` and the batch
encoding of history lines cost a fraction of the Python's (issue 14 target 4). It is
optional and gives the same events and the same bytes: without the built module
(``scripts/setup.sh`` builds it; ``python -m workloads.native build`` by hand; it needs gcc
and the Python headers, Debian's ``python3-dev``), with a module older than its source or
built for another Python, or with ``EDGEPROOF_RECORDER_NATIVE=0``, the pure-Python recorder
and encoder run instead.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent / "_native"
SOURCE = HERE / "recorder.c"
NAME = "_edgeproof_recorder"
ABI = 1
CFLAGS = ("-O2", "-shared", "-fPIC", "-fno-strict-aliasing")
SWITCH = "EDGEPROOF_RECORDER_NATIVE"  # "0": the pure-Python recorder


def module_path() -> Path:
    """Where the module for this Python is built (its file name names the interpreter)."""
    return HERE / f"{NAME}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"


def headers() -> Path | None:
    """The directory holding this Python's ``Python.h``, or None when it is not installed."""
    inc = Path(sysconfig.get_paths()["include"])
    return inc if (inc / "Python.h").is_file() else None


def build(out: Path | None = None, cc: str = "gcc") -> Path:
    """Compile the module to ``out`` (atomically: a concurrent loader never sees half a
    file). Raises RuntimeError naming the fix when the Python headers are missing."""
    out = out or module_path()
    inc = headers()
    if inc is None:
        raise RuntimeError(
            f"no Python.h for {sys.executable} under {sysconfig.get_paths()['include']}: "
            "install the Python headers (Debian: apt-get install python3-dev)")
    fd, tmp = tempfile.mkstemp(prefix=f".{NAME}-", suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *CFLAGS, f"-I{inc}", "-o", tmp, str(SOURCE)], check=True)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def fresh(path: Path | None = None) -> bool:
    """True when the module exists and is not older than its source."""
    path = path or module_path()
    return path.is_file() and (not SOURCE.exists()
                               or path.stat().st_mtime >= SOURCE.stat().st_mtime)


def load(path: Path) -> ModuleType | None:
    """The extension module at ``path``, or None if it does not load or has another ABI."""
    spec = importlib.util.spec_from_file_location(NAME, path)
    if spec is None or spec.loader is None:
        return None
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except ImportError:
        return None
    return mod if getattr(mod, "ABI", None) == ABI else None


@cache
def module() -> ModuleType | None:
    """The built module, or None (not built, stale, disabled by EDGEPROOF_RECORDER_NATIVE=0)."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    if not fresh():
        if module_path().is_file():  # built once, then its source changed: say so
            logging.getLogger("edgeproof.recorder").warning(
                "%s is older than %s: the pure-Python recorder runs; rebuild it with "
                "`.venv/bin/python -m workloads.native build`", module_path().name, SOURCE)
        return None
    return load(module_path())


def main(argv: list[str] | None = None) -> int:
    """``build [--if-stale]``: compile the module (exit 1 when it cannot be built)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "build":
        print("usage: python -m workloads.native build [--if-stale]", file=sys.stderr)
        return 2
    if "--if-stale" in args and fresh() and load(module_path()) is not None:
        return 0
    try:
        print(f"built {build()}")
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"workloads.native: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
