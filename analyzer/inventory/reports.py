"""Compliance reports: PII exposure by type, service, endpoint and location, as JSON, CSV or HTML.

Everything comes from ``pii_findings`` (one row per endpoint, type, location and field, with the
detector's masked sample). Viewers get samples masked again to shape only, as in the catalog.

The HTML is one self-contained page: inline CSS, inline SVG charts drawn here, no script and
nothing fetched (its Content-Security-Policy forbids loading anything), printable.
Path templates, hosts and field names come from observed traffic, so every value is escaped in
HTML, and CSV cells that a spreadsheet would run as a formula get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, PiiFinding, Service
from analyzer.inventory.samples import shown

CSV_COLUMNS = ("service", "endpoint", "method", "location", "type", "field", "count", "masked_sample")
# A page that can load nothing: styles inline, images only as data: URIs.
HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True, slots=True)
class FindingRow:
    service_id: int
    host: str
    endpoint_id: int
    method: str
    path: str
    location: str
    type: str
    field: str
    count: int
    sample: str | None
    first_seen: datetime
    last_seen: datetime


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def load_findings(*, session: Session, full_samples: bool) -> list[FindingRow]:
    """Every finding with its endpoint and service, ordered for the report (host, path, method)."""
    stmt = (
        select(
            Service.id,
            Service.host,
            Endpoint.id,
            Endpoint.method,
            Endpoint.path_template,
            PiiFinding.location,
            PiiFinding.type,
            PiiFinding.field,
            PiiFinding.count,
            PiiFinding.sample,
            PiiFinding.first_seen,
            PiiFinding.last_seen,
        )
        .join(Endpoint, Endpoint.id == PiiFinding.endpoint_id)
        .join(Service, Service.id == Endpoint.service_id)
        .order_by(
            Service.host,
            Endpoint.path_template,
            Endpoint.method,
            PiiFinding.location,
            PiiFinding.type,
            PiiFinding.field,
        )
    )
    return [
        FindingRow(
            service_id=sid,
            host=host,
            endpoint_id=eid,
            method=method,
            path=path,
            location=location,
            type=typ,
            field=field,
            count=int(count or 0),
            sample=shown(sample, full_samples=full_samples),
            first_seen=_utc(first),
            last_seen=_utc(last),
        )
        for sid, host, eid, method, path, location, typ, field, count, sample, first, last in session.execute(
            stmt
        )
    ]


def _group(rows: Iterable[FindingRow], key: Any) -> dict[Any, list[FindingRow]]:
    out: dict[Any, list[FindingRow]] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


def _stats(rows: Sequence[FindingRow]) -> dict[str, Any]:
    return {
        "findings": len(rows),
        "occurrences": sum(r.count for r in rows),
        "endpoints": len({r.endpoint_id for r in rows}),
        "services": len({r.service_id for r in rows}),
    }


def _by_occurrences(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: (-d["occurrences"], -d["findings"], str(d[name])))


def build_report(rows: Sequence[FindingRow], *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The report as plain data (the JSON format; CSV and HTML are rendered from it and ``rows``)."""
    generated_at = generated_at or datetime.now(UTC)
    by_type = [
        {"type": typ, **_stats(group), "locations": sorted({r.location for r in group})}
        for typ, group in _group(rows, lambda r: r.type).items()
    ]
    by_location = [
        {"location": loc, **_stats(group), "types": sorted({r.type for r in group})}
        for loc, group in _group(rows, lambda r: r.location).items()
    ]
    by_service = [
        {
            "service_id": sid,
            "host": host,
            **_stats(group),
            "types": sorted({r.type for r in group}),
            "locations": sorted({r.location for r in group}),
        }
        for (sid, host), group in _group(rows, lambda r: (r.service_id, r.host)).items()
    ]
    by_endpoint = [
        {
            "endpoint_id": eid,
            "service_id": sid,
            "host": host,
            "method": method,
            "path": path,
            "findings": len(group),
            "occurrences": sum(r.count for r in group),
            "types": sorted({r.type for r in group}),
            "locations": sorted({r.location for r in group}),
        }
        for (eid, sid, host, method, path), group in _group(
            rows, lambda r: (r.endpoint_id, r.service_id, r.host, r.method, r.path)
        ).items()
    ]
    return {
        "generated_at": generated_at.isoformat(),
        "summary": {**_stats(rows), "types": len(by_type), "locations": len(by_location)},
        "by_type": _by_occurrences(by_type, "type"),
        "by_location": _by_occurrences(by_location, "location"),
        "by_service": _by_occurrences(by_service, "host"),
        "by_endpoint": _by_occurrences(by_endpoint, "path"),
        "findings": [
            {
                "service_id": r.service_id,
                "service": r.host,
                "endpoint_id": r.endpoint_id,
                "method": r.method,
                "path": r.path,
                "location": r.location,
                "type": r.type,
                "field": r.field,
                "count": r.count,
                "masked_sample": r.sample,
                "first_seen": r.first_seen.isoformat(),
                "last_seen": r.last_seen.isoformat(),
            }
            for r in rows
        ],
    }


