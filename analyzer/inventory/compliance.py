"""The PII report as a compliance document (``apicensus report pii``), built on :mod:`reports`.

On top of the exposure tables of :mod:`analyzer.inventory.reports` it adds what someone who
hands the document on needs: the observation period, an executive summary (what is exposed,
where, to how many clients, unauthenticated PII first), credentials counted apart from personal
data, a breakdown by owner / application / business unit (an endpoint inherits its service's
fields unless it has its own), trends over the period (new PII fields and traffic of PII-carrying
endpoints per day), the actionable findings with remediation advice per kind, and the filters
the document was made with (service, owner, period). Same formats: JSON, CSV, one printable HTML
page (no script, nothing fetched).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.alerts.model import REMEDIATION
from analyzer.db.models import Endpoint, EndpointHourly, EndpointPeer, Service
from analyzer.inventory import reports
from analyzer.inventory.findings import CREDENTIAL_TYPES, build_findings

UNASSIGNED = "(unassigned)"
MAX_DAYS = 400  # trend buckets: a longer period is shown by week


@dataclass(frozen=True, slots=True)
class Filters:
    service: str | None = None  # host
    owner: str | None = None
    since: datetime | None = None  # PII last seen at or after
    until: datetime | None = None  # PII first seen before

    def public(self) -> dict[str, str | None]:
        return {
            "service": self.service,
            "owner": self.owner,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True, slots=True)
class Context:
    """Per endpoint: ownership (inherited from the service) and exposure facts."""

    owner: str | None
    application: str | None
    business_unit: str | None
    unauthenticated: bool
    clients: int


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _contexts(session: Session, endpoint_ids: Sequence[int]) -> dict[int, Context]:
    out: dict[int, Context] = {}
    ids = sorted(set(endpoint_ids))
    clients: Counter[int] = Counter()
    for start in range(0, len(ids), 5_000):
        chunk = ids[start : start + 5_000]
        for eid, n in session.execute(
            select(EndpointPeer.endpoint_id, func.count())
            .where(EndpointPeer.endpoint_id.in_(chunk), EndpointPeer.kind == "client")
            .group_by(EndpointPeer.endpoint_id)
        ):
            clients[eid] = int(n)
        for row in session.execute(
            select(
                Endpoint.id,
                func.coalesce(Endpoint.owner, Service.owner),
                func.coalesce(Endpoint.application, Service.application),
                func.coalesce(Endpoint.business_unit, Service.business_unit),
                Endpoint.unauthenticated_2xx,
            )
            .join(Service, Service.id == Endpoint.service_id)
            .where(Endpoint.id.in_(chunk))
        ):
            eid, owner, application, unit, unauth = row
            out[eid] = Context(owner, application, unit, bool(unauth), clients[eid])
    return out


def load(session: Session, filters: Filters, *, full_samples: bool) -> tuple[list[reports.FindingRow], dict[int, Context]]:
    """The report's PII rows after the filters, and each endpoint's context."""
    rows = reports.load_findings(session=session, full_samples=full_samples)
    if filters.service:
        rows = [r for r in rows if r.host == filters.service.lower()]
    if filters.since:
        rows = [r for r in rows if r.last_seen >= filters.since]
    if filters.until:
        rows = [r for r in rows if r.first_seen < filters.until]
    contexts = _contexts(session, [r.endpoint_id for r in rows])
    if filters.owner:
        rows = [r for r in rows if (contexts[r.endpoint_id].owner or "") == filters.owner]
    return rows, contexts


def _is_credential(row: reports.FindingRow) -> bool:
    return row.type in CREDENTIAL_TYPES


def _day_buckets(first: date, last: date) -> tuple[int, list[date]]:
    days = (last - first).days + 1
    step = 7 if days > MAX_DAYS else 1
    buckets = [first + timedelta(days=i) for i in range(0, days, step)]
    return step, buckets[: MAX_DAYS]


def build(session: Session, filters: Filters, *, full_samples: bool, generated_at: datetime | None = None) -> dict[str, Any]:
    """The compliance document as plain data (the JSON format)."""
    generated_at = generated_at or datetime.now(UTC)
    rows, contexts = load(session, filters, full_samples=full_samples)
    personal = [r for r in rows if not _is_credential(r)]
    credentials = [r for r in rows if _is_credential(r)]
    base = reports.build_report(personal, generated_at=generated_at)
    period_start = min((r.first_seen for r in rows), default=None)
    period_end = max((r.last_seen for r in rows), default=None)

    endpoints: dict[int, dict[str, Any]] = {}
    for r in rows:
        ctx = contexts[r.endpoint_id]
        ep = endpoints.setdefault(
            r.endpoint_id,
            {"endpoint_id": r.endpoint_id, "host": r.host, "method": r.method, "path": r.path,
             "owner": ctx.owner, "application": ctx.application, "business_unit": ctx.business_unit,
             "unauthenticated": ctx.unauthenticated, "clients": ctx.clients,
             "personal_types": set(), "credential_types": set(), "occurrences": 0},
        )
        ep["credential_types" if _is_credential(r) else "personal_types"].add(r.type)
        ep["occurrences"] += r.count
    exposed = sorted(
        (e for e in endpoints.values() if e["unauthenticated"] and e["personal_types"]),
        key=lambda e: (-e["occurrences"], e["host"], e["path"]),
    )
    for e in endpoints.values():
        e["personal_types"] = sorted(e["personal_types"])
        e["credential_types"] = sorted(e["credential_types"])

    def breakdown(field: str) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in endpoints.values():
            groups[e[field] or UNASSIGNED].append(e)
        out = [
            {field: name, "endpoints": len(group), "services": len({e["host"] for e in group}),
             "occurrences": sum(e["occurrences"] for e in group),
             "unauthenticated_endpoints": sum(1 for e in group if e["unauthenticated"] and e["personal_types"]),
             "types": sorted({t for e in group for t in e["personal_types"] + e["credential_types"]})}
            for name, group in groups.items()
        ]
        return sorted(out, key=lambda d: (-d["occurrences"], str(d[field])))

    trends: list[dict[str, Any]] = []
    step = 1
    if period_start and period_end:
        step, buckets = _day_buckets(period_start.date(), period_end.date())
        index = {b: i for i, b in enumerate(buckets)}

        def bucket(day: date) -> date:
            offset = (day - buckets[0]).days // step * step
            return buckets[0] + timedelta(days=offset)

        new_fields: Counter[date] = Counter()
        for r in rows:
            new_fields[bucket(r.first_seen.date())] += 1
        traffic: Counter[date] = Counter()
        ids = sorted(endpoints)
        for start in range(0, len(ids), 5_000):
            for hour, count in session.execute(
                select(EndpointHourly.hour, func.sum(EndpointHourly.count))
                .where(EndpointHourly.endpoint_id.in_(ids[start : start + 5_000]),
                       EndpointHourly.hour >= datetime.combine(buckets[0], datetime.min.time(), UTC),
                       EndpointHourly.hour <= period_end)
                .group_by(EndpointHourly.hour)
            ):
                b = bucket(_utc(hour).date())
                if b in index:
                    traffic[b] += int(count)
        trends = [{"from": b.isoformat(), "new_pii_fields": new_fields[b], "requests_to_pii_endpoints": traffic[b]}
                  for b in buckets]

    findings = build_findings(session=session, full_samples=full_samples, host=filters.service.lower() if filters.service else None)
    if filters.owner:
        findings = [f for f in findings if f["endpoint"]["id"] in endpoints]
    kinds: dict[str, dict[str, Any]] = {}
    for f in findings:
        k = kinds.setdefault(f["kind"], {"kind": f["kind"], "count": 0, "severity": f["severity"],
                                         "remediation": REMEDIATION.get(f["kind"], ""), "endpoints": []})
        k["count"] += 1
        if len(k["endpoints"]) < 50:
            ep = f["endpoint"]
            k["endpoints"].append(f"{ep['method']} {ep['host']}{ep['path_template']}")

    return {
        "title": "PII exposure report",
        "generated_at": generated_at.isoformat(),
        "filters": filters.public(),
        "observation_period": {
            "start": period_start.isoformat() if period_start else None,
            "end": period_end.isoformat() if period_end else None,
            "days": round((period_end - period_start).total_seconds() / 86400, 1) if period_start and period_end else 0,
        },
        "executive_summary": {
            "unauthenticated_pii_endpoints": len(exposed),
            "services_with_personal_data": len({r.host for r in personal}),
            "endpoints_with_personal_data": len({r.endpoint_id for r in personal}),
            "personal_data_types": sorted({r.type for r in personal}),
            "personal_data_values_observed": sum(r.count for r in personal),
            "credential_types": sorted({r.type for r in credentials}),
            "credential_values_observed": sum(r.count for r in credentials),
            "endpoints_with_credentials": len({r.endpoint_id for r in credentials}),
            "clients_receiving_personal_data": sum(e["clients"] for e in endpoints.values() if e["personal_types"]),
            "open_findings": len(findings),
        },
        "unauthenticated_exposure": exposed,
        "personal_data": {k: base[k] for k in ("summary", "by_type", "by_location", "by_service", "by_endpoint")},
        "credentials": reports.build_report(credentials, generated_at=generated_at)["by_type"],
        "by_owner": breakdown("owner"),
        "by_application": breakdown("application"),
        "by_business_unit": breakdown("business_unit"),
        "trend_step_days": step,
        "trends": trends,
        "findings_by_kind": sorted(kinds.values(), key=lambda k: -k["count"]),
        "findings": base["findings"] + reports.build_report(credentials, generated_at=generated_at)["findings"],
    }


CSV_COLUMNS = (*reports.CSV_COLUMNS, "category", "unauthenticated", "owner", "application", "business_unit",
               "first_seen", "last_seen")


def render_csv(rows: Sequence[reports.FindingRow], contexts: Mapping[int, Context]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        ctx = contexts[r.endpoint_id]
        values = (r.host, r.path, r.method, r.location, r.type, r.field, r.count, r.sample or "",
                  "credential" if _is_credential(r) else "personal", "yes" if ctx.unauthenticated else "no",
                  ctx.owner or "", ctx.application or "", ctx.business_unit or "",
                  r.first_seen.isoformat(), r.last_seen.isoformat())
        writer.writerow([reports._csv_cell(v) for v in values])
    return out.getvalue()


def _table(headers: Sequence[str], body: Sequence[Sequence[Any]], cls: str) -> str:
    def cell(v: Any) -> str:
        num = isinstance(v, int) and not isinstance(v, bool)
        return f'<td class="{"num" if num else ""}">{f"{v:,}" if num else escape(str(v))}</td>'

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _span(doc: Mapping[str, Any]) -> str:
    period = doc["observation_period"]
    if not period["start"] or not period["end"]:
        return "no observations"
    seconds = (datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])).total_seconds()
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def render_html(doc: Mapping[str, Any], rows: Sequence[reports.FindingRow], *, full_samples: bool) -> str:
    """One printable page: the compliance sections first, then the exposure tables of
    :func:`reports.render_html` (personal data only; credentials have their own section)."""
    es = doc["executive_summary"]
    period = doc["observation_period"]
    f = {k: v for k, v in doc["filters"].items() if v}
    start = (period["start"] or "-")[:10]
    end = (period["end"] or "-")[:10]
    unauth = es["unauthenticated_pii_endpoints"]
    lead = (
        f"<p class=\"lead\"><strong>{unauth:,} endpoint{'s' if unauth != 1 else ''} served personal data "
        f"without authentication.</strong> " if unauth else '<p class="lead">No endpoint served personal data without authentication. '
    ) + (
        f"Personal data ({escape(', '.join(es['personal_data_types']) or 'none')}) was seen on "
        f"{es['endpoints_with_personal_data']:,} endpoints of {es['services_with_personal_data']:,} services, "
        f"{es['personal_data_values_observed']:,} values in all, received by {es['clients_receiving_personal_data']:,} "
        f"client addresses. Credentials ({escape(', '.join(es['credential_types']) or 'none')}) appeared "
        f"{es['credential_values_observed']:,} times on {es['endpoints_with_credentials']:,} endpoints.</p>"
    )
    exposed = _table(
        ["Service", "Method", "Endpoint", "Personal data", "Values", "Clients", "Owner"],
        [[e["host"], e["method"], e["path"], ", ".join(e["personal_types"]), e["occurrences"], e["clients"],
          e["owner"] or UNASSIGNED] for e in doc["unauthenticated_exposure"]],
        "unauthenticated",
    ) if doc["unauthenticated_exposure"] else '<p class="note">None.</p>'
    creds = _table(["Credential type", "Values", "Fields", "Endpoints", "Found in"],
                   [[c["type"], c["occurrences"], c["findings"], c["endpoints"], ", ".join(c["locations"])]
                    for c in doc["credentials"]], "credentials") if doc["credentials"] else '<p class="note">None.</p>'

    def breakdown(key: str, label: str) -> str:
        return _table([label, "Endpoints", "Services", "Values", "Unauthenticated", "Types"],
                      [[b[key], b["endpoints"], b["services"], b["occurrences"], b["unauthenticated_endpoints"],
                        ", ".join(b["types"])] for b in doc[f"by_{key}"]], f"by-{key}")

    trend_chart = reports.bar_chart_svg(
        "New PII fields per period", [(t["from"], t["new_pii_fields"]) for t in doc["trends"] if t["new_pii_fields"]][-30:]
    )
    traffic_chart = reports.bar_chart_svg(
        "Requests to PII endpoints", [(t["from"], t["requests_to_pii_endpoints"]) for t in doc["trends"]
                                      if t["requests_to_pii_endpoints"]][-30:]
    )
    advice = "".join(
        f'<section class="advice"><h3>{escape(k["kind"])} <span class="sev">{escape(k["severity"])}</span> '
        f'&middot; {k["count"]:,}</h3><p>{escape(k["remediation"])}</p>'
        f'<p class="note">{escape("; ".join(k["endpoints"][:10]))}</p></section>'
        for k in doc["findings_by_kind"]
    ) or '<p class="note">No open findings.</p>'
    compliance = (
        f'<h2>Executive summary</h2>{lead}'
        f'<p class="meta">Observation period {escape(start)} to {escape(end)} ({escape(_span(doc))})'
        + (f" &middot; filters: {escape(', '.join(f'{k}={v}' for k, v in f.items()))}" if f else "")
        + "</p>"
        f"<h2>Personal data served without authentication</h2>{exposed}"
        f"<h2>Credentials (counted apart from personal data)</h2>{creds}"
        f"<h2>By owner</h2>{breakdown('owner', 'Owner')}"
        f"<h2>By application</h2>{breakdown('application', 'Application')}"
        f"<h2>By business unit</h2>{breakdown('business_unit', 'Business unit')}"
        f'<h2>Trends over the period</h2><div class="charts"><figure><figcaption>New PII fields '
        f"(per {doc['trend_step_days']} day{'s' if doc['trend_step_days'] > 1 else ''})</figcaption>{trend_chart}</figure>"
        f"<figure><figcaption>Requests to PII-carrying endpoints</figcaption>{traffic_chart}</figure></div>"
        f"<h2>Findings and remediation</h2>{advice}"
    )
    personal = [r for r in rows if not _is_credential(r)]
    page = reports.render_html(reports.build_report(personal, generated_at=datetime.fromisoformat(doc["generated_at"])),
                               personal, full_samples=full_samples)
    extra_css = (".lead{font-size:15px}.advice{break-inside:avoid;border-left:4px solid #d97706;padding:0 12px;margin:8px 0}"
                 ".sev{font-size:12px;color:#b45309;text-transform:uppercase}"
                 "@media print{.advice{border-left-color:#999}}")
    page = page.replace("</style>", extra_css + "</style>", 1)
    marker = "<h2>Summary</h2>"
    return page.replace(marker, compliance + '<h2>Exposure in detail</h2>' + marker.replace("h2", "h3"), 1)


__all__ = ["Filters", "build", "load", "render_csv", "render_html"]
