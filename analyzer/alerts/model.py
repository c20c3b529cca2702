"""The canonical alert: one frozen record per thing a SOC should hear about.

Every destination format (OCSF, CEF, Slack, Splunk HEC, syslog) is rendered from an
:class:`AlertEvent`; nothing downstream reads inventory rows or detector state. Three kinds feed it:
inventory findings (``analyzer`` findings rules), threat events (issue 11's detection engine) and
change events (issue 12's change history). The adapters at the bottom build alerts from the JSON
shapes those producers already publish (``GET /api/v1/findings`` items, ``export --format events``
lines, change events with before/after).

Evidence is cargo-free by construction: producers hand over masked samples, and
:func:`make_evidence` flattens, bounds and *scrubs* every string once more (an e-mail address, a
JWT, a bearer token, a card number or a long secret-looking token that slipped through is masked
here), so a destination never receives a raw value even if a producer forgets to mask one.

The record is versioned (``to_record``/``from_record``, ``RECORD_VERSION``) so outbox rows written by
an older release still deliver after an upgrade (mitmproxy's ``io/compat`` pattern).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

RECORD_VERSION = 1

# Bounds on what one alert may carry: destinations have message size limits (syslog over UDP,
# Slack blocks) and evidence is a summary, not a dump.
MAX_EVIDENCE_ITEMS = 32
MAX_TEXT = 256
MAX_TITLE = 300
MAX_DIGEST_MEMBERS = 100


class AlertKind(enum.StrEnum):
    FINDING = "finding"  # inventory findings (pii_unauthenticated, shadow_pii, ...)
    THREAT = "threat"  # runtime threat events (bola, injection, ...) and posture checks
    CHANGE = "change"  # API change events (new endpoint, new PII type, ...)


class Severity(enum.IntEnum):
    """Ordered: comparisons mean "at least as severe as"."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        text = value.strip().lower()
        aliases = {"informational": "info", "warning": "medium", "warn": "medium", "crit": "critical"}
        text = aliases.get(text, text)
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {value!r} (use one of {', '.join(s.label for s in cls)})"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """The API service an alert is about, with the ownership fields routing uses."""

    host: str
    owner: str | None = None
    team: str | None = None
    application: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class EndpointRef:
    method: str | None = None
    path_template: str | None = None
    id: int | None = None

    def label(self) -> str:
        return " ".join(p for p in (self.method, self.path_template) if p) or "-"


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Who did it: the client address and, for identities, only a masked hint plus a keyed hash."""

    ip: str | None = None
    identity: str | None = None  # masked hint from the detector ("jwt:acme/al…42"), never the value
    key: str | None = None  # keyed hash of the identity (stable id), never reversible

    def label(self) -> str:
        parts = [p for p in (self.identity, self.ip) if p]
        return " from ".join(parts) if parts else "-"


EvidenceValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class DigestInfo:
    """A digest stands for many alerts of one destination that arrived in a flood."""

    members: int
    by_type: tuple[tuple[str, int], ...]
    by_severity: tuple[tuple[str, int], ...]
    member_uids: tuple[str, ...]  # at most MAX_DIGEST_MEMBERS
    sample_titles: tuple[str, ...]  # at most 10
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: AlertKind
    type: str  # finding kind, threat type or change type: "pii_unauthenticated", "bola", "new_endpoint"
    severity: Severity
    title: str
    service: ServiceRef
    first_seen: datetime
    last_seen: datetime
    detected_at: datetime  # when APICensus produced the alert (OCSF ``time``)
    source_id: str  # the producer's id: finding id, event id or change id
    dedup_key: str  # what throttling folds on: the same finding / same actor on the same endpoint
    uid: str  # this alert instance: enqueuing the same uid twice for a destination is a no-op
    subtype: str | None = None
    endpoint: EndpointRef = field(default_factory=EndpointRef)
    actor: ActorRef | None = None
    count: int = 1
    evidence: tuple[tuple[str, EvidenceValue], ...] = ()
    description: str | None = None
    remediation: str | None = None
    before: tuple[tuple[str, EvidenceValue], ...] | None = None  # change events
    after: tuple[tuple[str, EvidenceValue], ...] | None = None
    pii_types: tuple[str, ...] = ()
    url: str | None = None  # the console page of the finding/event (phase 2: /ui/...)
    is_update: bool = False  # a repeat of a dedup key already alerted earlier
    digest: DigestInfo | None = None

    def __post_init__(self) -> None:
        for name in ("first_seen", "last_seen", "detected_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if not self.type or not self.dedup_key or not self.uid:
            raise ValueError("type, dedup_key and uid are required")

    @property
    def type_label(self) -> str:
        """``bola`` or ``injection/sqli``: the type with its subtype."""
        return f"{self.type}/{self.subtype}" if self.subtype else self.type

    def evidence_dict(self) -> dict[str, EvidenceValue]:
        return dict(self.evidence)

    # -- versioned record (outbox storage) ------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "v": RECORD_VERSION,
            "kind": self.kind.value,
            "type": self.type,
            "subtype": self.subtype,
            "severity": self.severity.label,
            "title": self.title,
            "service": {
                "host": self.service.host,
                "owner": self.service.owner,
                "team": self.service.team,
                "application": self.service.application,
                "id": self.service.id,
            },
            "endpoint": {
                "method": self.endpoint.method,
                "path_template": self.endpoint.path_template,
                "id": self.endpoint.id,
            },
            "actor": None
            if self.actor is None
            else {"ip": self.actor.ip, "identity": self.actor.identity, "key": self.actor.key},
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "detected_at": self.detected_at.isoformat(),
            "source_id": self.source_id,
            "dedup_key": self.dedup_key,
            "uid": self.uid,
            "count": self.count,
            "evidence": [list(item) for item in self.evidence],
            "description": self.description,
            "remediation": self.remediation,
            "before": None if self.before is None else [list(i) for i in self.before],
            "after": None if self.after is None else [list(i) for i in self.after],
            "pii_types": list(self.pii_types),
            "url": self.url,
            "is_update": self.is_update,
            "digest": None,
        }
        if self.digest is not None:
            d = self.digest
            record["digest"] = {
                "members": d.members,
                "by_type": [list(i) for i in d.by_type],
                "by_severity": [list(i) for i in d.by_severity],
                "member_uids": list(d.member_uids),
                "sample_titles": list(d.sample_titles),
                "window_start": d.window_start.isoformat(),
                "window_end": d.window_end.isoformat(),
            }
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AlertEvent:
        record = upgrade_record(record)
        service = record["service"]
        endpoint = record.get("endpoint") or {}
        actor = record.get("actor")
        digest = record.get("digest")
        return cls(
            kind=AlertKind(record["kind"]),
            type=record["type"],
            subtype=record.get("subtype"),
            severity=Severity.parse(record["severity"]),
            title=record["title"],
            service=ServiceRef(
                host=service["host"],
                owner=service.get("owner"),
                team=service.get("team"),
                application=service.get("application"),
                id=service.get("id"),
            ),
            endpoint=EndpointRef(
                method=endpoint.get("method"),
                path_template=endpoint.get("path_template"),
                id=endpoint.get("id"),
            ),
            actor=None
            if actor is None
            else ActorRef(ip=actor.get("ip"), identity=actor.get("identity"), key=actor.get("key")),
            first_seen=_parse_time(record["first_seen"]),
            last_seen=_parse_time(record["last_seen"]),
            detected_at=_parse_time(record["detected_at"]),
            source_id=record["source_id"],
            dedup_key=record["dedup_key"],
            uid=record["uid"],
            count=int(record.get("count", 1)),
            evidence=tuple((str(k), v) for k, v in record.get("evidence") or ()),
            description=record.get("description"),
            remediation=record.get("remediation"),
            before=None if record.get("before") is None else tuple((str(k), v) for k, v in record["before"]),
            after=None if record.get("after") is None else tuple((str(k), v) for k, v in record["after"]),
            pii_types=tuple(record.get("pii_types") or ()),
            url=record.get("url"),
            is_update=bool(record.get("is_update", False)),
            digest=None
            if digest is None
            else DigestInfo(
                members=int(digest["members"]),
                by_type=tuple((str(k), int(v)) for k, v in digest["by_type"]),
                by_severity=tuple((str(k), int(v)) for k, v in digest["by_severity"]),
                member_uids=tuple(digest["member_uids"]),
                sample_titles=tuple(digest["sample_titles"]),
                window_start=_parse_time(digest["window_start"]),
                window_end=_parse_time(digest["window_end"]),
            ),
        )


