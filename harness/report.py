"""Run artefacts: results.json (the contract), junit.xml (one case per check), report.html.

The HTML report is self-contained (inline SVG, no external assets): the verdict badge and
its reason, the tier tree of a tiered testbed, latency over time with fault windows labelled
and the prediction per phase drawn, throughput and errors per second, predicted vs measured
per phase, the verdicts, Locust's own count of requests; for a pipeline, the backlog below
each cut node over time against the predicted ramp and drain.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import rollouts
from harness.checks.delivery import Flow, outstanding
from harness.junit import Case, junit_xml
from harness.plots import Step, Window, time_series


def clean(obj: Any) -> Any:
    """JSON-safe: NaN and inf become null."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj


def write_results(out: Path, results: dict[str, Any]) -> Path:
    """results.json (NaN and inf as null)."""
    path = out / "results.json"
    path.write_text(json.dumps(clean(results), indent=2))
    return path


def write_junit(out: Path, results: dict[str, Any]) -> Path:
    """junit.xml: one test case per check: fail = ``<failure>``, unknown = ``<error>`` with
    its reason (never a green ``<skipped>``), so a dashboard agrees with the exit code."""
    outcome = {"pass": "passed", "fail": "failure", "unknown": "error"}
    cases = [Case(f"edgeproof.{c['kind']}", c["name"], outcome.get(c["verdict"], "error"),
                  c["detail"][:200], c["detail"] if c["verdict"] != "pass" else "")
             for c in results.get("checks", [])]
    stop = results.get("interrupted")
    if stop:  # an interrupted run is an error on a dashboard, never a pass or a skip
        cases.append(Case("edgeproof.run", "interrupted", "error",
                          f"interrupted by {stop['signal']}", str(stop["reason"])))
    path = out / "junit.xml"
    path.write_text(junit_xml(f"edgeproof.{results['name']}", cases,
                              float(results.get("duration_s", 0))), encoding="utf-8")
    return path


def per_second(ops: pd.DataFrame, duration_s: float | None = None) -> pd.DataFrame:
    """Per-second windows: mean and p99 latency of ok ops, throughput, errors. Only whole
    seconds of the load: a last, partial second would look like an incident."""
    if ops.empty:
        return pd.DataFrame(columns=["t", "mean_ms", "p99_ms", "ok", "errors"])
    sec = ops.assign(sec=ops["start_s"].clip(lower=0).astype(int))
    if duration_s is not None:
        sec = sec[sec["sec"] + 1 <= duration_s + 1e-9]
    ok = sec[sec["type"] == "ok"].groupby("sec")["latency_ms"]
    df = pd.DataFrame({"mean_ms": ok.mean(), "p99_ms": ok.quantile(0.99),
                       "ok": sec[sec["type"] == "ok"].groupby("sec").size(),
                       "errors": sec[sec["type"] != "ok"].groupby("sec").size()}).fillna(0)
    return df.reset_index(names="sec").assign(t=lambda d: d["sec"] + 0.5)


def _series(secs: pd.DataFrame, column: str) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in zip(secs["t"], secs[column], strict=False)]


def fault_windows(results: dict[str, Any]) -> list[Window]:
    """The fault windows of a run, as they happened, labelled with their fault."""
    out = []
    for f in results.get("faults", []):
        a = f.get("applied_at_s") if f.get("applied_at_s") is not None else f["at_s"]
        b = (f["at_s"] + f["for_s"] if f.get("healed_at_s") is None
             else f["healed_at_s"] + (f.get("heal_took_s") or 0.0))  # until healed
        out.append(Window(float(a), float(b), f"{f['kind']} {f['target']}"))
    return out


def predicted_steps(results: dict[str, Any], key: str) -> list[Step]:
    """The model's prediction (``mean`` or ``p99``) per phase, as steps."""
    out = []
    for ph in results.get("phases", []):
        v = ((ph.get("predicted") or {}).get("latency_ms") or {}).get(key)
        if isinstance(v, int | float):
            out.append(Step(float(ph["start_s"]), float(ph["end_s"]), float(v)))
    return out


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = ""
    for r in rows:
        cls = f' class="{r.get("verdict", "")}"' if "verdict" in r else ""
        body += f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>"
                                       for c in cols) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.2f}"
    return "-" if v is None else str(v)


