"""Request and response bodies: separate Create / Update / Public models per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from inventory_api.security import Role

# PostgreSQL text cannot hold NUL: free text with one is invalid input (422), not a server error.
NO_NUL = r"^[^\x00]*$"
ReviewState = Literal["unreviewed", "in_review", "reviewed", "approved", "rejected"]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=NO_NUL)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NO_NUL)]


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """Every error body: a message, or (422 on a malformed request) the list of validation issues."""

    detail: str | list[ValidationIssue]


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for the error codes a route can answer with."""
    return {code: {"model": ErrorPublic, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "No API key, or an invalid or revoked one",
    403: "The key's role does not allow this",
    404: "Not found",
    409: "Conflicts with an existing resource",
    413: "Request body too large",
    415: "Unsupported content encoding",
    422: "Invalid request",
    503: "The database is unavailable; retry later",
}


class IngestPublic(BaseModel):
    received: int  # records in the batch
    new: int  # counted into the inventory now
    duplicates: int  # analysed before (re-sent batch) or repeated in the batch
    skipped: int  # no request line
    noise: int  # counted as noise paths, not endpoints
    pii_findings: int


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]


# --- API keys -------------------------------------------------------------------------------


class ApiKeyCreate(BaseModel):
    role: Role
    name: Label | None = None


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str | None
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


# --- Ownership (services and endpoints) -----------------------------------------------------


class OwnershipUpdate(BaseModel):
    """PATCH body: only the fields sent change; ``null`` clears one."""

    model_config = ConfigDict(extra="forbid")

    owner: Label | None = None
    application: Label | None = None
    business_unit: Label | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    review_state: ReviewState | None = None

    @field_validator("tags")
    @classmethod
    def _dedupe_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))


class ServiceUpdate(OwnershipUpdate):
    pass


class EndpointUpdate(OwnershipUpdate):
    pass


class OwnershipPublic(BaseModel):
    owner: str | None = None
    application: str | None = None
    business_unit: str | None = None
    tags: list[str] | None = None
    review_state: str | None = None


# --- Services ---------------------------------------------------------------------------------


class ServicePublic(OwnershipPublic):
    id: int
    host: str
    hits: int
    first_seen: datetime
    last_seen: datetime
    endpoint_count: int


class ServicesPage(BaseModel):
    items: list[ServicePublic]
    next_cursor: str | None


# --- Endpoints --------------------------------------------------------------------------------


class ZombieReason(BaseModel):
    reason: Literal["deprecated", "superseded", "removed", "sunset_header"] | str
    detail: str


class EndpointPublic(OwnershipPublic):
    # null for an orphan (documented, never observed): see spec_operation_id
    id: int | None
    service_id: int | None
    host: str | None
    method: str
    path_template: str
    hits: int
    first_seen: datetime | None
    last_seen: datetime | None
    unauthenticated: bool
    authenticated_hits: int
    unauthenticated_hits: int
    pii_types: list[str]
    spec_verdict: str | None = None
    documented: bool = False
    shadow: bool = False
    zombie: bool = False
    zombie_reasons: list[ZombieReason] = []
    orphan: bool = False
    spec_operation_id: int | None = None


class EndpointsPage(BaseModel):
    items: list[EndpointPublic]
    next_cursor: str | None


class ParameterPublic(BaseModel):
    name: str
    location: Literal["path", "query"] | str
    type: str
    types: dict[str, int]
    count: int
    presence: float
    # Capture time (to within the batch that carried it), and when the inventory learned it;
    # null for rows stored before revision 0005.
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    learned_at: datetime | None = None


class BodyFieldPublic(BaseModel):
    path: str
    type: str
    types: dict[str, int]
    count: int
    presence: float
    # Capture time (to within the batch that carried it), and when the inventory learned it;
    # null for rows stored before revision 0005.
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    learned_at: datetime | None = None


class PiiFindingPublic(BaseModel):
    type: str
    location: str
    field: str
    count: int
    sample: str | None
    first_seen: datetime
    last_seen: datetime


class ServerPublic(BaseModel):
    address: str
    count: int
    first_seen: datetime
    last_seen: datetime


class HourlyPublic(BaseModel):
    hour: datetime
    count: int


class GraphqlCountersPublic(BaseModel):
    operations: int
    errors: int
    errored_operations: int
    introspection: int
    introspection_unauthenticated: int
    max_depth: int
    max_width: int
    max_fields: int


class EndpointDetail(EndpointPublic):
    template_id: str | None
    unauthenticated_2xx: int
    request_bodies: int
    response_bodies: int
    parameters: list[ParameterPublic]
    request_body: list[BodyFieldPublic]
    response_body: list[BodyFieldPublic]
    content_types: dict[str, dict[str, int]]
    pii: list[PiiFindingPublic]
    status_codes: dict[str, int]
    auth: dict[str, int]
    clients: int
    servers: list[ServerPublic]
    hourly: list[HourlyPublic]
    graphql: GraphqlCountersPublic | None = None  # GraphQL operation endpoints only


# --- OpenAPI specs ----------------------------------------------------------------------------


class SpecImportPublic(BaseModel):
    spec_id: int
    name: str
    version: str | None
    openapi_version: str
    host: str | None
    service_id: int | None
    operations: int
    matched: int
    orphans: int
    deprecated_seen: int
    # openapi-spec-validator's findings outside what the import reads (the first 20): imported anyway.
    warnings: list[str] = []
    warning_count: int = 0


class SpecPublic(BaseModel):
    id: int
    name: str
    version: str | None
    source: str | None
    service_id: int | None
    imported_at: datetime
    verdicts: dict[str, int]


# --- TLS services -----------------------------------------------------------------------------


class CertificatePublic(BaseModel):
    subject: str | None
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    self_signed: bool | None
    sha256: str | None
    san: list[str]


class TlsServicePublic(BaseModel):
    id: int
    server: str
    sni: str | None
    connections: int
    decrypted_connections: int
    version: str | None
    cipher: str | None
    alpn: str | None
    versions: dict[str, int]
    ciphers: dict[str, int]
    negotiated: dict[str, int]
    alpn_counts: dict[str, int]
    ja3: dict[str, int]
    ja3s: dict[str, int]
    ja4: dict[str, int]
    tags: dict[str, int]
    certificate: CertificatePublic | None
    first_seen: datetime
    last_seen: datetime


class TlsServicesPage(BaseModel):
    items: list[TlsServicePublic]
    next_cursor: int | None
# --- Changes ----------------------------------------------------------------------------------


class ChangePublic(BaseModel):
    id: int
    type: str
    severity: str
    host: str
    service_id: int | None
    endpoint_id: int | None
    method: str | None
    path_template: str | None
    subject: str | None  # the parameter, body field or PII type
    before: dict[str, object] | None
    after: dict[str, object] | None
    observed_at: datetime  # capture time
    detected_at: datetime  # when the inventory learned it


class ChangesPage(BaseModel):
    items: list[ChangePublic]
    next_cursor: str | None
