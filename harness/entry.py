"""The ``edgeproof`` console script: ``check HISTORY.jsonl`` on a fast path, the rest by
:mod:`harness.cli`.

Why: checking a history is often scripted over many files, where the CLI's start-up (typer,
rich: ~0.3 s) would dominate; the fast path imports only the checker and prints the same
lines. Anything it does not recognise (other commands, ``--help``, a run directory, another
option) goes to the full CLI, which owns every message.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

FLAGS = {"--json"}
VALUED = {"--model", "--budget-s"}


def check_args(argv: list[str]) -> dict[str, str] | None:
    """The options of ``check FILE [--model M] [--json] [--budget-s S]`` as plain values, or
    None when the command line is anything else (the full CLI takes it)."""
    if not argv or argv[0] != "check":
        return None
    got: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if arg in FLAGS:
            got[arg] = "1"
        elif name in VALUED and eq:
            got[name] = value
        elif arg in VALUED and rest:
            got[arg] = rest.pop(0)
        elif not arg.startswith("-") and "file" not in got:
            got["file"] = arg
        else:
            return None
    return got if "file" in got and Path(got["file"]).is_file() else None


def fast_check(args: dict[str, str]) -> int:
    """``edgeproof check FILE``: the verdict (and witness tables) as the full CLI prints
    them; exit 0 holds, 1 violated or unknown, 2 bad input."""
    from harness import check_command  # cost: the checker, on this path only
    from harness.errors import EdgeproofError  # cost: as above (a leaf, kept beside it)

    try:
        budget = float(args.get("--budget-s", "30"))
    except ValueError:
        return -1
    if not (math.isfinite(budget) and budget > 0):
        return -1  # the full CLI says what is wrong with it
    try:
        res = check_command.run_check(args["file"], args.get("--model", "linearizable"),
                                      budget)
    except EdgeproofError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if "--json" in args:
        print(check_command.as_json(res))
    else:
        tables = check_command.witness_tables(res)
        if tables:
            from rich.console import Console  # cost: rich, only to draw a witness

            con = Console()
            for t in tables:
                con.print(t)
        print(res.summary())
    return 0 if res.verdict == "pass" else 1


def main() -> None:
    """The console script."""
    args = check_args(sys.argv[1:])
    if args is not None:
        code = fast_check(args)
        if code >= 0:
            sys.exit(code)
    from harness.cli import main as full  # cost: typer and rich, for every other command

    full()
