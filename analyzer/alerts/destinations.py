"""Alert destinations and their rules: parsed and checked once, then immutable.

A destination is configured by an administrator (phase 2: ``POST /api/v1/integrations``, admin
role only, and the console's settings page). That is the SSRF boundary: APICensus only ever
connects to addresses an admin typed in; nothing in an alert (hosts, paths, headers seen in
traffic) ever becomes a URL or an address. On top of that, HTTP destinations:

- accept only ``http``/``https`` URLs without user:password (credentials go in ``secret``/``token``),
- never follow redirects (a 3xx is an error shown in the destination's status),
- ignore ``HTTP(S)_PROXY`` environment variables (``trust_env=False``), so a process environment
  cannot silently reroute alerts,
- verify TLS certificates by default (``tls_verify``; ``tls_ca_file`` for a private CA).

``parse_destination`` turns the JSON an admin sends into a :class:`Destination` or raises
:class:`DestinationError` naming the field, so the API can answer 422 with a clear reason.
``Destination.public()`` is the view an API may return: secrets are never echoed back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from analyzer.alerts.model import AlertKind, Severity

# RFC 5424 facilities by name; local0..local7 are the ones sites assign to applications.
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
    "solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
    "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip


class DestinationKind(enum.StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    SPLUNK_HEC = "splunk_hec"
    SYSLOG = "syslog"


class SyslogTransport(enum.StrEnum):
    UDP = "udp"  # RFC 5426: one message per datagram, fire and forget
    TCP = "tcp"  # RFC 6587 octet counting
    TLS = "tls"  # RFC 5425: octet counting over TLS


class DestinationError(ValueError):
    """A destination configuration that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    """Which alerts a destination wants. Every field that is set must match (AND); within a field
    any listed value matches (OR). ``None`` inside ``owners``/``teams`` matches services that have
    no owner/team, so a catch-all destination for unowned services is ``owners=(None,)``."""

    kinds: frozenset[AlertKind] = frozenset()
    min_severity: Severity = Severity.INFO
    types: frozenset[str] = frozenset()  # "bola", "injection", "pii_unauthenticated", "new_endpoint"
    services: frozenset[str] = frozenset()  # service hosts
    owners: frozenset[str | None] = frozenset()
    teams: frozenset[str | None] = frozenset()


