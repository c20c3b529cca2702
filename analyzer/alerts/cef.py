"""ArcSight Common Event Format (CEF:0) lines, as carried in syslog MSG.

``CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|ext1=v1 ext2=v2``

Escaping (CEF Implementation Standard): in the seven header fields a backslash and a pipe are
escaped with a backslash (``\\\\``, ``\\|``) and line breaks are not allowed (replaced by a space);
in extension values a backslash and an equals sign are escaped (``\\\\``, ``\\=``) and line breaks
become the two-character sequences ``\\n`` / ``\\r``. Pipes need no escaping in extensions.
Extension keys are fixed ASCII names chosen here, never data.

Severity is 0-10: info 1, low 3, medium 5, high 8, critical 10.
"""

from __future__ import annotations

import ipaddress

from analyzer.alerts.model import AlertEvent, Severity, epoch_ms
from analyzer.alerts.ocsf import product_version

CEF_SEVERITY = {
    Severity.INFO: 1,
    Severity.LOW: 3,
    Severity.MEDIUM: 5,
    Severity.HIGH: 8,
    Severity.CRITICAL: 10,
}
MAX_VALUE = 1023  # CEF string fields are 1023 characters at most (cs1..cs6, msg, request)


def escape_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def escape_extension(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _clip(value: str, limit: int = MAX_VALUE) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _ip_fields(ip: str | None) -> list[tuple[str, str]]:
    if not ip:
        return []
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return [("shost", ip)]
    if address.version == 4:
        return [("src", str(address))]
    # CEF's src is IPv4; IPv6 sources go in the custom IPv6 field c6a2 ("Source IPv6 Address").
    return [("c6a2", str(address)), ("c6a2Label", "Source IPv6 Address")]


def to_cef(alert: AlertEvent, *, vendor: str = "APICensus", product: str = "APICensus") -> str:
    """One CEF line for ``alert`` (no trailing newline)."""
    header = [
        "CEF:0",
        escape_header(vendor),
        escape_header(product),
        escape_header(product_version()),
        escape_header(alert.type_label),
        escape_header(_clip(alert.title, 512)),
        str(CEF_SEVERITY[alert.severity]),
    ]
    ext: list[tuple[str, str]] = [
        ("rt", str(epoch_ms(alert.detected_at))),
        ("start", str(epoch_ms(alert.first_seen))),
        ("end", str(epoch_ms(alert.last_seen))),
        ("cnt", str(alert.count)),
        ("cat", alert.kind.value),
        ("externalId", alert.uid),
        ("dhost", alert.service.host),
        ("msg", alert.title),
    ]
    if alert.endpoint.method:
        ext.append(("requestMethod", alert.endpoint.method))
    if alert.endpoint.path_template:
        ext.append(("request", alert.endpoint.path_template))
    if alert.actor is not None:
        ext.extend(_ip_fields(alert.actor.ip))
        if alert.actor.identity:
            ext.append(("suser", alert.actor.identity))
        if alert.actor.key:
            ext.append(("suid", alert.actor.key))
    custom = [
        ("Owner", alert.service.owner),
        ("Team", alert.service.team),
        ("Finding ID", alert.source_id),
        ("Dedup Key", alert.dedup_key),
        ("PII Types", ",".join(alert.pii_types) or None),
        ("Evidence", "; ".join(f"{k}={v}" for k, v in alert.evidence) or None),
    ]
    for index, (label, value) in enumerate(custom, start=1):
        if value:
            ext.append((f"cs{index}", value))
            ext.append((f"cs{index}Label", label))
    body = " ".join(f"{key}={escape_extension(_clip(value))}" for key, value in ext)
    return "|".join(header) + "|" + body
