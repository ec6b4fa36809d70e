"""Durability: no acknowledged write may be lost. After the final heal the harness reads every
key at every client node (the "final reads", appended to the history as processes of their
own); the check then asks of each key whether its final value could be the last write.

A write W is *lost* when the final value comes from a write V that completed before W was
invoked: W should have superseded V, yet V survived (an acknowledged write vanished, e.g. a
write acknowledged before replication, or last-writer-wins by a lagging clock).
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pandas as pd

from harness.scenario import Scenario
from workloads.history import HistoryWriter

FINAL_PROCESS_BASE = 10_000_000  # history processes of the final reads


def keys_of(scn: Scenario) -> list[str]:
    """The keys builtin:kv uses."""
    return [f"k{i}" for i in range(scn.workload.keys)]


def final_reads(scn: Scenario, targets: list[tuple[str, str]], history_path: str,
                converge_s: float = 0.0) -> int:
    """Read every key at every client node once, recording invoke/ok|fail|info events.

    With ``converge_s`` (eventual mode) first wait, probing, until every node returns the same
    value for every key, or at most that long: anti-entropy needs its period to converge."""
    if scn.workload.locustfile != "builtin:kv":
        return 0
    timeout_s = scn.workload.timeout_ms / 1000
    with httpx.Client(timeout=timeout_s, trust_env=False) as http:
        if converge_s > 0:
            wait_converged(http, targets, keys_of(scn), converge_s)
        writer = HistoryWriter(history_path)
        n = 0
        try:
            for i, (node, url) in enumerate(targets):
                proc = FINAL_PROCESS_BASE + i
                for key in keys_of(scn):
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


def lost_writes(ops: pd.DataFrame) -> tuple[list[dict[str, Any]], int, list[str]]:
    """(lost writes, keys checked, keys whose final value no write wrote)."""
    final = ops[(ops["process"] >= FINAL_PROCESS_BASE) & (ops["type"] == "ok")]
    load = ops[ops["process"] < FINAL_PROCESS_BASE]
    writes = load[load["f"] == "write"]
    lost: list[dict[str, Any]] = []
    corrupt: list[str] = []
    checked = 0
    for key, reads in final.groupby("key"):
        kw = writes[writes["key"] == key]
        for value in {_hashable(v) for v in reads["value"]}:
            checked += 1
            ok = kw[kw["type"] == "ok"]
            if value is None:
                lost += [_row(w) for _, w in ok.iterrows()]
                continue
            src = kw[kw["value"].map(_hashable) == value]
            if src.empty:
                corrupt.append(str(key))
                continue
            done = src["end_ns"].fillna(math.inf).min()
            lost += [_row(w) for _, w in ok[ok["start_ns"] > done].iterrows()]
    return lost, checked, corrupt


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _row(w: Any) -> dict[str, Any]:
    return {"process": int(w["process"]), "key": w["key"], "value": w["value"],
            "node": w["node"], "start_ns": int(w["start_ns"]), "end_ns": int(w["end_ns"])}


def durability_check(scn: Scenario, ops: pd.DataFrame) -> list[Any]:
    """No acknowledged write lost, judged from the final reads after the heal."""
    from harness.checks import FAIL, PASS, UNKNOWN, Verdict
    if not (ops["process"] >= FINAL_PROCESS_BASE).any():
        return [Verdict("durability", "durability", UNKNOWN, detail="no final reads were "
                        "taken (only builtin:kv workloads get them)")]
    lost, checked, corrupt = lost_writes(ops)
    acked = int(((ops["f"] == "write") & (ops["type"] == "ok")
                 & (ops["process"] < FINAL_PROCESS_BASE)).sum())
    if not lost and not corrupt:
        return [Verdict("durability", "durability", PASS, 0, 0, 0,
                        f"all {acked} acknowledged writes survive: every key's final value "
                        f"({checked} checked after the heal) is a write no later write "
                        "should have superseded")]
    first = lost[0] if lost else None
    why = (f"write {first['value']} of {first['key']!r} (process {first['process']}, at "
           f"{first['node']}) was acknowledged after the final value's write completed, "
           "yet it is gone" if first else f"keys {corrupt[:5]} hold values nobody wrote")
    return [Verdict("durability", "durability", FAIL, 0, len(lost), 0,
                    f"{len(lost)} of {acked} acknowledged writes lost: {why}",
                    {"lost": lost[:20], "corrupt_keys": corrupt[:20]})]
