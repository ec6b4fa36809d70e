"""Delivery checks of a pipeline history (``f: send`` / ``f: recv``, value = message id):
the reference pipeline's or a user's own (an MQTT bridge, a NATS leaf node).

- ``delivery``: every acked send reaches a sink, except the overflow loss the model
  predicts; lost and duplicated counts per gateway and per phase, the lost ids named.
- ``pipeline`` (reference pipeline, needs the model): end-to-end latency per phase against
  the tandem model; no delay above the network-calculus bound (one violation fails, with the
  reading named); per cut, the backlog at the heal and the drain time after it against the
  prediction; ingest availability at the cut gateways during the cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.calibrate import pipeline_overhead, warmup_s
from harness.checks.config import DeliveryCheck, PipelineCheck
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict, rounded
from harness.measure import wilson_interval
from harness.models.pipeline import Cut, PipelinePrediction, predict_pipeline
from harness.phases import Phase, rollout_only


@dataclass
class Flow:
    """Sends and receipts paired by message id (the delivery evidence)."""

    sends: pd.DataFrame  # one row per send op: value (id), node, type, start_s, end_s
    first_recv: pd.Series  # id -> the first receipt's time (s from t0)
    recv_count: pd.Series  # id -> receipts

    @classmethod
    def of(cls, ops: pd.DataFrame) -> Flow:
        sends = ops[ops["f"] == "send"].copy()
        sends["value"] = sends["value"].astype(str)
        recv = ops[(ops["f"] == "recv") & (ops["type"] == "ok")]
        ids = recv["value"].astype(str)
        first = recv.groupby(ids)["end_s"].min() if len(recv) else pd.Series(dtype=float)
        count = ids.value_counts() if len(recv) else pd.Series(dtype=int)
        return cls(sends, first, count)

    @property
    def acked(self) -> pd.DataFrame:
        return self.sends[self.sends["type"] == "ok"]

    def lost(self) -> pd.DataFrame:
        """Acked sends never received."""
        a = self.acked
        return a[~a["value"].isin(self.first_recv.index)]

    def latency_ms(self, rows: pd.DataFrame) -> pd.Series:
        """First receipt minus send start, for the rows that were received."""
        got = rows[rows["value"].isin(self.first_recv.index)]
        return (got["value"].map(self.first_recv) - got["start_s"]) * 1000.0


def delivery_check(ev: Evidence) -> list[Verdict]:
    """Acked sends that never arrived, against the loss the model predicts."""
    cfg = ev.scenario.checks.delivery
    assert isinstance(cfg, DeliveryCheck)
    flow = Flow.of(ev.load_ops)
    acked = flow.acked
    if acked.empty:
        return [Verdict("delivery", "delivery", UNKNOWN, detail=(
            "unknown: no acked send in the history (f: send, type ok); nothing to deliver"))]
    if flow.first_recv.empty:
        return [Verdict("delivery", "delivery", UNKNOWN, detail=(
            "unknown: no receipt in the history (f: recv): is anything watching the sink? "
            f"({len(acked)} acked sends)"))]
    lost = flow.lost()
    refused = flow.sends[flow.sends["type"] == "fail"]
    dups = int((flow.recv_count - 1).clip(lower=0).sum())
    pred = predict_pipeline(ev.scenario)
    cuts = pred.cuts if pred else []
    predicted = sum(c.loss for c in cuts)
    where = set().union(*(c.gateways for c in cuts)) if cuts else set()
    measured = len(lost) + (len(refused[refused["node"].isin(where)]) if predicted else 0)
    evidence = _delivery_evidence(flow, lost, refused, dups, ev.phases)
    stray = lost[~lost["node"].isin(where)] if predicted else lost
    if predicted <= 0 or not stray.empty:
        ok = lost.empty
        detail = (f"all {len(acked)} acked readings reached the sink ({dups} duplicates)"
                  if ok else f"{len(lost)} of {len(acked)} acked readings never reached the "
                  f"sink, e.g. {_named(lost)}; the model predicts no loss there")
        return [Verdict("delivery", "delivery", PASS if ok else FAIL, predicted=0,
                        measured=len(lost), tolerance=0, detail=detail, evidence=evidence)]
    low, high = predicted * (1 - cfg.loss_tolerance), predicted * (1 + cfg.loss_tolerance)
    ok = low <= measured <= high
    detail = (f"{measured} readings lost or refused at the cut gateways ({len(lost)} acked and "
              f"lost, e.g. {_named(lost)}; {measured - len(lost)} refused), predicted "
              f"{predicted:.0f} (+-{cfg.loss_tolerance:.0%}); {dups} duplicates")
    return [Verdict("delivery", "delivery", PASS if ok else FAIL, predicted=rounded(predicted),
                    measured=measured, tolerance=cfg.loss_tolerance, detail=detail,
                    evidence=evidence)]


def _named(rows: pd.DataFrame, n: int = 3) -> str:
    if rows.empty:
        return "none"
    return ", ".join(f"{r.value} (sent at {r.start_s:.2f} s via {r.node})"
                     for r in rows.head(n).itertuples())


def _delivery_evidence(flow: Flow, lost: pd.DataFrame, refused: pd.DataFrame, dups: int,
                       phs: list[Phase]) -> dict[str, Any]:
    """Counts per gateway and per phase, and the span of what was lost and refused (which
    readings a policy gave up: the oldest of a cut or the newest)."""
    def span(rows: pd.DataFrame) -> list[float] | None:
        return None if rows.empty else [round(float(rows["start_s"].min()), 3),
                                        round(float(rows["start_s"].max()), 3)]
    per_gw: dict[str, dict[str, int]] = {}
    dup_ids = flow.recv_count[flow.recv_count > 1]
    node_of = dict(zip(flow.sends["value"], flow.sends["node"], strict=False))
    for gw, rows in flow.sends.groupby("node"):
        per_gw[str(gw)] = {"acked": int((rows["type"] == "ok").sum()),
                           "lost": int((lost["node"] == gw).sum()),
                           "refused": int((refused["node"] == gw).sum()),
                           "duplicated": int(sum(1 for i in dup_ids.index
                                                 if node_of.get(i) == gw))}
    per_phase: dict[str, dict[str, int]] = {}
    for name, rows in [(p.name, flow.sends[(flow.sends["start_s"] >= p.start_s)
                                           & (flow.sends["start_s"] < p.end_s)]) for p in phs]:
        per_phase[name] = {"acked": int((rows["type"] == "ok").sum()),
                           "lost": int(rows["value"].isin(lost["value"]).sum()),
                           "refused": int((rows["type"] == "fail").sum())}
    return {"acked": len(flow.acked), "received": len(flow.first_recv),
            "lost": len(lost), "refused": len(refused), "duplicates": dups,
            "lost_ids": lost["value"].head(20).tolist(), "lost_span_s": span(lost),
            "refused_span_s": span(refused), "per_gateway": per_gw, "per_phase": per_phase}


def pipeline_check(ev: Evidence) -> list[Verdict]:
    """Latency, bound, backlog, drain and edge availability of the reference pipeline."""
    cfg = ev.scenario.checks.pipeline
    assert isinstance(cfg, PipelineCheck)
    pred = predict_pipeline(ev.scenario)
    if pred is None:
        return [Verdict("pipeline", "pipeline", UNKNOWN, detail=(
            "unknown: the pipeline models need a tiered testbed of reference nodes and "
            "builtin:devices; use the delivery check for a pipeline of your own"))]
    flow = Flow.of(ev.load_ops)
    raw = calibrated_pipeline(ev, pred, flow, capped=False)
    out = _overhead(cfg, raw, _warmup_phase(ev))
    pred = raw.with_overhead_capped(cfg.max_overhead_ms)
    calm = _calm(ev, pred, flow)
    out += _latency(ev, cfg, pred, flow, calm)
    out += _bound(cfg, pred, flow, calm)
    for cut in pred.cuts:
        out += _cut(ev, cfg, pred, flow, cut)
    return out


def calibrated_pipeline(ev: Evidence, pred: PipelinePrediction, flow: Flow | None = None,
                        capped: bool = True) -> PipelinePrediction:
    """The prediction with the platform's path overhead as the warm-up measured it (its
    readings are never judged): what a backend's proxies, HTTP and timers add per path;
    ``capped``: at most ``checks.pipeline.max_overhead_ms`` of it, as the checks use it."""
    flow = flow if flow is not None else Flow.of(ev.load_ops)
    acked = flow.acked
    mean, peak = pipeline_overhead(ev.scenario, pred.e2e_mean_ms, acked, flow.latency_ms(acked))
    out = pred.with_overhead(mean, peak)
    if not capped:
        return out
    cfg = ev.scenario.checks.pipeline
    cap = cfg.max_overhead_ms if isinstance(cfg, PipelineCheck) else PipelineCheck().max_overhead_ms
    return out.with_overhead_capped(float(cap))


def _warmup_phase(ev: Evidence) -> str | None:
    """The phase the warm-up falls in (its headroom gates what the warm-up measured)."""
    return ev.phases[0].name if ev.phases else None


def _overhead(cfg: PipelineCheck, pred: PipelinePrediction,
              phase: str | None) -> list[Verdict]:
    """The warm-up's path overhead against ``max_overhead_ms``: a system slow from the
    start must not become its own baseline (nothing when none was calibrated)."""
    if not pred.overhead_ms:
        return []
    worst = max(pred.overhead_ms, key=lambda g: pred.overhead_ms[g])
    ms, cap = pred.overhead_ms[worst], float(cfg.max_overhead_ms)
    ok = ms <= cap
    detail = (f"the warm-up's readings took {ms:.1f} ms more than the tandem model on the "
              f"path of {worst} (the most of {len(pred.overhead_ms)} gateways), against at "
              f"most {cap:g} ms of platform overhead (checks.pipeline.max_overhead_ms)")
    if not ok:
        detail += (f"; the models take {cap:g} ms of it: the rest is the system's own "
                   "slowness, or raise max_overhead_ms to what this platform is known to add")
    return [Verdict("platform overhead", "pipeline_overhead", PASS if ok else FAIL, cap,
                    rounded(ms), cap, detail, phase=phase)]


def _overhead_note(pred: PipelinePrediction, gateways: Any, peak: bool = False) -> str:
    got = [(pred.overhead_peak_ms if peak else pred.overhead_ms).get(str(g)) for g in gateways]
    got = [g for g in got if g is not None]
    if not got:
        return "; no platform overhead calibrated (too few warm-up readings)"
    what = "99th-percentile" if peak else "mean"
    return (f"; the model includes the platform's {what} path overhead of "
            f"{float(np.mean(got)):.1f} ms measured in the warm-up")


def disturbed(ev: Evidence, pred: PipelinePrediction, flow: Flow) -> set[str]:
    """Ids of readings a cut touched: from a gateway below it, alive (sent, not yet
    received) at any time from the cut until the predicted drain after its heal ended (the
    latest drain of its range: a heal late in a retry cycle drains later)."""
    out: set[str] = set()
    acked = flow.acked
    recv = acked["value"].map(flow.first_recv)
    for cut in pred.cuts:
        f = ev.faults[cut.fault] if cut.fault < len(ev.faults) else {}
        at, healed = f.get("at_s"), f.get("healed_at_s")
        if at is None or healed is None:
            continue
        drain = cut.drain_s if cut.drain_s is not None else 600.0
        if cut.drain_range_s is not None:
            drain = max(drain, cut.drain_range_s[1])
        end = float(healed) + drain
        hit = (acked["node"].isin(cut.gateways) & (acked["start_s"] < end)
               & (recv.isna() | (recv > float(at))))
        out |= set(acked.loc[hit, "value"])
    return out


def _calm(ev: Evidence, pred: PipelinePrediction, flow: Flow) -> pd.DataFrame:
    """The acked sends the calm models judge: after the warm-up (connections opening, every
    device's first send) and untouched by any cut or its drain."""
    acked = flow.acked
    return acked[~acked["value"].isin(disturbed(ev, pred, flow))
                 & (acked["start_s"] >= warmup_s(ev.scenario))]


def _latency(ev: Evidence, cfg: PipelineCheck, pred: PipelinePrediction, flow: Flow,
             calm: pd.DataFrame) -> list[Verdict]:
    out = []
    for ph in ev.phases:
        rows = calm[(calm["start_s"] >= ph.start_s) & (calm["start_s"] < ph.end_s)]
        lat = flow.latency_ms(rows)
        name = f"e2e latency[{ph.name}]"
        weights = rows.loc[lat.index, "node"].map(pred.e2e_mean_ms)
        predicted = float(weights.mean()) if len(weights) else float("nan")
        if len(lat) < cfg.min_samples and rollout_only(ev.scenario, ph):
            continue  # a short rollout window: the rollout check judges it
        if len(lat) < cfg.min_samples:
            out.append(Verdict(name, "e2e_latency", UNKNOWN, rounded(predicted), len(lat),
                               cfg.tolerance, f"unknown: {len(lat)} readings received, "
                               f"{cfg.min_samples} needed", phase=ph.name))
            continue
        measured = float(lat.mean())
        err = measured / predicted - 1
        ok = abs(err) <= cfg.tolerance
        out.append(Verdict(name, "e2e_latency", PASS if ok else FAIL, rounded(predicted),
                           rounded(measured), cfg.tolerance,
                           f"mean send-to-sink {measured:.1f} ms vs tandem model "
                           f"{predicted:.1f} ms ({err:+.1%}; {len(lat)} readings, those a "
                           "cut or its drain held left out"
                           + _overhead_note(pred, rows["node"].unique()) + ")",
                           evidence={"p99_ms": rounded(float(np.percentile(lat, 99)))},
                           phase=ph.name))
    return out


def _bound(cfg: PipelineCheck, pred: PipelinePrediction, flow: Flow,
           calm: pd.DataFrame) -> list[Verdict]:
    if all(b is None for b in pred.nc_bound_ms.values()):
        why = "; ".join(pred.notes) or "a hop's arrival rate exceeds its service rate"
        return [Verdict("delay bound", "delay_bound", UNKNOWN,
                        detail=f"unknown: {why}")]
    slack = cfg.slack_ms
    worst: tuple[float, str, str, float] | None = None
    lat = flow.latency_ms(calm)
    n = len(lat)
    for idx, ms in lat.items():
        gw = str(calm.at[idx, "node"])
        b = pred.nc_bound_ms.get(gw)
        if b is None:
            continue
        excess = ms - (b + slack)
        if worst is None or excess > worst[0]:
            worst = (excess, str(calm.at[idx, "value"]), gw, ms)
    if worst is None:
        return [Verdict("delay bound", "delay_bound", UNKNOWN,
                        detail="unknown: no received reading to hold against the bound")]
    bound = max(b for b in pred.nc_bound_ms.values() if b is not None)
    ok = worst[0] <= 0
    detail = (f"no reading of {n} (after the warm-up, untouched by a cut) took longer than "
              f"its network-calculus bound + {slack:.0f} ms slack (closest: {worst[1]} via "
              f"{worst[2]}, {worst[3]:.1f} ms)" if ok else
              f"reading {worst[1]} via {worst[2]} took {worst[3]:.1f} ms, "
              f"{worst[0]:.1f} ms over its bound + {slack:.0f} ms slack")
    detail += _overhead_note(pred, calm["node"].unique(), peak=True)
    return [Verdict("delay bound", "delay_bound", PASS if ok else FAIL, rounded(bound),
                    rounded(worst[3]), slack, detail,
                    evidence={"bounds_ms": {k: rounded(v) for k, v in pred.nc_bound_ms.items()},
                              "worst_id": worst[1]})]


def outstanding(flow: Flow, gateways: set[str], times: np.ndarray) -> np.ndarray:
    """Readings acked by the gateways by each time and received later: what the pipeline
    held then (lost ones left out: a buffer no longer holds what it dropped)."""
    rows = flow.acked[flow.acked["node"].isin(gateways)
                      & flow.acked["value"].isin(flow.first_recv.index)]
    acked_at = np.sort(rows["end_s"].to_numpy())
    recv_at = np.sort(rows["value"].map(flow.first_recv).to_numpy())
    return (np.searchsorted(acked_at, times, side="right")
            - np.searchsorted(recv_at, times, side="right"))


def _cut(ev: Evidence, cfg: PipelineCheck, pred: PipelinePrediction, flow: Flow,
         cut: Cut) -> list[Verdict]:
    f = ev.faults[cut.fault] if cut.fault < len(ev.faults) else {}
    at, healed = f.get("at_s"), f.get("healed_at_s")
    label = f"{f.get('kind', 'fault')} {f.get('target', cut.node)}"
    if at is None or healed is None:
        return [Verdict(f"backlog[{label}]", "backlog", UNKNOWN,
                        detail="unknown: the fault has no apply and heal time")]
    gws = set(cut.gateways)
    base = ev.phases[0]
    calm = np.arange(max(base.start_s, warmup_s(ev.scenario)), base.end_s, 0.1)
    floor = float(np.percentile(outstanding(flow, gws, calm), 95)) if len(calm) else 0.0
    held = float(outstanding(flow, gws, np.array([float(healed)]))[0]) - floor
    tol = cfg.tolerance
    out = [_within(f"backlog[{label}]", "backlog", cut.backlog, held, tol,
                   f"readings held at {cut.node} at the heal", "readings")]
    t = np.arange(float(healed), float(healed) + 600.0, 0.05)
    t = t[t <= float(flow.first_recv.max()) + 0.05] if len(flow.first_recv) else t[:0]
    level = outstanding(flow, gws, t)
    back = np.nonzero(level <= floor)[0]
    drained = float(t[back[0]] - float(healed)) if len(back) else None
    if cut.drain_s is None or drained is None:
        out.append(Verdict(f"drain[{label}]", "drain", UNKNOWN, rounded(cut.drain_s),
                           rounded(drained), tol, "unknown: " + (
                               "the uplink cannot catch up (mu <= lambda)" if cut.drain_s is
                               None else "the backlog never fell back to its baseline level"),
                           phase=None))
    else:
        lo, hi = cut.drain_range_s or (cut.drain_s, cut.drain_s)
        ok = lo * (1 - tol) <= drained <= hi * (1 + tol)
        out.append(Verdict(
            f"drain[{label}]", "drain", PASS if ok else FAIL, rounded(cut.drain_s),
            rounded(drained), tol,
            f"{drained:.2f} s from the heal until {cut.node}'s backlog was back to its "
            f"baseline ({floor:.0f} readings); predicted {cut.drain_s:.2f} s on average, "
            f"{lo:.2f}-{hi:.2f} s as the heal falls early or late in a retry cycle "
            f"(timeout + backoff), +-{tol:.0%} beyond that"))
    sends = flow.sends[flow.sends["node"].isin(gws) & (flow.sends["start_s"] >= float(at))
                       & (flow.sends["start_s"] < float(healed))]
    okn, n = int((sends["type"] == "ok").sum()), len(sends)
    policy = ev.scenario.testbed.node(cut.node).buffer.overflow
    if (ev.scenario.testbed.service.pipeline.ack == "upstream"
            and cut.node in ev.scenario.testbed.client_nodes):
        expect = 0.0  # a device's ack waits for the gateway's parent, which the cut took away
    elif policy == "drop_newest":  # refused once the buffer is full
        expect = max(0.0, 1 - cut.loss / max(cut.rate_in * cut.duration_s, 1e-9))
    else:
        expect = 1.0  # edge autonomy: local acks
    if n == 0:
        out.append(Verdict(f"edge availability[{label}]", "availability", UNKNOWN, expect,
                           None, cfg.tolerance_pp, "unknown: no send at the cut gateways "
                           "during the cut"))
        return out
    lo, hi = wilson_interval(okn, n)
    ok = lo * 100 <= expect * 100 + cfg.tolerance_pp and hi * 100 >= expect * 100 - \
        cfg.tolerance_pp
    out.append(Verdict(f"edge availability[{label}]", "availability", PASS if ok else FAIL,
                       rounded(expect * 100), rounded(okn / n * 100), cfg.tolerance_pp,
                       f"{okn} of {n} sends at {', '.join(sorted(gws))} acked during the cut "
                       f"(95% interval {lo:.1%}-{hi:.1%}); predicted {expect:.1%}"))
    return out


def _within(name: str, kind: str, predicted: float, measured: float, tol: float, what: str,
            unit: str) -> Verdict:
    err = measured / predicted - 1 if predicted else (0.0 if measured == 0 else float("inf"))
    ok = abs(err) <= tol
    return Verdict(name, kind, PASS if ok else FAIL, rounded(predicted), rounded(measured),
                   tol, f"{what}: {measured:.2f} {unit} vs predicted {predicted:.2f} {unit} "
                   f"({err:+.1%}, tolerance +-{tol:.0%})")