def _witness_svg(witness: list[dict[str, Any]]) -> str:
    """A timeline of the witness: one lane per process, one bar per operation (invoke to
    completion), labelled with what it did, like Knossos' linearizability diagrams."""
    if not witness:
        return ""
    t0 = min(op["start_ns"] for op in witness)
    ends = [op["end_ns"] for op in witness if op.get("end_ns") is not None]
    t1 = max(ends + [op["start_ns"] for op in witness])
    span = max(t1 - t0, 1)
    procs = sorted({op["process"] for op in witness})
    w, lane, pad = 900, 34, 110
    h = lane * len(procs) + 30
    parts = [f'<svg class="witness" viewBox="0 0 {w} {h}" width="{w}" height="{h}">']
    for i, p in enumerate(procs):
        parts.append(f'<text x="4" y="{22 + i * lane}" font-size="12">process {p}</text>')
    for op in witness:
        i = procs.index(op["process"])
        x0 = pad + (w - pad - 10) * (op["start_ns"] - t0) / span
        end = op["end_ns"] if op.get("end_ns") is not None else t1
        x1 = pad + (w - pad - 10) * (end - t0) / span
        colour = {"read": "#7fb3d5", "write": "#f5b041", "cas": "#bb8fce"}.get(op["f"], "#ccc")
        label = f"{op['f']} {op.get('value')}" + ("" if op.get("type") == "ok" else " ?")
        parts.append(f'<rect x="{x0:.1f}" y="{8 + i * lane}" width="{max(x1 - x0, 3):.1f}" '
                     f'height="20" fill="{colour}"><title>{html.escape(str(op))}</title></rect>')
        parts.append(f'<text x="{x0 + 3:.1f}" y="{22 + i * lane}" font-size="11">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _witnesses(checks: list[dict[str, Any]]) -> str:
    """The consistency failures' witnesses: explanation, timeline and table."""
    out = []
    for c in checks:
        if c.get("kind") != "consistency" or c.get("verdict") != "fail":
            continue
        for v in (c.get("evidence") or {}).get("violations", [])[:5]:
            wit = v.get("witness", [])
            rows = [{"process": o["process"], "f": o["f"], "value": o.get("value"),
                     "type": o.get("type"), "node": o.get("node"),
                     "start_ms": (o["start_ns"] - wit[0]["start_ns"]) / 1e6,
                     "end_ms": None if o.get("end_ns") is None
                     else (o["end_ns"] - wit[0]["start_ns"]) / 1e6} for o in wit]
            out.append(f'<h3>key {html.escape(str(v.get("key")))}</h3>'
                       f'<p class="explanation">{html.escape(v.get("explanation", ""))}</p>'
                       + _witness_svg(wit)
                       + _table(rows, ["process", "f", "value", "type", "node", "start_ms",
                                       "end_ms"]))
    if not out:
        return ""
    return '<h2 id="witness">Consistency witness</h2>' + "".join(out)


TREE_MAX = 500  # nodes the report's topology section lists (a 10,000-node fleet is summed up)


def topology_html(tree: list[dict[str, Any]]) -> str:
    """The "Topology" section: the tier tree as a depth-indented nested list, each node with
    its tier, and the count per tier; empty for a flat testbed (no node below another)."""
    if not any(int(row.get("depth", 0)) > 0 for row in tree):
        return ""
    counts: dict[str, int] = {}
    for row in tree:
        counts[str(row["tier"])] = counts.get(str(row["tier"]), 0) + 1
    summary = ", ".join(f"{n} {html.escape(t)}" for t, n in counts.items())
    parts = ['<h2 id="topology">Topology</h2>', f'<p>{len(tree)} nodes: {summary}</p>',
             '<ul class="tree">']
    depth = 0
    for i, row in enumerate(tree[:TREE_MAX]):
        d = int(row["depth"])
        if i and d > depth:
            parts.append("<ul>" * (d - depth))
        elif i:
            parts.append("</li>" + "</ul></li>" * (depth - d))
        parts.append(f'<li><span class="node">{html.escape(str(row["name"]))}</span> '
                     f'<span class="tier">{html.escape(str(row["tier"]))}</span>')
        depth = d
    parts.append("</li>" + "</ul></li>" * depth + "</ul>")
    if len(tree) > TREE_MAX:
        parts.append(f"<p>... and {len(tree) - TREE_MAX} more nodes (results.json lists "
                     "them all)</p>")
    return "".join(parts)


BADGE = {"pass": "#2e7d32", "fail": "#c62828", "unknown": "#b26a00", "interrupted": "#6a1b9a"}


def _reason(results: dict[str, Any]) -> str:
    """Why the verdict is what it is, in one line."""
    if results.get("interrupted"):
        return str(results["interrupted"]["reason"])
    checks = results.get("checks", [])
    worst = [c for c in checks if c["verdict"] == results["verdict"]]
    if results["verdict"] == "pass":
        return f"all {len(checks)} check(s) passed"
    first = worst[0] if worst else {"name": "", "detail": ""}
    more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
    return f"{first['name']}: {str(first['detail'])[:300]}{more}"


def backlog_plots(results: dict[str, Any], ops: pd.DataFrame, dur: float,
                  win: list[Window]) -> list[str]:
    """Per uplink cut: readings held below the cut node over time (acked, not yet at the
    sink) against the model's ramp during the cut and its drain after the heal."""
    cuts = ((results.get("prediction") or {}).get("pipeline") or {}).get("cuts") or []
    faults = results.get("faults") or []
    if not cuts or "f" not in ops:
        return []
    flow = Flow.of(ops)
    out = []
    for cut in cuts:
        f = faults[cut["fault"]] if cut["fault"] < len(faults) else {}
        at, healed = f.get("at_s"), f.get("healed_at_s")
        if at is None or healed is None:
            continue
        end = min(dur + 30.0, float(healed) + 3 * float(cut.get("drain_s") or 5.0) + 5.0)
        t = np.arange(0.0, end, 0.25)
        held = outstanding(flow, set(cut["gateways"]), t)
        out.append(time_series(list(zip(t.tolist(), held.tolist(), strict=True)),
                               title=f"backlog below {cut['node']} (readings not yet at the "
                               "sink) vs predicted", unit="readings", duration_s=end,
                               windows=win, predicted=_backlog_steps(cut, float(at),
                                                                     float(healed))))
    return out


def _backlog_steps(cut: dict[str, Any], at: float, healed: float) -> list[Step]:
    """The predicted backlog as steps of 0.25 s: lambda t during the cut, then the pending
    retry, then the drain at mu - lambda down to nothing."""
    lam, kept, pend = float(cut["rate_in"]), float(cut["backlog"]), float(cut["pending_s"])
    drain = float(cut["drain_s"] or 0.0)
    rate_down = (kept + lam * pend) / max(drain - pend, 1e-9)

    def level(t: float) -> float:
        if t < healed:
            return min(kept, lam * (t - at))
        if t < healed + pend:
            return kept + lam * (t - healed)
        return max(0.0, kept + lam * pend - rate_down * (t - healed - pend))

    steps, t = [], at
    while t < healed + drain + 0.25:
        steps.append(Step(t, t + 0.25, level(t + 0.125)))
        t += 0.25
    return steps


def rollout_plot(results: dict[str, Any], applies: list[dict[str, Any]], dur: float,
                 win: list[Window]) -> list[str]:
    """Nodes holding the newest published version over time, against the model's count (each
    node at its predicted time after each publish)."""
    outs = sorted((results.get("prediction") or {}).get("rollouts") or [],
                  key=lambda r: r["at_s"])
    nodes = sorted({r["node"] for r in applies})
    if not outs or not nodes:
        return []
    n = len(nodes)
    t = np.arange(0.0, dur, 0.1)
    held: dict[str, int] = {}
    points, k, newest = [], 0, 0
    events = sorted(applies, key=lambda r: r["t_s"])
    for x in t.tolist():
        while k < len(events) and events[k]["t_s"] <= x:
            held[events[k]["node"]] = max(held.get(events[k]["node"], 0),
                                          int(events[k]["version"]))
            k += 1
        newest = max([newest, *(int(r["version"]) for r in outs if r["at_s"] <= x)])
        points.append((x, float(sum(v >= newest for v in held.values()))))
    steps = []
    for i, r in enumerate(outs):
        pub = float(r["at_s"])
        nxt = float(outs[i + 1]["at_s"]) if i + 1 < len(outs) else dur
        times = sorted(pub + float(x) for x in (r.get("node_s") or {}).values())
        for j, (a, b) in enumerate(itertools.pairwise([*times, nxt])):
            if b > a and a < nxt:
                steps.append(Step(a, min(b, nxt), float(j + 1)))
    return [time_series(points, title=f"nodes holding the newest version (of {n}) vs "
                        "predicted", unit="nodes", duration_s=dur, windows=win,
                        predicted=steps)]


def write_html(out: Path, results: dict[str, Any], ops: pd.DataFrame) -> Path:
    """report.html: the verdict badge and its reason, the tier tree (tiered testbeds), plots
    with the fault windows and the prediction per phase, predicted vs measured, checks,
    witnesses, faults, Locust's table."""
    dur = float(results.get("workload_duration_s") or results.get("duration_s") or 1)
    secs = per_second(ops[ops["f"] != "recv"] if "f" in ops else ops, dur)
    win = fault_windows(results)
    plots = "".join([
        time_series(_series(secs, "mean_ms"), title="mean latency per second", unit="ms",
                    duration_s=dur, windows=win, predicted=predicted_steps(results, "mean")),
        time_series(_series(secs, "p99_ms"), title="p99 latency per second", unit="ms",
                    duration_s=dur, windows=win, predicted=predicted_steps(results, "p99")),
        time_series(_series(secs, "ok"), title="throughput per second", unit="ok ops/s",
                    duration_s=dur, windows=win),
        time_series(_series(secs, "errors"), title="errors per second",
                    unit="fail+info ops/s", duration_s=dur, windows=win),
        *backlog_plots(results, ops, dur, win),
        *rollout_plot(results, rollouts.read(out), dur, win)])
    phase_rows = []
    for ph in results.get("phases", []):
        pred = ph.get("predicted", {}).get("latency_ms", {})
        phase_rows.append({"phase": ph["name"], "from_s": ph["start_s"], "to_s": ph["end_s"],
                           "ops": ph["ops"], "predicted_mean": pred.get("mean"),
                           "measured_mean": ph["latency_ms"].get("mean"),
                           "predicted_p99": pred.get("p99"),
                           "measured_p99": ph["latency_ms"].get("p99"),
                           "availability": ph.get("availability")})
    checks = results.get("checks", [])
    verdict = str(results["verdict"])
    locust = (results.get("locust") or {}).get("entries") or []
    warnings = "".join(f'<p class="warning">warning: {html.escape(w)}</p>'
                       for w in results.get("warnings") or [])
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgeproof: {html.escape(results['name'])}: {html.escape(verdict)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}}tr.pass td{{background:#e6f4e6}}tr.fail td{{background:#fbe3e3}}
tr.unknown td{{background:#fff6d6}}.verdict{{font-size:1.1em}}
.badge{{display:inline-block;color:#fff;font-weight:bold;font-size:1.3em;padding:4px 14px;
border-radius:6px;background:{BADGE.get(verdict, '#555')}}}.warning{{color:#8a5a00}}
ul.tree,ul.tree ul{{list-style:none;margin:0;padding-left:1.4em;font-size:13px}}
ul.tree ul{{border-left:1px solid #ccc}}ul.tree .tier{{color:#666;font-size:11px;
border:1px solid #ccc;border-radius:3px;padding:0 4px}}</style>
</head><body>
<h1>{html.escape(results['name'])}</h1>
<p class="verdict" id="verdict"><span class="badge" id="badge">{html.escape(verdict)}</span>
<span id="reason">{html.escape(_reason(results))}</span></p>
<p>seed {results['seed']} · backend {html.escape(results['backend'])} ·
{results['workload']['ops']} ops · {results['duration_s']:.1f} s ·
reproduce: <code>{html.escape(results.get('reproduce', ''))}</code></p>{warnings}
{topology_html(results.get("topology") or [])}
<h2>Latency and throughput</h2>{plots}
<h2>Predicted vs measured, per phase</h2>
{_table(phase_rows, list(phase_rows[0]) if phase_rows else [])}
<h2>Checks</h2>
<div id="checks">{_table(checks, ["name", "verdict", "predicted", "measured", "tolerance",
                                  "detail"])}</div>
{_witnesses(checks)}
<h2>Faults</h2>
{_table(results.get("faults", []), ["kind", "target", "at_s", "for_s", "applied_at_s",
                                    "healed_at_s", "ok"])}
<h2>Locust's requests</h2>
{_table(locust, list(locust[0]) if locust else []) if locust else "<p>none</p>"}
<script>/* layout facts for automated checks (e.g. a headless browser's --dump-dom) */
window.addEventListener("load", function () {{
  var plots = Array.from(document.querySelectorAll("svg.plot")).filter(function (e) {{
    var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
      e.querySelector("polyline").getTotalLength() > 0; }});
  var rows = Array.from(document.querySelectorAll("#checks tbody tr")).filter(function (e) {{
    return e.getBoundingClientRect().height > 0; }});
  var ticks = Array.from(document.querySelectorAll("svg.plot text.tick")).filter(function (e) {{
    return e.getBoundingClientRect().width > 0 && e.textContent.length > 0; }});
  var labels = Array.from(document.querySelectorAll("svg.plot text.fault-label")).filter(
    function (e) {{ return e.getBoundingClientRect().width > 0; }});
  var badge = document.getElementById("badge").getBoundingClientRect();
  document.body.setAttribute("data-rendered-plots", plots.length);
  document.body.setAttribute("data-rendered-check-rows", rows.length);
  document.body.setAttribute("data-rendered-ticks", ticks.length);
  document.body.setAttribute("data-rendered-fault-labels", labels.length);
  document.body.setAttribute("data-badge", badge.width > 0 ? "{html.escape(verdict)}" : "");
}});
</script>
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
