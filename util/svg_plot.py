"""A small SVG line plot (no plotting library): one polyline per series, gaps at missing or non-finite values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Optional, Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 30, 40


@dataclass(frozen=True)
class Series:
    """One line: a value per frame index (None or non-finite: not drawn)."""

    label: str
    values: Sequence[Optional[float]]
    color: str = PALETTE[0]
    dashed: bool = False


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def _value_range(series: Sequence[Series]) -> Optional[tuple[float, float]]:
    """(low, high) of every finite value, widened when flat; None if there is none."""
    values = [v for s in series for v in s.values if _finite(v)]
    if not values:
        return None
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 1e-6)
    return low - pad, high + pad


def _segments(values: Sequence[Optional[float]]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive finite values as (index, value) lists."""
    runs: list[list[tuple[int, float]]] = [[]]
    for index, value in enumerate(values):
        if _finite(value):
            runs[-1].append((index, float(value)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _axes(width: int, height: int, y_range: tuple[float, float], frames: int, y_label: str) -> list[str]:
    """Frame, ticks and labels of both axes."""
    right, bottom = width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    parts = [f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{right - MARGIN_LEFT}" '
             f'height="{bottom - MARGIN_TOP}" fill="none" stroke="#888"/>']
    for i in range(5):
        value = y_range[0] + (y_range[1] - y_range[0]) * i / 4
        y = bottom - (bottom - MARGIN_TOP) * i / 4
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.4g}</text>')
    for i in range(min(frames, 6)):
        index = round((frames - 1) * i / max(min(frames, 6) - 1, 1))
        x = MARGIN_LEFT + (right - MARGIN_LEFT) * index / max(frames - 1, 1)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{index}</text>')
    parts.append(f'<text x="{(MARGIN_LEFT + right) / 2}" y="{height - 6}" text-anchor="middle">frame</text>')
    parts.append(f'<text x="14" y="{(MARGIN_TOP + bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(MARGIN_TOP + bottom) / 2})">{escape(y_label)}</text>')
    return parts


def _lines(series: Sequence[Series], width: int, height: int, y_range: tuple[float, float], frames: int) -> list[str]:
    """Polylines (single points as dots) and the legend."""
    right, bottom = width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    low, high = y_range
    parts = []
    for number, line in enumerate(series):
        dash = ' stroke-dasharray="5,3"' if line.dashed else ""
        for run in _segments(line.values):
            points = [(MARGIN_LEFT + (right - MARGIN_LEFT) * i / max(frames - 1, 1),
                       bottom - (bottom - MARGIN_TOP) * (v - low) / (high - low)) for i, v in run]
            if len(points) == 1:
                parts.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="2" fill="{line.color}"/>')
                continue
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{line.color}" stroke-width="1.5"{dash}/>')
        parts.append(f'<text x="{right - 4}" y="{MARGIN_TOP + 14 + 14 * number}" text-anchor="end" '
                     f'fill="{line.color}">{escape(line.label)}</text>')
    return parts


def line_plot(series: Sequence[Series], *, title: str, y_label: str, width: int = 720, height: int = 260) -> str:
    """An SVG document plotting each series against the frame index.

    Args:
        series: The lines; frame index = position in ``values``.
        title: Shown above the plot.
        y_label: Vertical axis label.
        width: Picture width in pixels.
        height: Picture height in pixels.

    Returns:
        The SVG text.
    """
    frames = max((len(s.values) for s in series), default=0)
    y_range = _value_range(series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">', '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    if y_range is None or frames == 0:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no finite values</text>')
    else:
        parts += _axes(width, height, y_range, frames, y_label) + _lines(series, width, height, y_range, frames)
    return "\n".join(parts + ["</svg>"]) + "\n"