@dataclass(frozen=True, slots=True)
class Destination:
    id: str
    name: str
    kind: DestinationKind
    # HTTP kinds
    url: str | None = None
    secret: str | None = None  # webhook HMAC key
    previous_secret: str | None = None  # also signed with during a key rotation
    token: str | None = None  # Splunk HEC token
    splunk_index: str | None = None
    splunk_sourcetype: str = "apicensus:ocsf"
    splunk_source: str = "apicensus"
    # syslog
    host: str | None = None
    port: int | None = None
    transport: SyslogTransport = SyslogTransport.TLS
    facility: int = FACILITIES["local0"]
    syslog_format: str = "cef"  # "cef" (ArcSight CEF in MSG) or "json" (OCSF JSON in MSG)
    app_name: str = "apicensus"
    udp_max_bytes: int = 2048  # RFC 5426: receivers SHOULD take 2048 octets; longer MSG is truncated
    # TLS (https and syslog/tls)
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_server_name: str | None = None  # expected certificate name when connecting by address
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    # delivery policy
    rules: tuple[Rule, ...] = ()  # none = everything
    timeout_seconds: float = 10.0
    throttle_seconds: float = 3600.0  # one alert per dedup key per window
    flood_limit: int = 30  # alerts per flood window before the rest are digested
    flood_window_seconds: float = 60.0
    max_batch: int = 50  # events per Splunk request / syslog connection
    enabled: bool = True
    console_url: str | None = None  # base URL of the console, for links in Slack/OCSF

    def public(self) -> dict[str, Any]:
        """The configuration without secrets (what an API may show)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "enabled": self.enabled,
            "rules": [rule_to_json(r) for r in self.rules],
            "throttle_seconds": self.throttle_seconds,
            "flood_limit": self.flood_limit,
            "flood_window_seconds": self.flood_window_seconds,
        }
        if self.kind is DestinationKind.SYSLOG:
            out.update(
                host=self.host, port=self.port, transport=self.transport.value, format=self.syslog_format
            )
        else:
            out["url"] = _redact_url(self.url or "")
        out["has_secret"] = bool(self.secret or self.token)
        return out


def _redact_url(url: str) -> str:
    # Slack and some webhook URLs embed their secret in the path: show scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path not in ("", "/") else url


def rule_to_json(rule: Rule) -> dict[str, Any]:
    return {
        "kinds": sorted(k.value for k in rule.kinds),
        "min_severity": rule.min_severity.label,
        "types": sorted(rule.types),
        "services": sorted(rule.services),
        "owners": sorted(rule.owners, key=lambda v: (v is not None, v or "")),
        "teams": sorted(rule.teams, key=lambda v: (v is not None, v or "")),
    }


KIND_ALIASES = {
    "finding": AlertKind.FINDING, "findings": AlertKind.FINDING,
    "threat": AlertKind.THREAT, "threats": AlertKind.THREAT, "threat_event": AlertKind.THREAT,
    "threat_events": AlertKind.THREAT, "event": AlertKind.THREAT, "events": AlertKind.THREAT,
    "change": AlertKind.CHANGE, "changes": AlertKind.CHANGE, "change_event": AlertKind.CHANGE,
    "change_events": AlertKind.CHANGE,
}  # fmt: skip


def _strings(data: Mapping[str, Any], key: str, where: str, *, allow_null: bool = False) -> frozenset[Any]:
    value = data.get(key)
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DestinationError(f"{where}.{key} must be a list")
    out: set[Any] = set()
    for item in value:
        if item is None and allow_null:
            out.add(None)
        elif isinstance(item, str) and item.strip() and len(item) <= 255:
            out.add(item.strip())
        else:
            raise DestinationError(
                f"{where}.{key} holds {item!r}: expected non-empty strings"
                + (" or null" if allow_null else "")
            )
    return frozenset(out)


def parse_rule(data: Mapping[str, Any], where: str = "rules[0]") -> Rule:
    if not isinstance(data, Mapping):
        raise DestinationError(f"{where} must be an object")
    unknown = set(data) - {"kinds", "min_severity", "types", "services", "owners", "teams"}
    if unknown:
        raise DestinationError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    kinds = set()
    for name in _strings(data, "kinds", where):
        if name.lower() not in KIND_ALIASES:
            raise DestinationError(f"{where}.kinds: unknown kind {name!r} (findings, threat_events, changes)")
        kinds.add(KIND_ALIASES[name.lower()])
    try:
        min_severity = Severity.parse(data.get("min_severity") or "info")
    except ValueError as exc:
        raise DestinationError(f"{where}.min_severity: {exc}") from None
    return Rule(
        kinds=frozenset(kinds),
        min_severity=min_severity,
        types=_strings(data, "types", where),
        services=_strings(data, "services", where),
        owners=_strings(data, "owners", where, allow_null=True),
        teams=_strings(data, "teams", where, allow_null=True),
    )


def _check_http_url(url: Any, field_name: str = "url") -> str:
    if not isinstance(url, str) or not url:
        raise DestinationError(f"{field_name} is required")
    if len(url) > 2048:
        raise DestinationError(f"{field_name} is longer than 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationError(
            f"{field_name} must be an http:// or https:// URL, got scheme {parts.scheme!r}"
        )
    if not parts.hostname:
        raise DestinationError(f"{field_name} has no host")
    if parts.username or parts.password:
        raise DestinationError(f"{field_name} must not carry user:password; use secret/token")
    if any(ch in url for ch in "\r\n\t "):
        raise DestinationError(f"{field_name} contains whitespace")
    return url


def _number(data: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise DestinationError(f"{key} must be a number between {low:g} and {high:g}")
    return float(value)


def _optional_str(data: Mapping[str, Any], key: str, limit: int = 4096) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise DestinationError(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def parse_destination(data: Mapping[str, Any], *, destination_id: str | None = None) -> Destination:
    """A :class:`Destination` from admin JSON, e.g. ``{"kind": "webhook", "url": ..., "secret": ...}``."""
    if not isinstance(data, Mapping):
        raise DestinationError("a destination is a JSON object")
    try:
        kind = DestinationKind(str(data.get("kind", "")).lower())
    except ValueError:
        raise DestinationError(
            f"kind must be one of {', '.join(k.value for k in DestinationKind)}, got {data.get('kind')!r}"
        ) from None
    ident = destination_id or _optional_str(data, "id", 64)
    if not ident:
        raise DestinationError("id is required")
    name = _optional_str(data, "name", 255) or f"{kind.value}-{ident}"
    rules_data = data.get("rules") or []
    if not isinstance(rules_data, list):
        raise DestinationError("rules must be a list")
    rules = tuple(parse_rule(r, f"rules[{i}]") for i, r in enumerate(rules_data))
    common: dict[str, Any] = {
        "id": ident,
        "name": name,
        "kind": kind,
        "rules": rules,
        "enabled": bool(data.get("enabled", True)),
        "timeout_seconds": _number(data, "timeout_seconds", 10.0, 0.1, 120.0),
        "throttle_seconds": _number(data, "throttle_seconds", 3600.0, 0.0, 30 * 86400.0),
        "flood_limit": int(_number(data, "flood_limit", 30, 1, 100_000)),
        "flood_window_seconds": _number(data, "flood_window_seconds", 60.0, 1.0, 86400.0),
        "max_batch": int(_number(data, "max_batch", 50, 1, 1000)),
        "tls_verify": bool(data.get("tls_verify", True)),
        "tls_ca_file": _optional_str(data, "tls_ca_file"),
        "tls_server_name": _optional_str(data, "tls_server_name", 255),
        "tls_client_cert": _optional_str(data, "tls_client_cert"),
        "tls_client_key": _optional_str(data, "tls_client_key"),
        "console_url": _check_http_url(data["console_url"], "console_url")
        if data.get("console_url")
        else None,
    }
    if kind is DestinationKind.SYSLOG:
        host = _optional_str(data, "host", 255)
        if not host:
            raise DestinationError("host is required for syslog")
        try:
            transport = SyslogTransport(str(data.get("transport", "tls")).lower())
        except ValueError:
            raise DestinationError("transport must be udp, tcp or tls") from None
        default_port = 6514 if transport is SyslogTransport.TLS else 514
        facility_value = data.get("facility", "local0")
        if isinstance(facility_value, str) and facility_value.lower() in FACILITIES:
            facility = FACILITIES[facility_value.lower()]
        elif (
            isinstance(facility_value, int)
            and not isinstance(facility_value, bool)
            and 0 <= facility_value <= 23
        ):
            facility = facility_value
        else:
            raise DestinationError(f"facility must be a name ({', '.join(FACILITIES)}) or 0-23")
        fmt = str(data.get("format", "cef")).lower()
        if fmt not in ("cef", "json"):
            raise DestinationError("format must be cef or json")
        app_name = str(data.get("app_name", "apicensus"))
        if (
            not app_name.isascii()
            or not app_name.isprintable()
            or " " in app_name
            or not 0 < len(app_name) <= 48
        ):
            raise DestinationError("app_name must be 1-48 printable ASCII characters without spaces")
        return Destination(
            **common,
            host=host,
            port=int(_number(data, "port", default_port, 1, 65535)),
            transport=transport,
            facility=facility,
            syslog_format=fmt,
            app_name=app_name,
            udp_max_bytes=int(_number(data, "udp_max_bytes", 2048, 480, 65000)),
        )
    url = _check_http_url(data.get("url"))
    if kind is DestinationKind.WEBHOOK:
        secret = _optional_str(data, "secret", 1024)
        if not secret or len(secret) < 16:
            raise DestinationError("secret is required for webhook and must have at least 16 characters")
        return Destination(
            **common, url=url, secret=secret, previous_secret=_optional_str(data, "previous_secret", 1024)
        )
    if kind is DestinationKind.SPLUNK_HEC:
        token = _optional_str(data, "token", 1024)
        if not token:
            raise DestinationError("token is required for splunk_hec")
        return Destination(
            **common,
            url=url,
            token=token,
            splunk_index=_optional_str(data, "index", 255),
            splunk_sourcetype=_optional_str(data, "sourcetype", 255) or "apicensus:ocsf",
            splunk_source=_optional_str(data, "source", 255) or "apicensus",
        )
    return Destination(**common, url=url)
