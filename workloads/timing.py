"""The reference service's ``Server-Timing`` header: how long a request waited, was served
and replicated, as the server measured it."""

from __future__ import annotations


def parse_server_timing(header: str) -> dict[str, float]:
    """Parse ``Server-Timing: wait;dur=1.2, service;dur=2.0`` into {name: ms}."""
    out = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out