# --- CSV --------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    # Observed paths and fields are attacker-controlled: keep a spreadsheet from running them.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(rows: Sequence[FindingRow]) -> str:
    """One row per (service, endpoint, method, location, type, field): RFC 4180 quoting, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                _csv_cell(v)
                for v in (r.host, r.path, r.method, r.location, r.type, r.field, r.count, r.sample or "")
            ]
        )
    return out.getvalue()


# --- HTML -------------------------------------------------------------------------------------

TOP_ENDPOINTS = 25
_PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


def _num(value: int) -> str:
    return f"{value:,}"


def bar_chart_svg(title: str, items: Sequence[tuple[str, int]], *, width: int = 500) -> str:
    """A horizontal bar chart as inline SVG: one labelled ``rect.bar`` per item, value at its end."""
    bar_h, gap, label_w, value_w, top = 22, 8, 170, 80, 8
    height = top * 2 + max(1, len(items)) * (bar_h + gap)
    peak = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - value_w
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append(f'<text x="0" y="{top + 16}" class="empty">No findings</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(2.0, plot_w * value / peak)
        colour = _PALETTE[i % len(_PALETTE)]
        short = label if len(label) <= 24 else label[:23] + "\u2026"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" class="label">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'fill="{colour}"><title>{escape(label)}: {_num(value)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}" class="value">{_num(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1f2937;background:#fff;margin:0 auto;padding:32px;max-width:1180px;line-height:1.45}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 12px;border-bottom:2px solid #e5e7eb;padding-bottom:4px}
h3{font-size:16px;margin:24px 0 8px}
.meta{color:#6b7280;margin:0 0 24px}
.summary{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 8px;padding:0;list-style:none}
.summary li{border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;min-width:150px;background:#f9fafb}
.summary .n{display:block;font-size:26px;font-weight:700;color:#111827}
.summary .k{color:#4b5563;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0;border:1px solid #e5e7eb;border-radius:8px;padding:12px}
figcaption{font-weight:600;margin-bottom:8px}
svg.chart text{font-size:12px;fill:#374151}
svg.chart .value{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px;margin:0 0 8px}
th,td{border:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.path,td.field,td.sample{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.method{font-weight:700}
.service{break-inside:avoid-page}
.note{color:#6b7280;font-size:12px}
@media print{
 body{padding:0;max-width:none;font-size:11px}
 h2{break-after:avoid}
 h3{break-after:avoid}
 figure,tr{break-inside:avoid}
 .summary li{background:none}
 th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}
 svg.chart rect{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 a{color:inherit;text-decoration:none}
}
@page{margin:14mm}
"""


