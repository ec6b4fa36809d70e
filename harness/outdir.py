"""Output folders (``--out``) claimed by one process: two runs never write into one folder.

A claim creates the folder (a file, or a place that cannot be written, is bad input: exit 2
with the option, the value and the fix), takes an exclusive ``flock`` on ``.edgeproof.lock``
inside it (the kernel drops it when the process dies, so a SIGKILLed run leaves no stale
lock) and refuses a folder that already holds something unless ``force``: then the files a
run writes are removed first, anything else is left alone. Default folders are fresh: an
existing one gets a ``-2``, ``-3`` ... suffix, claimed by an atomic ``mkdir``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from harness.errors import ConfigError

LOCK = ".edgeproof.lock"
RUN_FILES = ("results.json", "history.jsonl", "scenario.yaml", "report.html", "junit.xml",
             "locust_stats.json", "locust_stats.log", "locust_stats.spec.json", "testbed")
EXAMPLE = "--out reports/my-run"


class OutClaim:
    """A folder this process writes into alone until :meth:`release` (or process exit)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def release(self) -> None:
        """Drop the lock (the lock file stays: removing it would let two claims race)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> OutClaim:
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def bad(option: str, path: Path, what: str) -> ConfigError:
    """The one-paragraph error of an unusable ``--out``."""
    return ConfigError(f"{option} {path}: {what}", field=option, path=str(path))


def make_folder(path: Path, option: str = "--out") -> None:
    """Create ``path`` (and its parents); a file there or an unwritable place is bad input."""
    if path.exists() and not path.is_dir():
        raise bad(option, path, "is a file, not a folder; give a folder that does not exist "
                                f"yet (it is created) or an empty one, e.g. {EXAMPLE}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bad(option, path, f"cannot create this folder ({exc.strerror or exc}); give "
                                f"a folder in a place you can write, e.g. {EXAMPLE}") from None


def lock(path: Path, option: str = "--out") -> OutClaim:
    """Take the folder's exclusive lock, or say which process holds it."""
    lock_path = path / LOCK
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise bad(option, path, f"cannot write in this folder ({exc.strerror or exc}); give "
                                f"a folder you can write, e.g. {EXAMPLE}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise bad(option, path, f"another edgeproof process (pid {holder}) is writing there "
                                "now, and two runs never share a folder; give another "
                                f"{option}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return OutClaim(path, fd)


def contents(path: Path) -> list[str]:
    """What the folder holds besides the lock file, sorted."""
    return sorted(p.name for p in path.iterdir() if p.name != LOCK)


def clear(path: Path, names: Iterable[str]) -> None:
    """Remove these entries of the folder (what an earlier run of ours wrote)."""
    for name in names:
        p = path / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def claim(path: Path, *, force: bool = False, option: str = "--out",
          owned: Iterable[str] = RUN_FILES, reusable: Callable[[Path], bool] | None = None,
          what: str = "run") -> OutClaim:
    """Claim ``path`` for one ``what`` (a run, an exploration ...): created, locked, empty
    (or ``force``: our earlier files removed; or ``reusable(path)``: kept as it is)."""
    make_folder(path, option)
    held = lock(path, option)
    found = contents(path)
    if not found or (reusable is not None and reusable(path)):
        return held
    if not force:
        held.release()
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        a = "an" if what[:1] in "aeiou" else "a"
        raise bad(option, path, f"is not empty (it holds {shown}); {a} {what} never writes "
                                "over what is there: give a new folder, or add --force to "
                                f"write there anyway (an earlier {what}'s files are "
                                "replaced, others left alone)")
    clear(path, [n for n in owned if n in found])
    return held


def claim_fresh(base: Path, *, option: str = "--out") -> OutClaim:
    """Claim a new folder at ``base``, or ``base-2``, ``base-3`` ... if that exists."""
    make_folder(base.parent, option)
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise bad(option, path, f"cannot create this folder ({exc.strerror or exc}); "
                                    f"give a folder you can write with {EXAMPLE}") from None
        return lock(path, option)
    raise bad(option, base, "999 folders of this name exist already; clean the reports "
                            f"folder or give {EXAMPLE}")


__all__ = ["LOCK", "RUN_FILES", "OutClaim", "claim", "claim_fresh", "make_folder"]
