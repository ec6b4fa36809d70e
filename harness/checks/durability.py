"""Durability: no acknowledged write may be lost. After the final heal the run reads every
key at every client node (the final reads, workloads/final_reads.py); this check asks of
each key whether its final value could be the last write.

A write W is *lost* when the final value comes from a write V that completed before W was
invoked: W should have superseded V, yet V survived (an acknowledged write vanished, e.g. a
write acknowledged before replication, or last-writer-wins by a lagging clock).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from workloads.final_reads import FINAL_PROCESS_BASE


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


def durability_check(ev: Evidence) -> list[Verdict]:
    """No acknowledged write lost, judged from the final reads after the heal."""
    ops = ev.ops
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
