"""Templates, security headers and the console's inline SVG charts (server-side, printable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from inventory_api.ui.auth import ConsoleUser

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: Any) -> str:
    if value is None:
        return "—"
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        return str(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _query(params: Mapping[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` applied (None removes), as a query string."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for name, value in merged.items():
        if value is None or value == "":
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            pairs.append((name, str(v)))
    return urlencode(pairs)


_env.filters["when"] = _when
_env.filters["num"] = _num
_env.globals["query"] = _query


def page(
    request: Request, template: str, user: ConsoleUser | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, user=user, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


# --- Charts -----------------------------------------------------------------------------------


# Charts are built here with every text escaped; templates insert them with ``|safe``.
def time_chart_svg(title: str, points: Sequence[tuple[datetime, int]], *, width: int = 720, height: int = 180) -> str:
    """Counts over time as columns (one per bucket) with the peak and the first/last labels."""
    left, bottom, top = 48, 22, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    if not points:
        parts.append(f'<text x="{left}" y="{top + 20}" class="empty">No traffic recorded</text></svg>')
        return "".join(parts)
    peak = max(c for _, c in points) or 1
    step = plot_w / len(points)
    bar_w = min(24.0, max(1.0, step * 0.8))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9ca3af"/>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="axis">{peak:,}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>'
    )
    for i, (when, count) in enumerate(points):
        h = plot_h * count / peak
        x = left + i * step
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
            f'fill="#2563eb"><title>{_when(when)}: {count:,}</title></rect>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" class="axis">{_when(points[0][0])}</text>'
        f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" class="axis">{_when(points[-1][0])}</text>'
        "</svg>"
    )
    return "".join(parts)


def bars_svg(title: str, items: Sequence[tuple[str, int]], *, width: int = 460) -> str:
    """Horizontal bars, as the PII report draws them (analyzer.inventory.reports.bar_chart_svg)."""
    from analyzer.inventory.reports import bar_chart_svg

    return bar_chart_svg(title, items, width=width)
