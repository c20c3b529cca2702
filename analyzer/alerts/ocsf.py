"""OCSF 1.7.0 JSON: the canonical event shape every destination carries.

Class per alert (https://schema.ocsf.io/1.7.0/classes):

| alert | OCSF class |
|---|---|
| threat events (bola, enumeration, injection, stuffing, scanner, bfla, anomaly, ...) | Detection Finding (2004) |
| PII exposure findings (pii_unauthenticated, pii_in_url, shadow_pii, credentials_in_url) and PII-type changes | Data Security Finding (2006) |
| posture: zombie traffic, detector posture checks (JWT, CORS, verbose errors, ...), spec drift | Application Security Posture Finding (2007) |
| API change events (new service/endpoint/parameter/field, unseen endpoint) | Cloud Resources Inventory Info (5023, Discovery): an API inventory record whose ``resources[].data`` holds before/after |

All four are checked in tests against the OCSF 1.7.0 schema as compiled by ``pydantic-ocsf``
(required attributes, enums, ``type_uid = class_uid * 100 + activity_id``) and for attribute names
the schema does not define. Everything APICensus-specific that has no OCSF attribute lives under
``unmapped.apicensus`` (kind, type, subtype, dedup key, evidence), as OCSF prescribes.
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

from analyzer.alerts.model import AlertEvent, AlertKind, Severity, epoch_ms

OCSF_VERSION = "1.7.0"

DETECTION_FINDING = 2004
DATA_SECURITY_FINDING = 2006
APPLICATION_SECURITY_POSTURE_FINDING = 2007
CLOUD_RESOURCES_INVENTORY_INFO = 5023

CLASS_NAMES = {
    DETECTION_FINDING: "Detection Finding",
    DATA_SECURITY_FINDING: "Data Security Finding",
    APPLICATION_SECURITY_POSTURE_FINDING: "Application Security Posture Finding",
    CLOUD_RESOURCES_INVENTORY_INFO: "Cloud Resources Inventory Info",
}
CATEGORY = {2: "Findings", 5: "Discovery"}

# Finding kinds and change types that are about personal data (Data Security Finding).
DATA_SECURITY_TYPES = frozenset(
    {
        "pii_unauthenticated",
        "pii_in_url",
        "shadow_pii",
        "credentials_in_url",
        "new_pii_type",
        "mass_harvest_exposure",
    }
)
# Threat-detector types that describe a weakness of the API, not an actor's behaviour.
POSTURE_TYPES = frozenset(
    {
        "posture", "zombie_traffic", "jwt_alg_none", "jwt_no_exp", "jwt_long_lifetime", "jwt_sensitive_claims",
        "basic_cleartext", "weak_password", "guessable_ids", "cors_wildcard_credentials", "cors_reflected_origin",
        "verbose_errors", "stack_trace", "exposed_admin", "debug_endpoint", "trace_enabled", "version_disclosure",
        "unauthenticated_2xx", "became_shadow", "became_zombie",
    }
)  # fmt: skip

SEVERITY_IDS = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}


@functools.cache
def product_version() -> str:
    # Cached: importlib.metadata scans the installed distributions on every call (about 1 ms).
    try:
        return importlib.metadata.version("apicensus")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def ocsf_class(alert: AlertEvent) -> int:
    """The OCSF class an alert is rendered as (see the module table)."""
    if alert.type in DATA_SECURITY_TYPES:
        return DATA_SECURITY_FINDING
    if alert.type in POSTURE_TYPES or (alert.kind is AlertKind.THREAT and alert.type == "posture"):
        return APPLICATION_SECURITY_POSTURE_FINDING
    if alert.kind is AlertKind.THREAT:
        return DETECTION_FINDING
    if alert.kind is AlertKind.CHANGE:
        return CLOUD_RESOURCES_INVENTORY_INFO
    # Any other inventory finding kind is a posture weakness of the API.
    return APPLICATION_SECURITY_POSTURE_FINDING


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None and v != [] and v != {}}


def _user(name: str | None) -> dict[str, Any] | None:
    return {"name": name} if name else None


def _resource(alert: AlertEvent) -> dict[str, Any]:
    svc = alert.service
    endpoint = alert.endpoint
    is_endpoint = endpoint.path_template is not None
    name = f"{endpoint.method or ''} {svc.host}{endpoint.path_template}".strip() if is_endpoint else svc.host
    data: dict[str, Any] = {}
    if alert.before is not None:
        data["before"] = dict(alert.before)
    if alert.after is not None:
        data["after"] = dict(alert.after)
    labels = [f"pii:{t}" for t in alert.pii_types]
    return _drop_none(
        {
            "type": "api_endpoint" if is_endpoint else "api_service",
            "name": name,
            "uid": f"endpoint:{endpoint.id}"
            if endpoint.id is not None
            else (f"service:{svc.id}" if svc.id is not None else name),
            "hostname": svc.host,
            "owner": _user(svc.owner),
            "group": {"name": svc.team} if svc.team else None,
            "labels": labels or None,
            "data": data or None,
        }
    )


def _unmapped(alert: AlertEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": alert.kind.value,
        "type": alert.type,
        "subtype": alert.subtype,
        "source_id": alert.source_id,
        "dedup_key": alert.dedup_key,
        "count": alert.count,
        "evidence": dict(alert.evidence) or None,
        "application": alert.service.application,
        "endpoint_template": alert.endpoint.path_template,
    }
    if alert.actor is not None:
        body["actor_key"] = alert.actor.key
    if alert.digest is not None:
        body["digest"] = {
            "members": alert.digest.members,
            "by_type": dict(alert.digest.by_type),
            "by_severity": dict(alert.digest.by_severity),
            "sample_titles": list(alert.digest.sample_titles),
        }
    return {"apicensus": _drop_none(body)}


def to_ocsf(alert: AlertEvent) -> dict[str, Any]:
    """The alert as one OCSF 1.7.0 event (a JSON-ready dict)."""
    class_uid = ocsf_class(alert)
    category_uid = class_uid // 1000
    is_finding = category_uid == 2
    # Findings: 1 Create, 2 Update. Inventory Info: 1 Log (the discovered information is from traffic logs).
    activity_id = 2 if (is_finding and alert.is_update) else 1
    activity_name = {1: "Create" if is_finding else "Log", 2: "Update"}[activity_id]
    severity_id, severity_name = SEVERITY_IDS[alert.severity]
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": CLASS_NAMES[class_uid],
        "category_uid": category_uid,
        "category_name": CATEGORY[category_uid],
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{CLASS_NAMES[class_uid]}: {activity_name}",
        "time": epoch_ms(alert.detected_at),
        "severity_id": severity_id,
        "severity": severity_name,
        "message": alert.title,
        "count": alert.count,
        "start_time": epoch_ms(alert.first_seen),
        "end_time": epoch_ms(alert.last_seen),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": alert.uid,
            "correlation_uid": alert.dedup_key,
            "event_code": alert.type_label,
            "product": {"name": "APICensus", "vendor_name": "APICensus", "version": product_version()},
            "log_name": f"apicensus.{alert.kind.value}",
        },
        "resources": [_resource(alert)],
        "unmapped": _unmapped(alert),
    }
    actor = _actor(alert)
    if is_finding:
        finding_info: dict[str, Any] = {
            "uid": alert.source_id,
            "title": alert.title,
            "desc": alert.description,
            "types": [alert.type_label],
            "created_time": epoch_ms(alert.detected_at),
            "first_seen_time": epoch_ms(alert.first_seen),
            "last_seen_time": epoch_ms(alert.last_seen),
            "src_url": alert.url,
            "analytic": {"name": alert.type_label, "type_id": 1, "type": "Rule", "uid": alert.type},
            "product": {"name": "APICensus", "vendor_name": "APICensus"},
        }
        if alert.digest is not None:
            finding_info["related_events_count"] = alert.digest.members
            finding_info["related_events"] = [{"uid": uid} for uid in alert.digest.member_uids]
        event["finding_info"] = _drop_none(finding_info)
        event["status_id"] = 1
        event["status"] = "New"
        event["confidence_id"] = 3 if alert.kind is not AlertKind.THREAT else 2  # High / Medium
    # Attributes each class defines natively (the rest would need OCSF profiles applied).
    if class_uid in (DETECTION_FINDING, DATA_SECURITY_FINDING):
        event["is_alert"] = True
    if class_uid in (DETECTION_FINDING, APPLICATION_SECURITY_POSTURE_FINDING) and alert.remediation:
        event["remediation"] = {"desc": alert.remediation}
    if class_uid == DETECTION_FINDING:
        evidence = _drop_none(
            {
                "src_endpoint": {"ip": alert.actor.ip} if alert.actor and alert.actor.ip else None,
                "actor": actor,
                "http_request": _http_request(alert),
                "data": dict(alert.evidence) or None,
            }
        )
        if evidence:
            event["evidences"] = [evidence]
    elif class_uid == DATA_SECURITY_FINDING:
        event["data_security"] = _drop_none(
            {
                "data_lifecycle_state_id": 2,  # Data in-Transit: seen on the wire
                "data_lifecycle_state": "Data in-Transit",
                "detection_system_id": 99,
                "detection_system": "APICensus passive API traffic analysis",
                "detection_pattern": ", ".join(alert.pii_types) or alert.type,
                "category_id": 99,
                "category": "Personal Data" if alert.type != "credentials_in_url" else "Credentials",
            }
        )
        event["dst_endpoint"] = {"hostname": alert.service.host}
        if actor is not None:
            event["actor"] = actor
        if alert.actor is not None and alert.actor.ip:
            event["src_endpoint"] = {"ip": alert.actor.ip}
    elif class_uid == APPLICATION_SECURITY_POSTURE_FINDING:
        event["application"] = _drop_none(
            {
                "name": alert.service.application or alert.service.host,
                "uid": f"service:{alert.service.id}" if alert.service.id is not None else alert.service.host,
                "hostname": alert.service.host,
                "owner": _user(alert.service.owner),
                "group": {"name": alert.service.team} if alert.service.team else None,
            }
        )
        # The class requires one of application/compliance/remediation/vulnerabilities: application is always set.
    return event


def _actor(alert: AlertEvent) -> dict[str, Any] | None:
    """OCSF actor: the masked identity hint as user name, the keyed hash as user uid."""
    if alert.actor is None or not (alert.actor.identity or alert.actor.key):
        return None
    return {"user": _drop_none({"name": alert.actor.identity, "uid": alert.actor.key})}


def _http_request(alert: AlertEvent) -> dict[str, Any] | None:
    if alert.endpoint.path_template is None and alert.endpoint.method is None:
        return None
    return _drop_none(
        {
            "http_method": alert.endpoint.method,
            "url": _drop_none({"hostname": alert.service.host, "path": alert.endpoint.path_template or "/"}),
        }
    )