def upgrade_record(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """Bring a stored record to ``RECORD_VERSION``; refuse records from the future clearly."""
    version = record.get("v")
    if version == RECORD_VERSION:
        return record
    if not isinstance(version, int):
        raise ValueError(f"not an alert record (no version): keys {sorted(record)[:8]}")
    raise ValueError(
        f"alert record version {version} is newer than this release understands ({RECORD_VERSION})"
    )


# -- time helpers --------------------------------------------------------------------------------


def utc(value: datetime | float | int | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC), epoch seconds or ISO 8601."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return _parse_time(value)


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch_ms(value: datetime) -> int:
    return int(round(value.timestamp() * 1000))


# -- evidence: flatten, bound, scrub -------------------------------------------------------------

# Raw values that must never reach a destination, whatever a producer hands over. Each pattern
# replaces the match by a fixed-shape mask that keeps only what identifies the *kind* of value.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWT: three base64url segments, the first starting with eyJ ('{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "eyJ***(jwt)"),
    # Authorization schemes with their credentials.
    (re.compile(r"(?i)\b(bearer|basic|token|apikey|api-key)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ********"),
    # key=value credentials in URLs and text: keep the key, hide the value.
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api_?key|access_?token|client_secret)=([^&\s]{1,})"
        ),
        r"\1=********",
    ),
    # E-mail addresses: first letter of the local part and of the domain, like the PII masker.
    (
        re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9])[A-Za-z0-9.-]*\.([A-Za-z]{2,})\b"),
        r"\1***@\2***.\3",
    ),
    # Long digit runs (cards, account numbers, national ids): keep the last four.
    (re.compile(r"\b(?:\d[ -]?){9,}(\d{4})\b"), r"****\1"),
    # Secret-looking tokens: 24+ characters mixing letters and digits (API keys, session ids).
    (
        re.compile(
            r"\b(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])([A-Za-z0-9]{3})[A-Za-z0-9_-]{21,}\b"
        ),
        r"\1********",
    ),
)


