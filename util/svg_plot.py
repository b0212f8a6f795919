"""A small SVG line plot (no plotting library): one polyline per series, gaps at missing or non-finite values,
round axis ticks and a legend that shows each line's colour and dash. Used by ``metrics.html`` (values per
frame) and the training page (losses per epoch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Optional, Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 30, 40
LEGEND_ROW = 16


@dataclass(frozen=True)
class Series:
    """One line: ``values[i]`` drawn at ``x[i]`` (default ``i``); None or non-finite values are not drawn.

    ``dashed`` lines are drawn dashed and lighter, in the plot and in its legend.
    """

    label: str
    values: Sequence[Optional[float]]
    color: str = PALETTE[0]
    dashed: bool = False
    x: Optional[Sequence[float]] = None

    def points(self) -> list[tuple[float, Optional[float]]]:
        """``(x, value)`` for every position."""
        xs = self.x if self.x is not None else range(len(self.values))
        return list(zip((float(x) for x in xs), self.values))


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def nice_ticks(low: float, high: float, count: int = 5, min_step: float = 0.0) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart, at least ``min_step``) covering
    ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) * 0.1 or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = max(next(m * power for m in (1, 2, 5, 10) if m * power >= raw), min_step)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """``value`` with just enough decimals for ticks ``step`` apart (``0.005``, ``18.5``, ``20``, ``1e-05``)."""
    if value == 0:
        return "0"
    if abs(step) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.2g}"
    decimals = max(0, -math.floor(math.log10(abs(step)) + 1e-9))
    return f"{value:.{decimals}f}"


@dataclass(frozen=True)
class _Frame:
    """Where the axes sit and the data ranges they show."""

    width: int
    height: int
    x_ticks: list[float]
    y_ticks: list[float]

    @property
    def right(self) -> float:
        return self.width - MARGIN_RIGHT

    @property
    def bottom(self) -> float:
        return self.height - MARGIN_BOTTOM

    def px(self, x: float) -> float:
        low, high = self.x_ticks[0], self.x_ticks[-1]
        return MARGIN_LEFT + (self.right - MARGIN_LEFT) * (x - low) / ((high - low) or 1.0)

    def py(self, y: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        return self.bottom - (self.bottom - MARGIN_TOP) * (y - low) / ((high - low) or 1.0)


def _segments(points: Sequence[tuple[float, Optional[float]]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite values as (x, value) lists."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, value in points:
        if _finite(value):
            runs[-1].append((x, float(value)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _axes(frame: _Frame, x_label: str, y_label: str) -> list[str]:
    """Frame, round ticks and labels of both axes."""
    parts = [f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{frame.right - MARGIN_LEFT}" '
             f'height="{frame.bottom - MARGIN_TOP}" fill="none" stroke="#888"/>']
    y_step = frame.y_ticks[1] - frame.y_ticks[0] if len(frame.y_ticks) > 1 else 1.0
    for value in frame.y_ticks:
        y = frame.py(value)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        label = tick_label(value, y_step)
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    x_step = frame.x_ticks[1] - frame.x_ticks[0] if len(frame.x_ticks) > 1 else 1.0
    for value in frame.x_ticks:
        x = frame.px(value)
        label = tick_label(value, x_step)
        parts.append(f'<text x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="middle">{label}</text>')
    parts.append(f'<text x="{(MARGIN_LEFT + frame.right) / 2}" y="{frame.bottom + 32}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    middle = (MARGIN_TOP + frame.bottom) / 2
    parts.append(f'<text x="14" y="{middle}" text-anchor="middle" transform="rotate(-90 14 {middle})">'
                 f'{escape(y_label)}</text>')
    return parts


def _stroke(line: Series) -> str:
    """Colour, width and dash of a series (dashed lines lighter)."""
    dash = ' stroke-dasharray="5,3" stroke-opacity="0.7"' if line.dashed else ""
    return f'stroke="{line.color}" stroke-width="1.5"{dash}'


def _lines(series: Sequence[Series], frame: _Frame) -> list[str]:
    """Polylines, and single points as dots."""
    parts = []
    for line in series:
        for run in _segments(line.points()):
            points = [(frame.px(x), frame.py(v)) for x, v in run]
            if len(points) == 1:
                parts.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="2" fill="{line.color}"/>')
                continue
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{coords}" fill="none" {_stroke(line)}/>')
    return parts


def _legend_columns(series: Sequence[Series], width: int) -> int:
    """How many legend entries fit one row."""
    longest = max((len(s.label) for s in series), default=1)
    return max(1, int((width - MARGIN_LEFT) // (34 + 6.5 * longest)))


def _legend(series: Sequence[Series], width: int, top: float) -> list[str]:
    """One entry per series below the plot: a short sample of its line (colour and dash), then its label."""
    columns = _legend_columns(series, width)
    column_width = (width - MARGIN_LEFT) / columns
    parts = []
    for number, line in enumerate(series):
        x = MARGIN_LEFT + column_width * (number % columns)
        y = top + LEGEND_ROW * (number // columns)
        parts.append(f'<line class="legend-sample" x1="{x:.1f}" x2="{x + 24:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
                     f'{_stroke(line)}/>')
        parts.append(f'<text x="{x + 28:.1f}" y="{y:.1f}">{escape(line.label)}</text>')
    return parts


def line_plot(series: Sequence[Series], *, title: str, y_label: str, x_label: str = "frame", width: int = 720,
              height: int = 260, x_min_step: float = 0.0) -> str:
    """An SVG document plotting each series against its x values, with a legend below.

    Args:
        series: The lines.
        title: Shown above the plot.
        y_label: Vertical axis label.
        x_label: Horizontal axis label.
        x_min_step: Smallest distance between x ticks (1 for frame numbers).
        width: Picture width in pixels.
        height: Height of the plot area with its axes in pixels (the legend adds a row per few series).

    Returns:
        The SVG text.
    """
    drawn = [(x, v) for s in series for x, v in s.points() if _finite(v)]
    legend_rows = math.ceil(len(series) / _legend_columns(series, width)) if series else 0
    total_height = height + LEGEND_ROW * legend_rows + (8 if legend_rows else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
             f'viewBox="0 0 {width} {total_height}" font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    if not drawn:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no finite values</text>')
    else:
        xs, ys = [x for x, _ in drawn], [v for _, v in drawn]
        frame = _Frame(width, height, nice_ticks(min(xs), max(xs), 6, x_min_step), nice_ticks(min(ys), max(ys), 5))
        parts += _axes(frame, x_label, y_label) + _lines(series, frame)
        parts += _legend(series, width, height + LEGEND_ROW)
    return "\n".join(parts + ["</svg>"]) + "\n"
