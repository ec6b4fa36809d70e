"""Staleness in `eventual` mode: PBS t-visibility (Bailis et al., "Probabilistically Bounded
Staleness for Practical Partial Quorums", VLDB 2012), for the reference service's
asynchronous push plus periodic anti-entropy.

PBS's WARS model: a write applied at node i is pushed to peer j at once and arrives after
W = L_ij + X (the link's one-way delay plus a processing delay X ~ Exp(mean e)); the client
learns of it after A; a read invoked t ms later reaches j's store after its transit plus R,
its service time at j (Exp(mean s), the node's emulated service plus timer granularity).
A and the read's transit together (``transit_ms``) shorten the push's head start.
The read is stale when W > t + A + R, so with u = t - L_ij:

    P(stale | t) = e / (e + s) * exp(-u / e)          for u >= 0
                 = 1 - s / (e + s) * exp(u / s)       for u < 0      (link up)
                 = max(0, 1 - t / T)                  (push lost; anti-entropy of period T)

and reads at the writing node itself are never stale.
"""

from __future__ import annotations

import math

import pandas as pd

BINS_MS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)


def p_stale(t_ms: float, one_way_ms: float, proc_ms: float, anti_entropy_ms: float,
            push_lost: bool = False, read_ms: float = 0.0) -> float:
    """P(a read invoked t ms after the write's acknowledgement returns an older value)."""
    if push_lost:
        return max(0.0, 1 - t_ms / anti_entropy_ms)
    e, s, u = max(proc_ms, 1e-6), max(read_ms, 1e-6), t_ms - one_way_ms
    if u >= 0:
        return e / (e + s) * math.exp(-u / e)
    return 1 - s / (e + s) * math.exp(u / s)


def read_ages(ops: pd.DataFrame) -> pd.DataFrame:
    """For every ok read: the newest ok write of its key that completed before the read
    began (from another node), how long before (t_ms), and whether the read missed it."""
    ok = ops[ops["type"] == "ok"].sort_values("start_ns")
    rows = []
    for key, grp in ok.groupby("key"):
        writes = grp[grp["f"] == "write"].sort_values("end_ns")
        if writes.empty:
            continue
        ends = writes["end_ns"].to_numpy()
        order = {v: i for i, v in enumerate(writes["value"])}
        for _, r in grp[grp["f"] == "read"].iterrows():
            idx = ends.searchsorted(r["start_ns"]) - 1
            if idx < 0:
                continue
            w = writes.iloc[idx]
            if w["node"] == r["node"]:
                continue
            got = order.get(r["value"], -1)
            rows.append({"key": key, "writer": w["node"], "reader": r["node"],
                         "t_ms": (r["start_ns"] - w["end_ns"]) / 1e6, "stale": got < idx})
    return pd.DataFrame(rows, columns=["key", "writer", "reader", "t_ms", "stale"])


def staleness_table(ages: pd.DataFrame, one_way: dict[tuple[str, str], float],
                    proc_ms: float, anti_entropy_ms: float,
                    read_ms: dict[str, float] | None = None) -> pd.DataFrame:
    """Measured vs predicted stale fraction per bin of t (ms since the write completed)."""
    if ages.empty:
        return pd.DataFrame(columns=["bin", "reads", "measured", "predicted"])
    a = ages.copy()
    reads = read_ms or {}
    a["pred"] = [p_stale(t, one_way.get((w, r), 0.0), proc_ms, anti_entropy_ms,
                         (w, r) not in one_way, reads.get(r, 0.0))
                 for t, w, r in zip(a["t_ms"], a["writer"], a["reader"], strict=True)]
    a["bin"] = pd.cut(a["t_ms"], BINS_MS, right=False)
    g = a.groupby("bin", observed=True)
    return pd.DataFrame({"reads": g.size(), "measured": g["stale"].mean(),
                         "predicted": g["pred"].mean()}).reset_index()