def scrub(text: str) -> str:
    """``text`` with anything that looks like a raw credential or personal identifier masked."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def _bounded(text: str, limit: int = MAX_TEXT) -> str:
    text = scrub(text).replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flatten(prefix: str, value: Any, out: list[tuple[str, EvidenceValue]]) -> None:
    if len(out) >= MAX_EVIDENCE_ITEMS:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple):
        if value and all(not isinstance(v, Mapping | list | tuple) for v in value):
            out.append((prefix, _bounded(", ".join(str(v) for v in value))))
        else:
            for index, item in enumerate(value):
                _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool) or value is None or isinstance(value, int | float):
        out.append((prefix, value))
    else:
        out.append((prefix, _bounded(str(value))))


def make_evidence(
    evidence: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
) -> tuple[tuple[str, EvidenceValue], ...]:
    """Nested evidence flattened to at most ``MAX_EVIDENCE_ITEMS`` dotted keys, strings scrubbed."""
    if evidence is None:
        return ()
    items = evidence.items() if isinstance(evidence, Mapping) else evidence
    out: list[tuple[str, EvidenceValue]] = []
    for key, value in items:
        _flatten(_bounded(str(key), 64), value, out)
    return tuple(out[:MAX_EVIDENCE_ITEMS])


def stable_hash(*parts: object, length: int = 32) -> str:
    """Hex digest of the parts, stable across processes and releases."""
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()
    return digest[:length]


def _alert_uid(kind: AlertKind, dedup_key: str, first_seen: datetime, last_seen: datetime, count: int) -> str:
    return stable_hash(kind.value, dedup_key, first_seen.isoformat(), last_seen.isoformat(), count)


# -- adapters from the producers' published shapes -------------------------------------------------

# Advice shown with finding kinds (OCSF remediation.desc, Slack, CEF). Threat types get theirs
# from the detector's registry in phase 2; the table here covers the inventory's findings.
REMEDIATION: dict[str, str] = {
    "pii_unauthenticated": "Require authentication on this endpoint, or stop returning personal data from it.",
    "credentials_in_url": "Move credentials out of the URL into a header; rotate the exposed credentials.",
    "pii_in_url": "Send personal data in request bodies (POST) rather than paths or query strings, which are logged.",
    "shadow_pii": "Document this endpoint in the service's OpenAPI spec or retire it; review who uses it.",
    "zombie_traffic": "Migrate the remaining clients to the supported version and switch the endpoint off.",
    "graphql_introspection_unauthenticated": "Disable introspection in production or require authentication for it.",
    "graphql_deep_query": "Enforce a query depth limit on the GraphQL server.",
    "graphql_wide_query": "Enforce query cost or field-count limits on the GraphQL server.",
    "graphql_errors": "Review the operation's errors: failing resolvers, probing clients or schema drift.",
    "tls_deprecated_version": "Disable SSLv3, TLS 1.0 and TLS 1.1 on the server; require TLS 1.2 or 1.3.",
    "tls_weak_cipher": "Remove NULL, EXPORT, RC4, DES/3DES, anonymous and MD5 suites (and CBC-SHA1 on TLS 1.0).",
    "tls_certificate_expired": "Renew the certificate and automate renewal.",
    "tls_certificate_self_signed": "Serve a certificate issued by a trusted (public or internal) CA.",
}


def alert_from_finding(
    finding: Mapping[str, Any],
    *,
    service: ServiceRef | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    detected_at: datetime | None = None,
    url: str | None = None,
) -> AlertEvent:
    """An alert from one ``GET /api/v1/findings`` item (``analyzer/inventory/findings.py`` shape).

    Findings carry no ownership; the caller joins the service's owner/team (``service``).
    """
    now = detected_at or datetime.now(UTC)
    endpoint = finding.get("endpoint") or {}
    tls = finding.get("tls_service") or {}  # TLS posture findings name a TLS service, not an endpoint
    host = endpoint.get("host") or tls.get("sni") or tls.get("server") or (service.host if service else "")
    svc = service or ServiceRef(host=host)
    evidence = list(finding.get("evidence") or [])
    flat: dict[str, Any] = {}
    for index, item in enumerate(evidence[:8]):
        flat[f"pii[{index}]"] = " ".join(
            str(x)
            for x in (item.get("type"), item.get("location"), item.get("field"), item.get("sample"))
            if x
        )
        flat[f"pii[{index}].count"] = item.get("count")
    if finding.get("zombie_reasons"):
        flat["zombie_reasons"] = [r.get("reason") for r in finding["zombie_reasons"]]
    first = first_seen or now
    last = last_seen or first
    kind_name = str(finding["kind"])
    dedup = f"finding:{finding['id']}"
    return AlertEvent(
        kind=AlertKind.FINDING,
        type=kind_name,
        severity=Severity.parse(finding["severity"]),
        title=_bounded(str(finding.get("title") or kind_name), MAX_TITLE),
        service=svc,
        endpoint=EndpointRef(
            method=endpoint.get("method"), path_template=endpoint.get("path_template"), id=endpoint.get("id")
        ),
        first_seen=first,
        last_seen=last,
        detected_at=now,
        source_id=str(finding["id"]),
        dedup_key=dedup,
        uid=_alert_uid(AlertKind.FINDING, dedup, first, last, 1),
        evidence=make_evidence(flat),
        pii_types=tuple(finding.get("pii_types") or ()),
        remediation=REMEDIATION.get(kind_name),
        url=url,
    )


def alert_from_threat_event(
    event: Mapping[str, Any],
    *,
    service: ServiceRef | None = None,
    detected_at: datetime | None = None,
    url: str | None = None,
    remediation: str | None = None,
) -> AlertEvent:
    """An alert from one threat event (issue 11's ``export --format events`` line).

    Throttling folds repeats of the same type by the same actor on the same endpoint, across
    detection windows (the event id changes per window; the dedup key does not).
    """
    actor_data = event.get("actor") or {}
    actor = ActorRef(ip=actor_data.get("ip"), identity=actor_data.get("identity"), key=actor_data.get("key"))
    host = str(event.get("host") or (service.host if service else ""))
    svc = service or ServiceRef(host=host)
    first = utc(event["first_seen"])
    last = utc(event.get("last_seen") or event["first_seen"])
    count = max(1, int(event.get("count") or 1))
    dedup = "threat:" + stable_hash(
        event["type"],
        event.get("subtype"),
        actor.key or actor.ip,
        host,
        event.get("method"),
        event.get("path_template"),
    )
    return AlertEvent(
        kind=AlertKind.THREAT,
        type=str(event["type"]),
        subtype=event.get("subtype"),
        severity=Severity.parse(event["severity"]),
        title=_bounded(str(event.get("title") or event["type"]), MAX_TITLE),
        service=svc,
        endpoint=EndpointRef(method=event.get("method"), path_template=event.get("path_template")),
        actor=actor,
        first_seen=first,
        last_seen=last,
        detected_at=detected_at or datetime.now(UTC),
        source_id=str(event["id"]),
        dedup_key=dedup,
        uid=_alert_uid(AlertKind.THREAT, f"{dedup}:{event['id']}", first, last, count),
        count=count,
        evidence=make_evidence(event.get("evidence") or {}),
        remediation=remediation,
        url=url,
    )


CHANGE_SEVERITY: dict[str, Severity] = {
    "new_service": Severity.LOW,
    "new_endpoint": Severity.LOW,
    "new_parameter": Severity.INFO,
    "new_response_field": Severity.INFO,
    "new_pii_type": Severity.MEDIUM,
    "unauthenticated_2xx": Severity.HIGH,
    "endpoint_unseen": Severity.INFO,
    "became_shadow": Severity.MEDIUM,
    "became_zombie": Severity.MEDIUM,
}


def alert_from_change_event(
    change: Mapping[str, Any],
    *,
    service: ServiceRef | None = None,
    detected_at: datetime | None = None,
    url: str | None = None,
) -> AlertEvent:
    """An alert from one change event: ``{id, type, host, method, path_template, before, after,
    detected_at | ts, severity?, title?, evidence?}`` (issue 12's change history)."""
    host = str(change.get("host") or (service.host if service else ""))
    svc = service or ServiceRef(host=host)
    when = utc(change.get("ts") or change.get("detected_at") or detected_at or datetime.now(UTC))
    change_type = str(change["type"])
    severity = (
        Severity.parse(change["severity"])
        if change.get("severity")
        else CHANGE_SEVERITY.get(change_type, Severity.INFO)
    )
    where = " ".join(
        str(p) for p in (change.get("method"), f"{host}{change.get('path_template') or ''}") if p
    )
    dedup = f"change:{change['id']}"
    before = change.get("before")
    after = change.get("after")
    return AlertEvent(
        kind=AlertKind.CHANGE,
        type=change_type,
        severity=severity,
        title=_bounded(str(change.get("title") or f"{change_type.replace('_', ' ')}: {where}"), MAX_TITLE),
        service=svc,
        endpoint=EndpointRef(method=change.get("method"), path_template=change.get("path_template")),
        first_seen=when,
        last_seen=when,
        detected_at=detected_at or when,
        source_id=str(change["id"]),
        dedup_key=dedup,
        uid=_alert_uid(AlertKind.CHANGE, dedup, when, when, 1),
        evidence=make_evidence(change.get("evidence") or {}),
        before=None
        if before is None
        else make_evidence(before if isinstance(before, Mapping) else {"value": before}),
        after=None
        if after is None
        else make_evidence(after if isinstance(after, Mapping) else {"value": after}),
        pii_types=tuple(change.get("pii_types") or ()),
        url=url,
    )


def with_service(alert: AlertEvent, service: ServiceRef) -> AlertEvent:
    """The same alert attributed to ``service`` (ownership joined late)."""
    return replace(alert, service=service)
