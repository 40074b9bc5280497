"""Small charts as inline SVG, drawn on the server: no script, no library.

Only numbers and :func:`html.escape`-d labels go into the markup, so a chart
cannot carry anything from a payload.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

WIDTH = 300
HEIGHT = 60


def spark(
    points: Sequence[tuple[float, float | None]],
    start: float,
    end: float,
    label: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Draws a line chart of ``(time, value)`` points between ``start`` and ``end``.

    Example:
        >>> svg = spark([(0, 1), (30, 3), (60, 2)], 0, 60, "depth")
        >>> svg.startswith("<svg") and "polyline" in svg
        True

    Args:
        points: Times and values; a None value breaks the line.
        start: The time at the left edge.
        end: The time at the right edge.
        label: What it shows (also its accessible title).
        width: Pixels.
        height: Pixels.

    Returns:
        The ``<svg>`` element's markup.
    """
    values = [v for _, v in points if v is not None]
    top = max(values) if values else 0.0
    scale = top if top > 0 else 1.0
    span = (end - start) or 1.0
    pad = 12  # room at the top for the maximum's label
    lines: list[list[str]] = [[]]
    for at, value in points:
        if value is None:
            lines.append([])
            continue
        x = (at - start) / span * width
        y = pad + (1 - value / scale) * (height - pad - 1)
        lines[-1].append(f"{x:.1f},{y:.1f}")
    title = html.escape(label)
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{title}</title>",
        f'<line class="axis" x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}"/>',
    ]
    for line in lines:
        if len(line) == 1:
            cx, cy = line[0].split(",")
            parts.append(f'<circle class="dot" cx="{cx}" cy="{cy}" r="1.5"/>')
        elif line:
            parts.append(f'<polyline class="line" points="{" ".join(line)}"/>')
    shown = f"{top:g}" if values else "no data yet"
    parts.append(f'<text class="max" x="2" y="10">{html.escape(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)
