"""SQLAlchemy 2 models for the API inventory.

Counters live in narrow child tables keyed by (endpoint, dimension) so that every batch can be
written as a handful of bulk ``INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count``
statements, on PostgreSQL and SQLite alike. Ownership and spec-verdict columns are nullable and
never written by the analyzer, so re-analysis keeps what people (or the inventory API) set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The newest migration in migrations/versions: bump it with every new revision (a test checks
# it against Alembic's head) so start-up can skip Alembic when the database is current.
SCHEMA_REVISION = "0006"

# Deterministic constraint names so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JsonType = JSON().with_variant(JSONB(), "postgresql")
UtcDateTime = DateTime(timezone=True)
# Path templates and noise paths are part of unique keys: btree entries must stay well below the
# PostgreSQL limit (~2.7 kB), so the pipeline truncates to this many characters.
MAX_PATH_CHARS = 1000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def core_table(model: type[Base]) -> Table:
    """A model's Core table (SQLAlchemy types ``__table__`` as any FromClause)."""
    return cast(Table, model.__table__)


class OwnershipMixin:
    """Filled by people through the inventory API (next issue); the analyzer never writes these."""

    owner: Mapped[str | None] = mapped_column(String(255), default=None)
    application: Mapped[str | None] = mapped_column(String(255), default=None)
    business_unit: Mapped[str | None] = mapped_column(String(255), default=None)
    tags: Mapped[list[str] | None] = mapped_column(JsonType, default=None)
    review_state: Mapped[str | None] = mapped_column(String(32), default=None)


class Service(OwnershipMixin, Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(MAX_PATH_CHARS), unique=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    endpoints: Mapped[list[Endpoint]] = relationship(back_populates="service", passive_deletes=True)


class Endpoint(OwnershipMixin, Base):
    __tablename__ = "endpoints"
    __table_args__ = (
        UniqueConstraint("service_id", "method", "path_template"),
        # The catalog's keyset pages (GET /api/v1/endpoints?sort=...): each (sort key, id) index
        # matches the order and the cursor predicate, so a page reads ~limit rows in order
        # (bench/api_latency.py). PostgreSQL also gets a trigram index for ``q`` (migration 0004).
        Index("ix_api_endpoints_path_id", "path_template", "id"),
        Index("ix_api_endpoints_method_id", "method", "id"),
        Index("ix_api_endpoints_hits_id", "hits", "id"),
        Index("ix_api_endpoints_first_seen_id", "first_seen", "id"),
        Index("ix_api_endpoints_last_seen_id", "last_seen", "id"),
        Index("ix_api_endpoints_service_path_id", "service_id", "path_template", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    path_template: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    # The templater's stable id for this template (survives restarts via templater_state).
    template_id: Mapped[str | None] = mapped_column(String(128), default=None)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    authenticated_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    unauthenticated_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    # 2xx responses served to requests without credentials: > 0 makes the endpoint "unauthenticated".
    unauthenticated_2xx: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bodies parsed for schema inference: the denominators of field presence.
    request_bodies: Mapped[int] = mapped_column(BigInteger, default=0)
    response_bodies: Mapped[int] = mapped_column(BigInteger, default=0)
    # OpenAPI import (next issue): shadow (seen, not in any spec) / zombie (deprecated but seen).
    spec_verdict: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    service: Mapped[Service] = relationship(back_populates="endpoints")


class EndpointStatus(Base):
    __tablename__ = "endpoint_status"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = no response captured
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EndpointHourly(Base):
    __tablename__ = "endpoint_hourly"
    # The console's traffic-over-time chart reads a range of hours across all endpoints (0005).
    __table_args__ = (Index("ix_endpoint_hourly_hour", "hour"),)

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EndpointPeer(Base):
    """Distinct clients (IP only: source ports are ephemeral) and servers (ip:port) per endpoint."""

    __tablename__ = "endpoint_peers"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "client" | "server"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class EndpointAuth(Base):
    """How requests authenticated: bearer, basic, cookie, api-key-header, api-key-query, none, ..."""

    __tablename__ = "endpoint_auth"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EndpointParam(Base):
    """Path and query parameters, one row per observed type (export reports the dominant one)."""

    __tablename__ = "endpoint_params"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    location: Mapped[str] = mapped_column(String(8), primary_key=True)  # "path" | "query"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Capture time (to within the batch that carried it) and when the inventory learned it.
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    learned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class EndpointContentType(Base):
    __tablename__ = "endpoint_content_types"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(8), primary_key=True)  # "request" | "response"
    content_type: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EndpointField(Base):
    """A body field path (``items[].email``) with one of its types and how many bodies had it."""

    __tablename__ = "endpoint_fields"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(8), primary_key=True)
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    learned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class EndpointResponseHeader(Base):
    """Response header names per endpoint, values not kept (``Deprecation`` / ``Sunset`` mark zombies)."""

    __tablename__ = "endpoint_response_headers"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # lower-case
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class PiiFinding(Base):
    """Aggregated PII: never the raw value, only the detector's masked sample."""

    __tablename__ = "pii_findings"
    __table_args__ = (
        # The catalog's pii_type / pii_location filters.
        Index("ix_api_pii_findings_type_location", "type", "location", "endpoint_id"),
        Index("ix_api_pii_findings_location", "location", "endpoint_id"),
    )

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(32), primary_key=True)
    field: Mapped[str] = mapped_column(String(512), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    sample: Mapped[str | None] = mapped_column(String(255), default=None)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class NoisePath(Base):
    """Requests the templater classed as noise (e.g. only ever 404): statistics, not endpoints."""

    __tablename__ = "noise_paths"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(String(MAX_PATH_CHARS), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = no response captured
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class UnmatchedRequest(Base):
    """Junk as statistics (analyzer/pipeline/unmatched.py): requests with a malformed target,
    bare query values; counted per masked sample, never endpoints or parameter names."""

    __tablename__ = "unmatched_requests"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # malformed_target | bare_query_value
    sample: Mapped[str] = mapped_column(String(MAX_PATH_CHARS), primary_key=True)  # masked
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class SeenExchange(Base):
    """Exchange uids already counted: re-analysing the same capture must not double counts."""

    __tablename__ = "seen_exchanges"

    uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    # When it was counted (NULL: before revision 0003). Stream analyzers with --dedupe-days
    # forget uids older than that, bounding the table on a sensor that never stops.
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)


class TemplaterState(Base):
    """Singleton row (id = 1) with ``Templater.to_state()``, so template ids survive restarts.

    Stored as zlib-compressed JSON bytes, not JSONB: the state is opaque to SQL, can hold
    strings PostgreSQL text refuses (NUL), and shrinks about tenfold (it is rewritten per batch).
    """

    __tablename__ = "templater_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    # Bumped on every save: an analyzer holding generation N knows its in-memory state is current
    # while the row still says N (several analyzers share one database, see analyzer/ingest.py).
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class StreamProgress(Base):
    """Last stream sequence applied per NATS stream instance (``name@created``): analyzers
    apply batches in stream order, so N analyzers build what one would (analyzer/stream.py)."""

    __tablename__ = "stream_progress"

    stream: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class ApiSpec(Base):
    """An imported OpenAPI document (next issue); created now so no later migration is needed."""

    __tablename__ = "api_specs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), default=None
    )
    document: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class SpecOperation(Base):
    """One documented operation; ``verdict`` = orphan when documented but never observed."""

    __tablename__ = "spec_operations"
    __table_args__ = (Index("ix_spec_operations_lookup", "spec_id", "method", "path_template"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec_id: Mapped[int] = mapped_column(ForeignKey("api_specs.id", ondelete="CASCADE"))
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    method: Mapped[str] = mapped_column(String(32))
    path_template: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    deprecated: Mapped[bool | None] = mapped_column(default=None)
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("endpoints.id", ondelete="SET NULL"), default=None
    )
    verdict: Mapped[str | None] = mapped_column(String(16), default=None)


class EndpointVerdict(Base):
    """Spec verdicts of one observed endpoint, rewritten by ``analyzer.inventory.verdicts.recompute``.

    No foreign key (as created by the release that kept this table in a chain of its own): every
    recompute replaces all rows, so a deleted endpoint's row does not outlive the next one.
    """

    __tablename__ = "endpoint_verdicts"

    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    documented: Mapped[bool] = mapped_column(Boolean)
    shadow: Mapped[bool] = mapped_column(Boolean)
    zombie: Mapped[bool] = mapped_column(Boolean)
    # [{"reason": "deprecated" | "superseded" | "removed" | "sunset_header", "detail": str}]
    zombie_reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JsonType, default=None)
    spec_operation_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ApiKey(Base):
    """A key of the inventory service: only the SHA-256 of the secret is stored, never the secret
    (generation, hashing and roles: ``inventory_api.security``)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(16))
    # The first characters of the key, to tell keys apart in listings and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class EndpointGraphql(Base):
    """GraphQL posture counters of one operation endpoint (``POST /graphql#query name``)."""

    __tablename__ = "endpoint_graphql"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    operations: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)  # response ``errors`` entries
    errored_operations: Mapped[int] = mapped_column(BigInteger, default=0)  # operations with any error
    introspection: Mapped[int] = mapped_column(BigInteger, default=0)  # selects __schema / __type
    # Introspection answered 2xx to a request without credentials: the schema is public.
    introspection_unauthenticated: Mapped[int] = mapped_column(BigInteger, default=0)
    max_depth: Mapped[int] = mapped_column(Integer, default=0)
    max_width: Mapped[int] = mapped_column(Integer, default=0)  # most fields at one level
    max_fields: Mapped[int] = mapped_column(Integer, default=0)  # most fields in one operation


# EndpointGraphql's counters, in the order the pipeline's EndpointAgg.graphql keeps them.
GRAPHQL_COUNTERS = ("operations", "errors", "errored_operations", "introspection", "introspection_unauthenticated",
                    "max_depth", "max_width", "max_fields")


class TlsService(Base):
    """An encrypted service as the handshakes show it, per (server ip:port, SNI).

    Maps of counts (``negotiated``: "version cipher", ``alpn``, ``ja3``, ``ja3s``, ``ja4``,
    ``tags``) are bounded (analyzer.protocols.tls.MAX_KEYS, the rest under "other"); the
    certificate is the latest leaf seen (TLS 1.2 sends it in clear; TLS 1.3 once decrypted).
    """

    __tablename__ = "tls_services"
    __table_args__ = (UniqueConstraint("server", "sni"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(64))  # "ip:port"
    sni: Mapped[str] = mapped_column(String(255))  # "" when the client sent none
    connections: Mapped[int] = mapped_column(BigInteger, default=0)
    decrypted: Mapped[int] = mapped_column(BigInteger, default=0)  # connections decrypted with a key log
    version: Mapped[str | None] = mapped_column(String(16), default=None)  # latest negotiated
    cipher: Mapped[str | None] = mapped_column(String(128), default=None)
    alpn: Mapped[str | None] = mapped_column(String(64), default=None)
    negotiated: Mapped[dict[str, int]] = mapped_column(JsonType)
    alpns: Mapped[dict[str, int]] = mapped_column(JsonType)
    ja3: Mapped[dict[str, int]] = mapped_column(JsonType)
    ja3s: Mapped[dict[str, int]] = mapped_column(JsonType)
    ja4: Mapped[dict[str, int]] = mapped_column(JsonType)
    tags: Mapped[dict[str, int]] = mapped_column(JsonType)
    cert_subject: Mapped[str | None] = mapped_column(String(512), default=None)
    cert_issuer: Mapped[str | None] = mapped_column(String(512), default=None)
    cert_not_before: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    cert_not_after: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    cert_self_signed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    cert_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    cert_san: Mapped[list[str] | None] = mapped_column(JsonType, default=None)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


# ------------------------------------------------------------------------------ threat detection
# Written by analyzer/pipeline/detect.py (analyzer/db/threats.py): events upserted by their
# grouping hash, actors and data flows upserted by key, the engine's state as one row. No raw
# credential, identity or PII value: identities are keyed hashes + short hints, evidence masked.


class ThreatEvent(Base):
    """One detected event (``analyzer.detect.model.Event``): grouped per (type, subtype, actor,
    endpoint, window), updated in place as the window goes on."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_last_seen_id", "last_seen", "id"),
        Index("ix_events_type_id", "type", "id"),
        Index("ix_events_actor_id", "actor_key", "id"),
        Index("ix_events_host_id", "host", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)  # Event.id: the same in every analyzer
    type: Mapped[str] = mapped_column(String(32))
    subtype: Mapped[str | None] = mapped_column(String(64), default=None)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    actor_key: Mapped[str] = mapped_column(String(80))  # ActorRow.key
    actor_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_identity: Mapped[str | None] = mapped_column(String(64), default=None)  # masked hint
    host: Mapped[str] = mapped_column(String(255))
    method: Mapped[str | None] = mapped_column(String(32), default=None)
    path_template: Mapped[str | None] = mapped_column(String(MAX_PATH_CHARS), default=None)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_seconds: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonType)


class ThreatActor(Base):
    """A client as detection sees it: an identity (keyed hash + masked hint) or an address."""

    __tablename__ = "actors"
    __table_args__ = (
        Index("ix_actors_last_seen_id", "last_seen", "id"),
        Index("ix_actors_risk_id", "risk", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)  # identity hash, or "ip:<address>"
    ip: Mapped[str | None] = mapped_column(String(64), default=None)  # the latest address
    identity: Mapped[str | None] = mapped_column(String(64), default=None)  # masked hint
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    endpoints: Mapped[int] = mapped_column(Integer, default=0)
    pii_types: Mapped[dict[str, int]] = mapped_column(JsonType)  # PII type -> records received
    risk: Mapped[int] = mapped_column(Integer, default=0)  # 0..100


class DataFlow(Base):
    """Sensitive data flow: which actor received which PII type from which endpoint, how much."""

    __tablename__ = "data_flows"
    __table_args__ = (Index("ix_data_flows_actor_id", "actor_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_key: Mapped[str] = mapped_column(String(32), unique=True)  # hash of (actor, host, template, type)
    actor_key: Mapped[str] = mapped_column(String(80))
    actor_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_identity: Mapped[str | None] = mapped_column(String(64), default=None)
    host: Mapped[str] = mapped_column(String(255))
    path_template: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    pii_type: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    responses: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class DetectorState(Base):
    """Singleton row (id = 1): the detection engine's state (zlib JSON), its generation (bumped
    per save, like the templater's) and the generated deployment secret of the keyed hashes
    (when ``APICENSUS_DETECT_SECRET`` is not set), created once."""

    __tablename__ = "detector_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


# BIGINT ids on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class ChangeEvent(Base):
    """One change of the inventory (``analyzer.inventory.changes``): what, where, before/after.

    No foreign keys: history outlives a deleted endpoint. ``observed_at`` is capture time,
    ``detected_at`` when the inventory learned it; ``dispatched_at`` is set once the change was
    handed to the alert outbox (at least once: set after the enqueue commits).
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_detected_id", "detected_at", "id"),
        Index("ix_changes_dispatched_id", "dispatched_at", "id"),
        Index("ix_changes_endpoint_type", "endpoint_id", "type"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    service_id: Mapped[int | None] = mapped_column(Integer, default=None)
    endpoint_id: Mapped[int | None] = mapped_column(Integer, default=None)
    method: Mapped[str | None] = mapped_column(String(32), default=None)
    path_template: Mapped[str | None] = mapped_column(String(MAX_PATH_CHARS), default=None)
    subject: Mapped[str | None] = mapped_column(String(512), default=None)  # parameter, field, PII type
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class FindingAnnouncement(Base):
    """Findings already announced (``analyzer.alerts.producers``): new ones and raised severities
    become alerts and the "new this run" count; ``resolved_at`` when the finding went away."""

    __tablename__ = "finding_announcements"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # "<kind>:<endpoint id>"
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    endpoint_id: Mapped[int | None] = mapped_column(Integer, default=None)
    first_detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Integration(Base):
    """An alert destination configured by an administrator (``POST /api/v1/integrations``).

    ``config`` is what ``analyzer.alerts.parse_destination`` accepts minus the secret fields,
    which live in ``secrets`` and are never returned by the API.
    """

    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JsonType)
    secrets: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class WorkerLease(Base):
    """A named lease (``alert-delivery``): one holder across every ``serve`` worker process."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertCursor(Base):
    """How far a published source has been handed to the alert outbox (``threat_events``: the
    last ``events.id`` submitted; new events get new ids, updates of a grouped event do not)."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class AlertOutboxRow(Base):
    """One alert for one destination (``analyzer.alerts.outbox_sql``)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("destination_id", "delivery_id"),
        Index("ix_alert_outbox_due", "state", "next_attempt_at"),
        Index("ix_alert_outbox_key", "destination_id", "dedup_key", "enqueued_at"),
        Index("ix_alert_outbox_dest_state", "destination_id", "state"),
        Index("ix_alert_outbox_dest_time", "destination_id", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    destination_id: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int] = mapped_column(SmallInteger)
    alert: Mapped[dict[str, Any]] = mapped_column(JsonType)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    folded: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    fold_sources: Mapped[dict[str, int] | None] = mapped_column(JsonType, default=None)


class AlertDeliveryStatusRow(Base):
    """Per-destination totals and last success/error; they outlive pruned outbox rows."""

    __tablename__ = "alert_delivery_status"

    destination_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivered_total: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_total: Mapped[int] = mapped_column(BigInteger, default=0)
    dropped_total: Mapped[int] = mapped_column(BigInteger, default=0)
    folded_total: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


# Made by migration 0004 on PostgreSQL where pg_trgm exists; not a model index (SQLite has none).
DIALECT_ONLY_INDEXES = frozenset({"ix_api_endpoints_path_trgm"})


def include_in_schema_comparison(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object``: what autogenerate and the drift test compare with the models."""
    return not (type_ == "index" and name in DIALECT_ONLY_INDEXES)


# --- The web console (inventory_api/ui): sessions and the findings workflow (migration 0005) ---


class ConsoleSession(Base):
    """A signed-in console browser: only the SHA-256 of the session token is stored; the key it
    was opened with must stay live (a revoked key ends its sessions)."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class FindingState(Base):
    """Where a finding (``kind:endpoint_id``, as /api/v1/findings names it) stands in the queue:
    open (no row) -> acknowledged -> resolved / false_positive / accepted_risk."""

    __tablename__ = "finding_states"

    finding_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(24))
    assignee: Mapped[str | None] = mapped_column(String(255), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[int | None] = mapped_column(Integer, default=None)  # api_keys.id


class FindingActivity(Base):
    """Every workflow change of a finding, appended (who, when, state, assignee, comment)."""

    __tablename__ = "finding_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(24))
    assignee: Mapped[str | None] = mapped_column(String(255), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    by_key: Mapped[int | None] = mapped_column(Integer, default=None)  # api_keys.id


class SuppressionRule(Base):
    """Silences one finding kind on an endpoint or on a whole service, with a reason, until expiry."""

    __tablename__ = "suppression_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), default=None)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), default=None)
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(Integer, default=None)  # api_keys.id
