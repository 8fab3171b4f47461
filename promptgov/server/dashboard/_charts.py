"""Bar charts drawn on the server as SVG: no script, nothing fetched, readable by a screen
reader through the title and the table the page puts beside each chart."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 420
HEIGHT = 160
_PAD_LEFT = 48
_PAD_BOTTOM = 36
_PAD_TOP = 12


def bar_chart(
    title: str,
    points: Sequence[tuple[str, float | None]],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    top: float | None = None,
) -> Markup:
    """An SVG bar per (label, value); a missing value is drawn as an empty slot marked '–'."""
    values = [v for _, v in points if v is not None]
    high = top if top is not None else (max(values) if values else 1.0) or 1.0
    plot_w = WIDTH - _PAD_LEFT - 8
    plot_h = HEIGHT - _PAD_BOTTOM - _PAD_TOP
    slot = plot_w / max(1, len(points))
    bar = max(4.0, slot * 0.6)
    base = _PAD_TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_PAD_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" class="axis"/>',
        f'<text x="{_PAD_LEFT - 4}" y="{_PAD_TOP + 4}" class="tick" text-anchor="end">'
        f"{escape(fmt(high))}</text>",
        f'<text x="{_PAD_LEFT - 4}" y="{base}" class="tick" text-anchor="end">0</text>',
    ]
    for i, (label, value) in enumerate(points):
        x = _PAD_LEFT + i * slot + (slot - bar) / 2
        cx = x + bar / 2
        if value is None:
            parts.append(
                f'<text x="{cx:.1f}" y="{base - 4}" class="tick" text-anchor="middle">–</text>'
            )
        else:
            h = plot_h * min(1.0, max(0.0, value / high))
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" class="bar">'
                f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{base + 14}" class="tick" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
