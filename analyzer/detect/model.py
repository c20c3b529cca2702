"""What detection sees of one exchange, and what it reports.

:class:`DetectExchange` is the engine's only input. The pipeline builds one per exchange from its
typed observation, the templater's match and the PII results (see ``from_record`` for the
exchange record of schema 1, which is also what the benches and tests use). Everything is plain,
immutable data: the engine never reaches back into the pipeline.

:class:`Event` is the engine's output: one per (type, subtype, actor, endpoint, window), updated
in place (``count``, ``last_seen``) rather than one per exchange. Its ``evidence`` is masked:
never a raw credential, identity, PII value or whole token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import orjson

Pairs = tuple[tuple[str, str], ...]
JsonValue = Any  # parsed JSON (dict / list / str / int / float / bool / None)


@dataclass(frozen=True, slots=True)
class DetectExchange:
    """One request/response exchange as the detection engine sees it.

    Fields the pipeline fills:

    * ``ts`` -- request start, epoch seconds (the stream's clock; windows follow it, not the wall).
    * ``client_ip`` -- the TCP peer as the sensor saw it (a proxy's address when behind one).
    * ``host``, ``method`` -- as in the exchange record.
    * ``path`` -- the concrete path as sent, without the query (not decoded: the injection rule
      decodes itself, and must see the encoding an attacker used).
    * ``query`` -- the raw query string (after ``?``, not decoded), or ``""``.
    * ``status`` -- the final response status, ``None`` when no response was seen.
    * ``template``, ``template_id`` -- the endpoint template (``/users/{id}``) and its stable id
      from the templater; ``None`` when the exchange matched no endpoint (noise, scanners).
    * ``path_params`` -- ``(name, concrete value)`` per template placeholder.
    * ``request_headers``, ``response_headers`` -- ``(name, value)`` in order; the proxy headers
      (``X-Forwarded-For``, ``Forwarded``) are read from here when the peer is a trusted proxy.
    * ``request_body``, ``response_body`` -- decoded body bytes as captured (may be capped).
    * ``request_json``, ``response_json`` -- the parsed JSON bodies when the pipeline already has
      them (else the engine parses JSON bodies itself, bounded); ``None`` for non-JSON.
    * ``response_content_type`` -- the response's media type, lower-case, without parameters.
    * ``pii`` -- ``(PII type, count)`` found in the response body by the PII detector.
    * ``response_records`` -- objects in the response (a list's length); ``None`` = let the
      engine count them from ``response_json``.
    * ``cleartext`` -- the exchange crossed the wire unencrypted where the sensor saw it (True
      for everything the sensor parses itself; False for decrypted sources such as a TLS
      terminator's mirror, so that Basic-over-cleartext is not claimed there).
    * ``uid`` -- the exchange record's uid (evidence can point back to it).
    """

    ts: float
    client_ip: str
    host: str
    method: str
    path: str
    status: int | None = None
    query: str = ""
    template: str | None = None
    template_id: str | None = None
    path_params: Pairs = ()
    request_headers: Pairs = ()
    response_headers: Pairs = ()
    request_body: bytes = b""
    response_body: bytes = b""
    request_json: JsonValue = None
    response_json: JsonValue = None
    response_content_type: str = ""
    pii: tuple[tuple[str, int], ...] = ()
    response_records: int | None = None
    cleartext: bool = True
    uid: str = ""
    # Header indexes (lower-case name -> first value), built on the first lookup: rules ask for
    # ~7 headers per exchange, and a scan lower-casing every name each time cost more than the
    # index. Derived data: not compared, not shown.
    _request_index: dict[str, str] | None = field(default=None, compare=False, repr=False)
    _response_index: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def request_header(self, name: str) -> str | None:
        """First value of a request header (name case-insensitive)."""
        index = self._request_index
        if index is None:
            index = _index(self.request_headers)
            object.__setattr__(self, "_request_index", index)
        return index.get(name.lower())

    def response_header(self, name: str) -> str | None:
        index = self._response_index
        if index is None:
            index = _index(self.response_headers)
            object.__setattr__(self, "_response_index", index)
        return index.get(name.lower())

    @property
    def operation(self) -> str:
        """``METHOD template`` (or the concrete path when there is no template)."""
        return f"{self.method} {self.template or self.path}"


def _index(headers: Pairs) -> dict[str, str]:
    # Walked backwards, so that the first value of a repeated name is the one left standing.
    return {key.lower(): value for key, value in reversed(headers)}


def query_pairs(query: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` -> ``[("a", "1"), ("b", "2")]``, decoded once (``+`` is a space)."""
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _body_bytes(body: Any) -> bytes:
    if not isinstance(body, Mapping):
        return b""
    data = body.get("data")
    if not isinstance(data, str):
        return b""
    if body.get("b64"):
        import base64

        try:
            return base64.b64decode(data)
        except ValueError:
            return b""
    return data.encode("utf-8", "surrogatepass")


def from_record(
    record: Mapping[str, Any],
    *,
    template: str | None = None,
    template_id: str | None = None,
    path_params: Pairs = (),
    pii: tuple[tuple[str, int], ...] = (),
) -> DetectExchange:
    """A :class:`DetectExchange` from an exchange record (schema 1) plus the analyzer's results."""
    client = str(record.get("client") or "")
    ip = client.rsplit(":", 1)[0].strip("[]") if client else ""
    target = str(record.get("target") or "/")
    path, _, query = target.partition("?")
    req_headers = tuple((str(h[0]), str(h[1])) for h in record.get("request_headers") or ())
    resp_headers = tuple((str(h[0]), str(h[1])) for h in record.get("response_headers") or ())
    content_type = ""
    for name, value in resp_headers:
        if name.lower() == "content-type":
            content_type = value.split(";", 1)[0].strip().lower()
            break
    status = record.get("status")
    return DetectExchange(
        ts=float(record.get("ts") or 0.0),
        client_ip=ip,
        host=str(record.get("host") or ""),
        method=str(record.get("method") or ""),
        path=path,
        query=query,
        status=int(status) if isinstance(status, int) else None,
        template=template,
        template_id=template_id,
        path_params=path_params,
        request_headers=req_headers,
        response_headers=resp_headers,
        request_body=_body_bytes(record.get("request_body")),
        response_body=_body_bytes(record.get("response_body")),
        response_content_type=content_type,
        pii=pii,
        uid=str(record.get("uid") or ""),
    )


SEVERITIES = ("critical", "high", "medium", "low", "info")
# Every rule's kind (analyzer/detect/rules: RULE_KINDS is this): here, so that readers of events
# (the API) know the types without importing the rules and their numeric stack.
EVENT_TYPES = (
    "bola",
    "enumeration",
    "mass_harvest",
    "credential_stuffing",
    "brute_force",
    "injection",
    "scanner",
    "bfla",
    "anomaly",
    "posture",
)


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Who an event is about: the client address and, when known, a masked identity hint."""

    ip: str | None
    identity: str | None = None  # masked hint, e.g. "jwt:acme/al…42"
    key: str | None = None  # keyed hash of the identity (stable id for the inventory)


@dataclass(slots=True)
class Event:
    """One detected event: grouped by (type, subtype, actor, endpoint, window), updated in place."""

    type: str
    subtype: str | None
    severity: str
    title: str
    actor: ActorRef
    host: str
    method: str | None
    path_template: str | None
    window_start: float
    window_seconds: float
    first_seen: float
    last_seen: float
    count: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable across analyzers and restarts: a hash of the grouping key."""
        return event_id(
            self.type,
            self.subtype,
            self.actor.key or self.actor.ip,
            self.host,
            self.method,
            self.path_template,
            self.window_start,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``export --format events`` line (issue 11's contract)."""
        return {
            "id": self.id,
            "type": self.type,
            "subtype": self.subtype,
            "severity": self.severity,
            "title": self.title,
            "actor": {"ip": self.actor.ip, "identity": self.actor.identity},
            "host": self.host,
            "method": self.method,
            "path_template": self.path_template,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": self.count,
            "evidence": self.evidence,
        }

    def to_state(self) -> list[Any]:
        return [
            self.type,
            self.subtype,
            self.severity,
            self.title,
            [self.actor.ip, self.actor.identity, self.actor.key],
            self.host,
            self.method,
            self.path_template,
            self.window_start,
            self.window_seconds,
            self.first_seen,
            self.last_seen,
            self.count,
            self.evidence,
        ]

    @classmethod
    def from_state(cls, data: list[Any]) -> Event:
        ip, identity, key = data[4]
        return cls(
            type=data[0],
            subtype=data[1],
            severity=data[2],
            title=data[3],
            actor=ActorRef(ip=ip, identity=identity, key=key),
            host=data[5],
            method=data[6],
            path_template=data[7],
            window_start=data[8],
            window_seconds=data[9],
            first_seen=data[10],
            last_seen=data[11],
            count=data[12],
            evidence=data[13],
        )


def event_id(*parts: object) -> str:
    return hashlib.blake2b(orjson.dumps(list(parts)), digest_size=12).hexdigest()