def _table(headers: Sequence[tuple[str, str]], body: Iterable[Sequence[tuple[str, str]]], cls: str) -> str:
    """``headers`` and cells are (css class, already-escaped text)."""
    head = "".join(f'<th class="{c}">{t}</th>' for c, t in headers)
    rows = "".join("<tr>" + "".join(f'<td class="{c}">{t}</td>' for c, t in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def render_html(report: Mapping[str, Any], rows: Sequence[FindingRow], *, full_samples: bool) -> str:
    generated = datetime.fromisoformat(report["generated_at"]).astimezone(UTC)
    s = report["summary"]
    summary = "".join(
        f'<li><span class="n">{_num(n)}</span><span class="k">{k}</span></li>'
        for n, k in (
            (s["services"], "services with PII"),
            (s["endpoints"], "endpoints with PII"),
            (s["types"], "kinds of PII"),
            (s["findings"], "fields carrying PII"),
            (s["occurrences"], "PII values observed"),
        )
    )
    type_chart = bar_chart_svg(
        "PII values observed by type", [(t["type"], t["occurrences"]) for t in report["by_type"]]
    )
    loc_chart = bar_chart_svg(
        "PII values observed by location", [(t["location"], t["occurrences"]) for t in report["by_location"]]
    )
    type_table = _table(
        [
            ("", "Type"),
            ("num", "Values observed"),
            ("num", "Fields"),
            ("num", "Endpoints"),
            ("num", "Services"),
            ("", "Found in"),
        ],
        (
            [
                ("", escape(t["type"])),
                ("num", _num(t["occurrences"])),
                ("num", _num(t["findings"])),
                ("num", _num(t["endpoints"])),
                ("num", _num(t["services"])),
                ("", escape(", ".join(t["locations"]))),
            ]
            for t in report["by_type"]
        ),
        "by-type",
    )
    service_summary = _table(
        [("", "Service"), ("num", "Values observed"), ("num", "Endpoints"), ("", "Kinds of PII")],
        (
            [
                ("", escape(sv["host"])),
                ("num", _num(sv["occurrences"])),
                ("num", _num(sv["endpoints"])),
                ("", escape(", ".join(sv["types"]))),
            ]
            for sv in report["by_service"]
        ),
        "by-service",
    )
    top = report["by_endpoint"][:TOP_ENDPOINTS]
    endpoint_table = _table(
        [
            ("", "Service"),
            ("", "Method"),
            ("", "Endpoint"),
            ("num", "Values observed"),
            ("", "Kinds of PII"),
            ("", "Found in"),
        ],
        (
            [
                ("", escape(e["host"])),
                ("method", escape(e["method"])),
                ("path", escape(e["path"])),
                ("num", _num(e["occurrences"])),
                ("", escape(", ".join(e["types"]))),
                ("", escape(", ".join(e["locations"]))),
            ]
            for e in top
        ),
        "by-endpoint",
    )
    more = len(report["by_endpoint"]) - len(top)
    if more > 0:
        endpoint_table += f'<p class="note">and {_num(more)} more endpoints, listed per service below.</p>'
    per_service = []
    groups = _group(rows, lambda r: (r.service_id, r.host))
    for sv in report["by_service"]:
        group = groups[(sv["service_id"], sv["host"])]
        table = _table(
            [
                ("", "Endpoint"),
                ("", "Method"),
                ("", "Location"),
                ("", "Type"),
                ("", "Field"),
                ("num", "Count"),
                ("", "Masked sample"),
            ],
            (
                [
                    ("path", escape(r.path)),
                    ("method", escape(r.method)),
                    ("", escape(r.location)),
                    ("", escape(r.type)),
                    ("field", escape(r.field)),
                    ("num", _num(r.count)),
                    ("sample", escape(r.sample or "")),
                ]
                for r in group
            ),
            "service-findings",
        )
        per_service.append(
            f'<section class="service"><h3>{escape(sv["host"])}</h3>'
            f'<p class="note">{_num(sv["endpoints"])} endpoints, {_num(sv["findings"])} fields, '
            f"{_num(sv['occurrences'])} values observed</p>{table}</section>"
        )
    masking = (
        "Samples are shown as the detector masked them."
        if full_samples
        else "Samples are shown fully masked: only their shape (length and punctuation) is kept."
    )
    body = (
        f"<h1>PII exposure report</h1>"
        f'<p class="meta">APICensus \u00b7 generated {escape(generated.strftime("%d %B %Y, %H:%M UTC"))}</p>'
        f'<h2>Summary</h2><ul class="summary">{summary}</ul>'
        f'<p class="note">Personal data seen in API traffic by passive observation. A "value observed" is '
        f"one occurrence of personal data in a request, response, query string or header. {masking}</p>"
        f'<h2>Charts</h2><div class="charts">'
        f"<figure><figcaption>By type of personal data</figcaption>{type_chart}</figure>"
        f"<figure><figcaption>By where it appears</figcaption>{loc_chart}</figure></div>"
        f"<h2>By type</h2>{type_table}"
        f"<h2>By service</h2>{service_summary}"
        f"<h2>Most exposed endpoints</h2>{endpoint_table}"
        f"<h2>Findings per service</h2>"
        + ("".join(per_service) or '<p class="note">No personal data has been observed.</p>')
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>PII exposure report \u2013 {escape(generated.strftime('%Y-%m-%d'))}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )
