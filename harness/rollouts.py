"""The control plane's evidence: every version each node applied, when, and from whom.

Collected from the nodes once the run has healed, into the run directory's
``control.jsonl`` (one applied version per line: ``node``, ``version``, ``t_ns`` on the
harness's monotonic clock, ``t_s`` after t0, ``from``); read back by ``edgeproof check
RUN_DIR``. A rollout's phase ``rollout vN`` ends when every node has applied the version (or
a newer one), or when the next fault starts, whichever is first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from faults.rollout import Rollout
from harness.errors import InfrastructureError
from harness.models.rollout import RolloutPrediction, Tree, predict_rollouts
from harness.phases import apply_done
from harness.scenario import Scenario

if TYPE_CHECKING:  # cost: the testbed's imports only for the annotation
    from testbeds.base import Testbed

CONTROL_FILE = "control.jsonl"
INITIAL_VERSION = 1  # rolled out before the load: the calibration of the hop delay


def collect(tb: Testbed, out: Path, t0_ns: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Every node's applied versions, in time order, written to ``control.jsonl``; and the
    nodes that did not answer (their versions are unknown)."""
    logs = tb.control_logs()
    silent = sorted(n for n, log in logs.items() if log is None)
    rows = [{"node": n, "version": int(e["version"]), "t_ns": int(e["t_ns"]),
             "t_s": (int(e["t_ns"]) - t0_ns) / 1e9, "from": e.get("from")}
            for n, log in logs.items() for e in log or []]
    rows.sort(key=lambda r: (r["t_ns"], r["node"]))
    if logs:
        with (out / CONTROL_FILE).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows, silent


def roll_out_initial(tb: Testbed, timeout_s: float = 60.0) -> bool:
    """Publish v1 (as a rollout of the schedule would) and wait, bounded, until every node
    holds it: the control plane works, and its hops' own delays are measured before the load
    (True when it converged). A root that refuses it is an infrastructure error."""
    try:
        Rollout(INITIAL_VERSION).apply(tb)
    except (RuntimeError, httpx.HTTPError) as exc:
        raise InfrastructureError(
            f"the control plane did not take the initial config v1: {exc}; see the nodes' "
            "logs under the run directory's testbed/", tool="control plane") from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(tb.control_logs().values()):
            return True
        time.sleep(0.2)  # a bounded poll of the nodes' logs: their own readiness signal
    return False


def hop_delays_ms(scn: Scenario, applies: list[dict[str, Any]]) -> list[float]:
    """Each hop's own delay in the initial rollout (v1, before the load): the child's apply
    minus its parent's, less the link's one-way latency (push only: a pull's wait is the
    poll's, not the hop's)."""
    tb = scn.testbed
    if tb.service.control is None or tb.service.control.mode != "push":
        return []
    at = {r["node"]: r["t_s"] for r in applies if r["version"] == INITIAL_VERSION}
    up = Tree.of(scn).uplink_s
    return [max(0.0, (at[n.name] - at[n.parent]) * 1000 - 1000 * up.get(n.name, 0.0))
            for n in tb.nodes if n.parent in at and n.name in at]


def cut_windows(faults: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(apply done, heal began) per fault: a cut holds once its apply has returned and ends
    as its heal begins (a node's restart may take longer, a cable's mend does not)."""
    return [(apply_done(f),
             f["healed_at_s"] if f.get("healed_at_s") is not None else f["at_s"] + f["for_s"])
            for f in faults]


def predictions(scn: Scenario, faults: list[dict[str, Any]],
                applies: list[dict[str, Any]]) -> list[RolloutPrediction]:
    """The rollout model for a finished run: the actual publish and cut times, each hop's
    delay from the initial rollout."""
    return predict_rollouts(scn, cut_windows(faults), published_at(scn, applies),
                            hop_delays_ms(scn, applies) or None)


def read(out: Path) -> list[dict[str, Any]]:
    """A run directory's control log (empty when the run had no control plane)."""
    path = out / CONTROL_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def first_at(applies: list[dict[str, Any]], version: int) -> dict[str, float]:
    """Per node, when it first held ``version`` or a newer one (s after t0)."""
    out: dict[str, float] = {}
    for r in applies:
        if r["version"] >= version and r["node"] not in out:
            out[r["node"]] = float(r["t_s"])
    return out


def control_nodes(scn: Scenario) -> list[str]:
    """The nodes a rollout must reach: every reference node of the tree."""
    return [n.name for n in scn.testbed.nodes if n.is_reference]


def published_at(scn: Scenario, applies: list[dict[str, Any]]) -> dict[int, float]:
    """Per rollout (fault index), when its root applied it: the publish, as the nodes saw it."""
    out = {}
    for i, f in enumerate(scn.faults):
        if getattr(f, "kind", "") == "rollout":
            at = [r["t_s"] for r in applies if r["version"] == f.version
                  and r["from"] == "publish"]
            if at:
                out[i] = float(min(at))
    return out


def end_rollouts(scn: Scenario, faults: list[dict[str, Any]],
                 applies: list[dict[str, Any]]) -> None:
    """Close each rollout's window: at convergence, at the next fault's start, or at the end
    of the load, whichever comes first; ``converged_at_s`` and ``converged_nodes`` say how
    far it got."""
    nodes = control_nodes(scn)
    starts = sorted((f["applied_at_s"] if f.get("applied_at_s") is not None else f["at_s"], i)
                    for i, f in enumerate(faults))
    for i, f in enumerate(faults):
        if f.get("kind") != "rollout":
            continue
        begin = f["applied_at_s"] if f.get("applied_at_s") is not None else f["at_s"]
        seen = first_at(applies, int(scn.faults[i].version))
        done = max(seen.values()) if seen and all(n in seen for n in nodes) else None
        nxt = min((t for t, j in starts if t > begin and j != i),
                  default=scn.workload.duration_s)
        end = min(done if done is not None else scn.workload.duration_s, nxt,
                  scn.workload.duration_s)
        f.update(healed_at_s=max(begin, end), heal_took_s=0.0, converged_at_s=done,
                 converged_nodes=sum(n in seen for n in nodes), control_nodes=len(nodes))
