"""Run artefacts: results.json (the contract), junit.xml (one case per check), report.html.

The HTML report is self-contained (inline SVG, no external assets): latency over time with
fault windows shaded, throughput per second, predicted vs measured per phase, the verdicts.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.junit import Case, junit_xml


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
    """junit.xml: one test case per check (fail = failure, unknown = skipped)."""
    outcome = {"pass": "passed", "fail": "failure", "unknown": "skipped"}
    cases = [Case(f"edgeproof.{c['kind']}", c["name"], outcome.get(c["verdict"], "error"),
                  c["detail"][:200], c["detail"] if c["verdict"] == "fail" else "")
             for c in results.get("checks", [])]
    path = out / "junit.xml"
    path.write_text(junit_xml(f"edgeproof.{results['name']}", cases,
                              float(results.get("duration_s", 0))), encoding="utf-8")
    return path


def _svg_series(ops: pd.DataFrame, faults: list[dict[str, Any]], duration: float,
                column: str, title: str, unit: str) -> str:
    w, h, pad = 900, 220, 40
    if ops.empty:
        return f"<p>{html.escape(title)}: no operations</p>"
    ymax = float(ops[column].max()) or 1.0
    ymax *= 1.1

    def x(t: float) -> float:
        return pad + (w - 2 * pad) * max(0.0, min(t, duration)) / max(duration, 1e-9)

    def y(v: float) -> float:
        return h - pad - (h - 2 * pad) * v / ymax

    parts = [f'<svg class="plot" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="{pad}" y="16" font-size="13">{html.escape(title)} ({unit})</text>']
    for f in faults:
        a = f.get("applied_at_s") if f.get("applied_at_s") is not None else f["at_s"]
        b = f.get("healed_at_s") if f.get("healed_at_s") is not None else f["at_s"] + f["for_s"]
        parts.append(f'<rect class="fault" x="{x(a):.1f}" y="{pad}" width="{x(b) - x(a):.1f}" '
                     f'height="{h - 2 * pad}" fill="#f4a6a6" opacity="0.35">'
                     f'<title>{html.escape(f["kind"] + " " + f["target"])}</title></rect>')
    pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(ops["t"], ops[column], strict=False))
    parts.append(f'<polyline fill="none" stroke="#2364aa" stroke-width="1.2" points="{pts}"/>')
    parts.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>')
    parts.append(f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>')
    parts.append(f'<text x="4" y="{pad + 4}" font-size="11">{ymax:.0f}</text>')
    parts.append(f'<text x="{w - pad - 30}" y="{h - 8}" font-size="11">{duration:.0f} s</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def per_second(ops: pd.DataFrame) -> pd.DataFrame:
    """Per-second windows: mean and p99 latency of ok ops, throughput, errors."""
    if ops.empty:
        return pd.DataFrame(columns=["t", "mean_ms", "p99_ms", "ok", "errors"])
    sec = ops.assign(sec=ops["start_s"].clip(lower=0).astype(int))
    ok = sec[sec["type"] == "ok"].groupby("sec")["latency_ms"]
    df = pd.DataFrame({"mean_ms": ok.mean(), "p99_ms": ok.quantile(0.99),
                       "ok": sec[sec["type"] == "ok"].groupby("sec").size(),
                       "errors": sec[sec["type"] != "ok"].groupby("sec").size()}).fillna(0)
    return df.reset_index(names="sec").assign(t=lambda d: d["sec"] + 0.5)


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


def write_html(out: Path, results: dict[str, Any], ops: pd.DataFrame) -> Path:
    secs = per_second(ops)
    dur = float(results.get("workload_duration_s") or results.get("duration_s") or 1)
    faults = results.get("faults", [])
    lat_plot = _svg_series(secs, faults, dur, "mean_ms", "mean latency per second", "ms")
    p99_plot = _svg_series(secs, faults, dur, "p99_ms", "p99 latency per second", "ms")
    thr_plot = _svg_series(secs, faults, dur, "ok", "throughput per second", "ok ops/s")
    err_plot = _svg_series(secs, faults, dur, "errors", "errors per second", "fail+info ops/s")
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
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgeproof: {html.escape(results['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}}tr.pass td{{background:#e6f4e6}}tr.fail td{{background:#fbe3e3}}
tr.unknown td{{background:#fff6d6}}.verdict{{font-size:1.4em}}</style></head><body>
<h1>{html.escape(results['name'])}</h1>
<p class="verdict" id="verdict">verdict: <b>{html.escape(results['verdict'])}</b> ·
seed {results['seed']} · backend {html.escape(results['backend'])} ·
{results['workload']['ops']} ops · {results['duration_s']:.1f} s</p>
<p>Reproduce: <code>{html.escape(results.get('reproduce', ''))}</code></p>
<h2>Latency and throughput</h2>{lat_plot}{p99_plot}{thr_plot}{err_plot}
<h2>Predicted vs measured, per phase</h2>
{_table(phase_rows, list(phase_rows[0]) if phase_rows else [])}
<h2>Checks</h2>
<div id="checks">{_table(checks, ["name", "verdict", "predicted", "measured", "tolerance",
                                  "detail"])}</div>
{_witnesses(checks)}
<h2>Faults</h2>
{_table(faults, ["kind", "target", "at_s", "for_s", "applied_at_s", "healed_at_s", "ok"])}
<script>/* layout facts for automated checks (e.g. a headless browser's --dump-dom) */
window.addEventListener("load", function () {{
  var plots = Array.from(document.querySelectorAll("svg.plot")).filter(function (e) {{
    var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
      e.querySelector("polyline").getTotalLength() > 0; }});
  var rows = Array.from(document.querySelectorAll("#checks tbody tr")).filter(function (e) {{
    return e.getBoundingClientRect().height > 0; }});
  document.body.setAttribute("data-rendered-plots", plots.length);
  document.body.setAttribute("data-rendered-check-rows", rows.length);
}});
</script>
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
