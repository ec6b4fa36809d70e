"""Names that become folder names (a scenario's, a fleet's): what a name may be, and the safe
folder name made from it.

Why: ``name: ../../../escaped`` once wrote outside the reports folder. A name is refused when
it is empty, over ``NAME_MAX`` characters, or holds ``/``, ``..`` or a control character;
anything else is allowed (spaces, capitals, dots) and :func:`safe_name` turns it into a
folder name of letters, digits, ``.``, ``_`` and ``-``, so names that work today keep their
folders.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 100
_UNSAFE = re.compile(r"[^\w.-]+")  # \w: letters (any script), digits, '_'
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run (None: it can)."""
    if not name.strip():
        return "a name cannot be empty; give one, e.g. quorum-partition"
    if len(name) > NAME_MAX:
        return f"a name has at most {NAME_MAX} characters ({len(name)} given); shorten it"
    if "/" in name or ".." in name:
        return (f"{name!r} holds '/' or '..', which would make it a path; use letters, digits, "
                "'-', '_', '.' and spaces, e.g. quorum-partition")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        return (f"{name!r} holds the control character U+{ord(bad):04X}; remove it (a name "
                "is one line of text)")
    return None


def check_name(name: str) -> str:
    """``name`` if it can name a run; ValueError saying why not (a pydantic validator)."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def safe_name(name: str, default: str = "run") -> str:
    """A folder name from ``name``: runs of other characters become one '-', no '..', no
    leading or trailing '-' or '.'; ``default`` when nothing is left."""
    out = _DOTS.sub(".", _DASHES.sub("-", _UNSAFE.sub("-", name))).strip("-.")
    return out[:80].rstrip("-.") or default
