"""Control-plane checks of a rollout run (the nodes' ``control.jsonl`` and the history):

- ``convergence vN``: the time from the publish until every node held the version (or a
  newer one) against the model's, within ``tolerance`` (relative, of the model's range) plus
  ``slack_ms``; and the same to ``fraction`` of the nodes. A node that never got it fails.
- ``version order``: no node applies a version below one it already had, and every node
  ends on the last version published (a stale node is named with its sequence).
- ``control separation``: while only the control port is cut, the data plane's latency and
  availability stay within their baseline band.
"""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from harness import rollouts
from harness.calibrate import warmup_s
from harness.checks.config import RolloutCheck
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict, rounded
from harness.models.rollout import RolloutPrediction, time_to_fraction
from harness.phases import fault_times


def rollout_check(ev: Evidence) -> list[Verdict]:
    """Convergence per rollout, version order, and control/data separation."""
    cfg = ev.scenario.checks.rollout
    assert isinstance(cfg, RolloutCheck)
    if ev.scenario.testbed.service.control is None:
        return [Verdict("rollout", "rollout", UNKNOWN, detail=(
            "unknown: the testbed has no control plane (testbed.service.control)"))]
    if not ev.control:
        return [Verdict("rollout", "rollout", UNKNOWN, detail=(
            "unknown: no node reported an applied version (control.jsonl is empty)"))]
    times = fault_times(ev.faults)
    preds = rollouts.predictions(ev.scenario, ev.faults, ev.control)
    out = [v for p in preds for v in convergence(ev, cfg, p)]
    out.append(version_order(ev))
    out += separation(ev, cfg, times)
    return out


def convergence(ev: Evidence, cfg: RolloutCheck, pred: RolloutPrediction) -> list[Verdict]:
    """Time to every node and to ``cfg.fraction`` of them, against the model."""
    nodes = rollouts.control_nodes(ev.scenario)
    name = f"convergence v{pred.version}"
    published = rollouts.published_at(ev.scenario, ev.control).get(pred.index)
    if published is None:
        return [Verdict(name, "rollout", UNKNOWN, detail=(
            f"unknown: no root applied v{pred.version}: the publish did not happen"))]
    seen = rollouts.first_at(ev.control, pred.version)
    missing = [n for n in nodes if n not in seen]
    if missing:
        return [Verdict(name, "rollout", FAIL, predicted=rounded(pred.to_all_s, 3),
                        measured=None, detail=(
                            f"{len(missing)} of {len(nodes)} node(s) never applied "
                            f"v{pred.version} (nor a newer one): {', '.join(missing[:10])}"
                            f"{' ...' if len(missing) > 10 else ''}"),
                        evidence={"missing": missing})]
    rel = {n: t - published for n, t in seen.items() if n in nodes}
    out = []
    for q in sorted({1.0, float(cfg.fraction)}, reverse=True):
        measured = time_to_fraction(rel, q)
        lo, hi = pred.fraction_range(q)
        allowed = (lo * (1 - cfg.tolerance) - cfg.slack_ms / 1000,
                   hi * (1 + cfg.tolerance) + cfg.slack_ms / 1000)
        ok = allowed[0] <= measured <= allowed[1]
        label = name if q == 1.0 else f"{name} to {q:.0%}"
        out.append(Verdict(
            label, "rollout", PASS if ok else FAIL,
            predicted=rounded(pred.to_all_s if q == 1.0 else pred.to_fraction(q), 3),
            measured=rounded(measured, 3), tolerance=cfg.tolerance,
            detail=(f"{'every node' if q == 1.0 else f'{q:.0%} of the nodes'} "
                    f"({len(nodes)}) held v{pred.version} {measured:.3f} s after the publish; "
                    f"the model ({pred.mode}, depth {pred.depth}"
                    f"{', held by ' + '; '.join(pred.held_by) if pred.held_by else ''}) "
                    f"allows {max(allowed[0], 0):.3f}-{allowed[1]:.3f} s"),
            evidence={"range_s": [rounded(lo, 3), rounded(hi, 3)],
                      "slowest": max(rel, key=lambda n: rel[n])}))
    return out


