"""Server-side SVG for the vitals trend: one small chart per measure, no JavaScript, no external assets.
Values are drawn in the unit they are stored in (the normalised UCUM unit) and labelled with it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape

from renkei.pipelines.views import VitalPoint

WIDTH, HEIGHT, PAD = 640, 150, 36
# chart -> (series drawn in it, colours); blood pressure draws systolic and diastolic together
CHARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "blood_pressure": (("systolic", "diastolic"), ("#c0392b", "#2e86c1")),
    "pulse": (("pulse",), ("#8e44ad",)),
    "spo2": (("spo2",), ("#16a085",)),
    "temperature": (("temperature",), ("#d35400",)),
    "weight": (("weight",), ("#34495e",)),
}
UNIT_LABEL = {"mm[Hg]": "mmHg", "Cel": "℃", "/min": "/min", "%": "%", "kg": "kg"}


def trend_svgs(points: list[VitalPoint], start: datetime, end: datetime) -> dict[str, str]:
    """chart name -> SVG markup, for the charts that have at least one point."""
    by_series: dict[str, list[VitalPoint]] = defaultdict(list)
    for p in points:
        by_series[p.series].append(p)
    out: dict[str, str] = {}
    for chart, (series, colours) in CHARTS.items():
        drawn = [(by_series[s], c) for s, c in zip(series, colours, strict=True) if by_series[s]]
        if drawn:
            out[chart] = _svg(chart, drawn, start, end)
    return out


def _svg(chart: str, drawn: list[tuple[list[VitalPoint], str]], start: datetime, end: datetime) -> str:
    values = [p.value for pts, _ in drawn for p in pts]
    low, high = min(values), max(values)
    margin = max((high - low) * 0.1, 1.0)
    low, high = low - margin, high + margin
    span = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return PAD + (WIDTH - 2 * PAD) * min(max((at - start).total_seconds() / span, 0.0), 1.0)

    def y(v: float) -> float:
        return HEIGHT - PAD + (v - low) / (high - low) * -(HEIGHT - 2 * PAD)

    unit = UNIT_LABEL.get(drawn[0][0][0].unit, drawn[0][0][0].unit)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" data-chart="{chart}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="100%" role="img" aria-label="{chart}">',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="#fff" stroke="#ccc"/>',
        f'<text x="4" y="{PAD - 6}" font-size="11">{escape(unit)}</text>',
        f'<text x="4" y="{PAD + 4}" font-size="10">{_fmt(high)}</text>',
        f'<text x="4" y="{HEIGHT - PAD}" font-size="10">{_fmt(low)}</text>',
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{start:%m/%d}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{end:%m/%d}</text>',
    ]
    for pts, colour in drawn:
        line = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/>')
        for p in pts:
            parts.append(f'<circle cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="2.5" fill="{colour}" '
                         f'data-series="{p.series}" data-value="{_fmt(p.value)}">'
                         f'<title>{p.at:%Y-%m-%d %H:%M} {_fmt(p.value)} {escape(unit)}</title></circle>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")
