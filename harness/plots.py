"""Plots for the reports, as inline SVG (self-contained, no script needed to read them).

A time series has axis ticks with units, the fault windows shaded and labelled with their
fault, and optionally the model's prediction per phase drawn as a dashed step against the
measurement, so the figure can be read in ten seconds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

W, H = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 34


@dataclass(frozen=True)
class Window:
    """A shaded span of the x axis (a fault window) with its label."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Step:
    """A horizontal segment (a phase's predicted value)."""

    start: float
    end: float
    value: float


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten)."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out, t = [], first
    while t <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(t, 10))
        t += step
    return out


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 10_000 else f"{v:.3g}"


def time_series(points: Sequence[tuple[float, float]], *, title: str, unit: str,
                duration_s: float, windows: Sequence[Window] = (),
                predicted: Sequence[Step] = ()) -> str:
    """One SVG plot of (t seconds, value) with ticks, shaded fault windows and predictions."""
    if not points:
        return f'<p class="empty">{html.escape(title)}: no operations</p>'
    span = max(duration_s, 1e-9)
    values = [v for _, v in points if math.isfinite(v)] + [
        s.value for s in predicted if math.isfinite(s.value)]
    ymax = max(values, default=1.0) * 1.1 or 1.0
    yticks = nice_ticks(0.0, ymax)
    ymax = max(ymax, yticks[-1])

    def x(t: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * max(0.0, min(t, span)) / span

    def y(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * v / ymax

    out = [f'<svg class="plot" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{html.escape(title)} ({html.escape(unit)})">',
           f'<text x="{LEFT}" y="14" font-size="13" font-weight="bold">'
           f'{html.escape(title)} ({html.escape(unit)})</text>']
    out += _windows(windows, x)
    out += _axes(yticks, nice_ticks(0.0, span, 8), x, y, unit)
    for s in predicted:
        if math.isfinite(s.value):
            out.append(f'<line class="predicted" x1="{x(s.start):.1f}" y1="{y(s.value):.1f}" '
                       f'x2="{x(s.end):.1f}" y2="{y(s.value):.1f}" stroke="#e07b00" '
                       f'stroke-width="2" stroke-dasharray="6 4"><title>predicted '
                       f'{s.value:.2f} {html.escape(unit)}</title></line>')
    pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points if math.isfinite(v))
    out.append(f'<polyline class="measured" fill="none" stroke="#2364aa" stroke-width="1.4" '
               f'points="{pts}"/>')
    out.append(_legend(bool(predicted)))
    out.append("</svg>")
    return "\n".join(out)


def _windows(windows: Sequence[Window], x: Callable[[float], float]) -> list[str]:
    out = []
    for i, w in enumerate(windows):
        x0, x1 = x(w.start), x(w.end)
        label = w.label if len(w.label) <= 40 else w.label[:37] + "..."
        out.append(f'<rect class="fault" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" '
                   f'height="{H - TOP - BOTTOM}" fill="#f4a6a6" opacity="0.35">'
                   f'<title>{html.escape(w.label)}</title></rect>')
        out.append(f'<text class="fault-label" x="{x0 + 3:.1f}" y="{TOP + 12 + 12 * (i % 2)}" '
                   f'font-size="11" fill="#9b1c1c">{html.escape(label)}</text>')
    return out


def _axes(yticks: list[float], xticks: list[float], x: Callable[[float], float],
          y: Callable[[float], float], unit: str) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" '
           'stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#333"/>']
    for v in yticks:
        yy = y(v)
        out.append(f'<line x1="{LEFT - 4}" y1="{yy:.1f}" x2="{W - RIGHT}" y2="{yy:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{yy + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{_fmt(v)}</text>')
    for t in xticks:
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" y1="{H - BOTTOM}" x2="{xx:.1f}" y2="{H - BOTTOM + 4}" '
                   'stroke="#333"/>')
        out.append(f'<text class="tick" x="{xx:.1f}" y="{H - BOTTOM + 15}" font-size="10" '
                   f'text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<text x="{W - RIGHT}" y="{H - 4}" font-size="11" text-anchor="end">'
               'time since the load started (s)</text>')
    out.append(f'<text x="12" y="{(TOP + H - BOTTOM) / 2:.0f}" font-size="11" '
               f'transform="rotate(-90 12 {(TOP + H - BOTTOM) / 2:.0f})" text-anchor="middle">'
               f'{html.escape(unit)}</text>')
    return out


def _legend(with_prediction: bool) -> str:
    parts = [f'<g class="legend" font-size="11"><line x1="{W - 250}" y1="10" x2="{W - 230}" '
             'y2="10" stroke="#2364aa" stroke-width="2"/>'
             f'<text x="{W - 226}" y="14">measured</text>']
    if with_prediction:
        parts.append(f'<line x1="{W - 160}" y1="10" x2="{W - 140}" y2="10" stroke="#e07b00" '
                     'stroke-width="2" stroke-dasharray="6 4"/>'
                     f'<text x="{W - 136}" y="14">predicted</text>')
    parts.append(f'<rect x="{W - 80}" y="4" width="14" height="10" fill="#f4a6a6" '
                 'opacity="0.6"/>'
                 f'<text x="{W - 62}" y="14">fault</text></g>')
    return "".join(parts)