def version_order(ev: Evidence) -> Verdict:
    """Every node's applied versions only grow, and each ends on the last one published."""
    by_node: dict[str, list[int]] = {}
    for r in ev.control:
        by_node.setdefault(r["node"], []).append(int(r["version"]))
    published = [int(r["version"]) for r in ev.control if r["from"] == "publish"]
    last = max(published) if published else None  # what was published, not scheduled
    backwards = {n: v for n, v in by_node.items() if any(b <= a for a, b in itertools.pairwise(v))}
    stale = {n: v for n, v in by_node.items() if last is not None and v and v[-1] != last}
    bad = {**stale, **backwards}
    if bad:
        words = "; ".join(f"{n}: {' -> '.join(f'v{x}' for x in v)}"
                          for n, v in list(bad.items())[:8])
        return Verdict("version order", "version_order", FAIL, predicted="versions only grow",
                       measured=f"{len(backwards)} out of order, {len(stale)} stale",
                       detail=(f"{len(backwards)} node(s) applied a version below one they "
                               f"had, {len(stale)} ended on another than v{last}: {words}"),
                       evidence={"nodes": {n: v for n, v in bad.items()}})
    return Verdict("version order", "version_order", PASS, predicted="versions only grow",
                   measured="in order", detail=(
                       f"{len(by_node)} node(s) applied {sum(map(len, by_node.values()))} "
                       f"version(s), each in order, all ending on v{last}"))


def separation(ev: Evidence, cfg: RolloutCheck,
               times: list[tuple[float, float]]) -> list[Verdict]:
    """The data plane while only the control port is cut, against the baseline."""
    sent = ev.load_ops[ev.load_ops["f"] != "recv"]
    base = next((p for p in ev.phases if p.kind == "baseline"), None)
    out = []
    for i, f in enumerate(ev.scenario.faults):
        if getattr(f, "kind", "") != "partition" or getattr(f, "port", None) != "control":
            continue
        start, end = times[i]
        name = f"control separation: {f.label()}"
        win = sent[(sent["start_s"] >= start) & (sent["start_s"] < end)]
        if base is None:
            out.append(Verdict(name, "rollout", UNKNOWN, phase=None,
                               detail="unknown: no baseline phase to compare with"))
            continue
        calm = sent[(sent["start_s"] >= max(base.start_s, warmup_s(ev.scenario)))
                    & (sent["start_s"] < base.end_s)]
        out.append(compare(name, cfg, calm, win))
    return out


def compare(name: str, cfg: RolloutCheck, calm: pd.DataFrame, win: pd.DataFrame) -> Verdict:
    """Mean latency and availability of the window against the calm baseline."""
    if len(calm) < cfg.min_samples or len(win) < cfg.min_samples:
        return Verdict(name, "rollout", UNKNOWN, detail=(
            f"unknown: not enough samples ({len(calm)} in the baseline, {len(win)} in the "
            f"window; min_samples {cfg.min_samples})"))
    lat = {k: float(d.loc[d["type"] == "ok", "latency_ms"].mean()) for k, d in
           (("calm", calm), ("win", win))}
    avail = {k: 100.0 * float((d["type"] == "ok").mean()) for k, d in
             (("calm", calm), ("win", win))}
    lat_ok = lat["win"] <= lat["calm"] * (1 + cfg.tolerance) + cfg.slack_ms
    av_ok = avail["win"] >= avail["calm"] - cfg.tolerance_pp
    ev: dict[str, Any] = {"baseline_latency_ms": rounded(lat["calm"]),
                          "baseline_availability_pct": rounded(avail["calm"], 3),
                          "window_ops": len(win)}
    return Verdict(
        name, "rollout", PASS if lat_ok and av_ok else FAIL,
        predicted=f"mean <= {lat['calm'] * (1 + cfg.tolerance) + cfg.slack_ms:.1f} ms, "
                  f"availability >= {avail['calm'] - cfg.tolerance_pp:.2f}%",
        measured=f"{lat['win']:.1f} ms, {avail['win']:.2f}%", tolerance=cfg.tolerance,
        detail=(f"with the control plane cut the data plane answered {len(win)} operations "
                f"at a mean {lat['win']:.1f} ms ({lat['calm']:.1f} ms in the baseline) and "
                f"{avail['win']:.2f}% ok ({avail['calm']:.2f}% in the baseline)"),
        evidence=ev)
