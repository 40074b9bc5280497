"""Line charts as inline SVG, drawn on the server: no script, no library.

Each chart has a labelled value axis (0, the middle, the top, in round
numbers) and a time axis (UTC clock times at round intervals), in text of
:data:`FONT_PX` pixels drawn at the chart's own size (never scaled down by
CSS). Only numbers and :func:`html.escape`-d labels go into the markup, so a
chart cannot carry anything from a payload.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence

#: Size of the overview's big charts, in pixels.
WIDTH, HEIGHT = 420, 150
#: Size of the chart in each queue's row.
ROW_WIDTH, ROW_HEIGHT = 260, 64
#: Tick labels' font size, in CSS pixels.
FONT_PX = 11
#: Steps the time axis may use, in seconds: the first that gives at most
#: the ticks asked for wins.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


def nice_top(value: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) at or above ``value``.

    Example:
        >>> nice_top(0), nice_top(7), nice_top(12), nice_top(230)
        (1.0, 10.0, 20.0, 250.0)
    """
    if not value > 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover - the loop ends at 10


def compact(value: float) -> str:
    """A number in a few characters: ``950``, ``1.2k``, ``3M``.

    Example:
        >>> compact(950), compact(1200), compact(2.5), compact(3_000_000)
        ('950', '1.2k', '2.5', '3M')
    """
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def time_step(start: float, end: float, most: int) -> int:
    """The round step (seconds) that puts at most ``most`` ticks between ``start`` and ``end``.

    Example:
        >>> time_step(0, 3600, 5), time_step(0, 20, 5)
        (900, 5)
    """
    span = max(end - start, 1.0)
    return next((s for s in TIME_STEPS if span / s <= most - 1), TIME_STEPS[-1])


def time_ticks(start: float, end: float, step: int) -> list[float]:
    """The multiples of ``step`` seconds between ``start`` and ``end``.

    Example:
        >>> time_ticks(0, 3600, 900)
        [0, 900, 1800, 2700, 3600]
    """
    first = math.ceil(start / step) * step
    return [first + n * step for n in range(int((end - first) // step) + 1)]


def clock(at: float, step_under_a_minute: bool) -> str:
    """A tick's label: ``HH:MM`` in UTC, with seconds when ticks are closer than a minute."""
    return time.strftime("%H:%M:%S" if step_under_a_minute else "%H:%M", time.gmtime(at))


def line_chart(
    points: Sequence[tuple[float, float | None]],
    start: float,
    end: float,
    label: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Draws a line chart of ``(time, value)`` points between ``start`` and ``end``.

    Example:
        >>> svg = line_chart([(0, 1), (30, 3), (60, 2)], 0, 60, "depth")
        >>> svg.startswith("<svg") and "polyline" in svg and ">00:01:00<" in svg
        True

    Args:
        points: Times (seconds since the epoch) and values; a None value
            breaks the line.
        start: The time at the left edge.
        end: The time at the right edge.
        label: What it shows (also its accessible title).
        width: Pixels.
        height: Pixels.

    Returns:
        The ``<svg>`` element's markup.
    """
    values = [v for _, v in points if v is not None and math.isfinite(v)]
    top = nice_top(max(values, default=0.0))
    small = height < 100
    left, right, above, below = (34 if small else 44), 8, FONT_PX // 2 + 2, FONT_PX + 8
    plot_w, plot_h = width - left - right, height - above - below
    span = (end - start) or 1.0

    def x_of(at: float) -> float:
        return left + (at - start) / span * plot_w

    def y_of(value: float) -> float:
        return above + (1 - min(value, top) / top) * plot_h

    title = html.escape(label)
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{title}</title>",
    ]
    for level in (0.0, top) if small else (0.0, top / 2, top):
        y = y_of(level)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick y" x="{left - 4}" y="{y + FONT_PX / 2 - 1:.1f}" '
            f'text-anchor="end">{compact(level)}</text>'
        )
    step = time_step(start, end, 3 if small else 5)
    ticks, close = time_ticks(start, end, step), step < 60
    baseline = above + plot_h
    for tick in ticks:
        x = x_of(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{baseline}" x2="{x:.1f}" y2="{baseline + 3}"/>')
        anchor = "start" if x - left < 20 else "end" if width - right - x < 20 else "middle"
        text = clock(tick, close)
        y = height - 3
        parts.append(f'<text class="tick x" x="{x:.1f}" y="{y}" text-anchor="{anchor}">{text}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{baseline}" x2="{width - right}" y2="{baseline}"/>')
    lines: list[list[str]] = [[]]
    for when, value in points:
        if value is None or not math.isfinite(value):
            lines.append([])
            continue
        lines[-1].append(f"{x_of(when):.1f},{y_of(value):.1f}")
    for line in lines:
        if len(line) == 1:
            cx, cy = line[0].split(",")
            parts.append(f'<circle class="dot" cx="{cx}" cy="{cy}" r="2"/>')
        elif line:
            parts.append(f'<polyline class="line" points="{" ".join(line)}"/>')
    if not values:
        parts.append(
            f'<text class="tick empty" x="{left + plot_w / 2:.1f}" y="{above + plot_h / 2:.1f}" '
            'text-anchor="middle">no data yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
