"""Final reads: after the last heal, read every key at every client node once and append
the reads to the history (as processes of their own), so that history checks (durability,
lost updates, consistency) judge the state the system kept. A workload step, not a check:
it writes the history before any check reads it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from workloads.history import HistoryWriter
from workloads.spec import WorkloadSpec

FINAL_PROCESS_BASE = 10_000_000  # history processes of the final reads


def final_reads(workload: WorkloadSpec, targets: list[tuple[str, str]], history_path: str,
                converge_s: float = 0.0) -> int:
    """Read every key at every client node once, recording invoke/ok|fail|info events.

    With ``converge_s`` (eventual mode) first wait, probing, until every node returns the same
    value for every key, or at most that long: anti-entropy needs its period to converge."""
    if workload.locustfile != "builtin:kv":
        return 0
    keys = workload.keys_used
    with httpx.Client(timeout=workload.timeout_ms / 1000, trust_env=False) as http:
        if converge_s > 0:
            wait_converged(http, targets, keys, converge_s)
        writer = HistoryWriter(history_path)
        n = 0
        try:
            for i, (node, url) in enumerate(targets):
                proc = FINAL_PROCESS_BASE + i
                for key in keys:
                    writer.append(proc, "invoke", "read", key, None, node)
                    writer.append(proc, *_read(http, url, key), node)
                    n += 1
        finally:
            writer.close()
    return n


def wait_converged(http: httpx.Client, targets: list[tuple[str, str]], keys: list[str],
                   timeout_s: float) -> bool:
    """Probe until all nodes agree on every key (True) or the deadline passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        views = [[_read(http, url, k)[3] for k in keys] for _, url in targets]
        if all(v == views[0] for v in views) or time.monotonic() > deadline:
            return all(v == views[0] for v in views)
        time.sleep(0.05)  # between probe rounds, bounded by the deadline


def _read(http: httpx.Client, url: str, key: str) -> tuple[str, str, str, Any]:
    try:
        r = http.get(f"{url}/kv/{key}")
    except httpx.TimeoutException:
        return "info", "read", key, None
    except httpx.HTTPError:
        return "fail", "read", key, None
    if r.status_code in (200, 404):
        return "ok", "read", key, r.json().get("value")
    return "fail", "read", key, None
