"""OpenAPI 2.0 / 3.0 / 3.1 documents (JSON or YAML): parsing, validation, and import.

Parsing never touches the database, so every document of an import is checked before anything is
written; the import itself is one transaction (all of it, or nothing).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.db.models import ApiSpec, Service, SpecOperation
from analyzer.inventory.spec_validation import validate_structure

MAX_SPEC_BYTES = 20 * 1024 * 1024
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SERVER_VARIABLE = re.compile(r"\{([^{}]+)\}")


class SpecError(ValueError):
    """The document is not an OpenAPI description we can import (the message says why)."""


class SpecTooLarge(SpecError):
    """The document expands beyond a :class:`SpecLimits` bound (the message names it)."""


@dataclass(frozen=True, slots=True)
class SpecLimits:
    """Bounds on what one document may expand to: every operation is stored once per server base
    path, so a small document with many servers and many paths would multiply. The largest of
    the 37 real-world corpus documents has 1,000-odd operations and 5 servers."""

    max_servers: int = 64
    # Stored operations (servers x paths x methods) per document.
    max_operations: int = 20_000

    @classmethod
    def from_env(cls) -> SpecLimits:
        """``APICENSUS_SPEC_MAX_SERVERS``, ``APICENSUS_SPEC_MAX_OPERATIONS``."""
        defaults = cls()
        servers = os.environ.get("APICENSUS_SPEC_MAX_SERVERS")
        operations = os.environ.get("APICENSUS_SPEC_MAX_OPERATIONS")
        return cls(
            max_servers=int(servers) if servers else defaults.max_servers,
            max_operations=int(operations) if operations else defaults.max_operations,
        )


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path_template: str
    deprecated: bool


@dataclass(slots=True)
class ParsedSpec:
    title: str
    version: str | None
    openapi_version: str
    hosts: list[str]
    operations: list[Operation]
    document: dict[str, Any] = field(repr=False)
    # What openapi-spec-validator found outside the import's skeleton (spec_validation.py).
    warnings: tuple[str, ...] = ()
    warning_count: int = 0


def load_document(data: bytes, *, source: str = "document") -> dict[str, Any]:
    """JSON or YAML bytes -> the document object (SpecError when unreadable or not an object)."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}: not UTF-8 text") from exc
    document: Any
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except RecursionError as exc:
            raise SpecError(f"{source}: nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, and integers over Python's 4,300 digits
            raise SpecError(f"{source}: invalid JSON: {exc}") from exc
    else:
        document = _load_yaml(text, source)
    if not isinstance(document, dict):
        raise SpecError(f"{source}: an OpenAPI document is a JSON/YAML object, not {type(document).__name__}")
    # Stored as JSON(B): YAML dates and integer keys (``200:``) become strings, as in JSON;
    # NaN and NUL characters cannot be stored in PostgreSQL.
    try:
        dumped = json.dumps(document, default=str, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SpecError(f"{source}: cannot be stored as JSON: {exc}") from exc
    if "\\u0000" in dumped:
        raise SpecError(f"{source}: contains NUL characters, which cannot be stored")
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError as exc:  # a "\ud800" escape: half a UTF-16 pair, not a character
        code = ord(exc.object[exc.start])
        raise SpecError(f"{source}: contains a lone surrogate (U+{code:04X}), which is not text") from exc
    normalised: dict[str, Any] = json.loads(dumped)
    return normalised


def _load_yaml(text: str, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # Aliases can expand a small document exponentially once stored as JSON: refused.
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise SpecError(f"{source}: YAML aliases (*name) are not supported: expand them first")
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from exc
    except RecursionError as exc:
        raise SpecError(f"{source}: nested too deeply") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        # A scalar the loader resolves but cannot build: 2001-02-30, year 0, a 5,000-digit integer.
        raise SpecError(f"{source}: invalid YAML value: {exc}") from exc


def _host_of(netloc: str) -> str:
    host = netloc.rpartition("@")[2].lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            host = host[: -len(default)]
    return host


def _servers(document: dict[str, Any], source: str, limits: SpecLimits) -> tuple[list[str], list[str]]:
    """(hosts, base paths) from OpenAPI 3 ``servers`` (variables take their defaults)."""
    servers = document.get("servers")
    if servers is not None and not isinstance(servers, list):
        raise SpecError(f"{source}: 'servers' must be a list")
    if servers and len(servers) > limits.max_servers:
        raise SpecTooLarge(
            f"{source}: {len(servers)} servers, more than the limit of {limits.max_servers} "
            "(APICENSUS_SPEC_MAX_SERVERS)"
        )
    servers = servers or [{"url": "/"}]
    hosts: list[str] = []
    bases: list[str] = []
    for server in servers:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            raise SpecError(f"{source}: every server needs a 'url' string")
        variables = server.get("variables") or {}
        if not isinstance(variables, dict):
            raise SpecError(f"{source}: server 'variables' must be an object")

        def default(match: re.Match[str], variables: dict[str, Any] = variables) -> str:
            var = variables.get(match.group(1))
            return str(var.get("default", "")) if isinstance(var, dict) else ""

        url = _SERVER_VARIABLE.sub(default, server["url"])
        parts = urlsplit(url if "://" in url or url.startswith("/") else f"//{url}")
        if parts.netloc:
            hosts.append(_host_of(parts.netloc))
        bases.append(parts.path.rstrip("/"))
    return list(dict.fromkeys(hosts)), list(dict.fromkeys(bases)) or [""]


def parse_spec(data: bytes, *, source: str = "document", limits: SpecLimits | None = None) -> ParsedSpec:
    """Parse and check one document; :class:`SpecTooLarge` when it expands beyond ``limits``
    (checked before anything is expanded: memory stays bounded by the limits)."""
    limits = limits or SpecLimits.from_env()
    document = load_document(data, source=source)
    if "swagger" in document:
        version = str(document["swagger"])
        if version != "2.0":
            raise SpecError(f"{source}: unsupported Swagger version {version!r} (2.0 is supported)")
        host = document.get("host")
        if host is not None and not isinstance(host, str):
            raise SpecError(f"{source}: 'host' must be a string")
        base = document.get("basePath") or ""
        if not isinstance(base, str):
            raise SpecError(f"{source}: 'basePath' must be a string")
        hosts, bases = ([_host_of(host)] if host else []), [base.rstrip("/")]
        methods = tuple(m for m in HTTP_METHODS if m != "trace")
    elif "openapi" in document:
        version = str(document["openapi"])
        if not re.fullmatch(r"3\.[01]\.\d+(-[\w.]+)?", version):
            raise SpecError(
                f"{source}: unsupported OpenAPI version {version!r} (3.0.x and 3.1.x are supported)"
            )
        hosts, bases = _servers(document, source, limits)
        methods = HTTP_METHODS
    else:
        raise SpecError(f"{source}: not an OpenAPI document (no 'openapi' or 'swagger' field)")
    info = document.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("title"), str) or not info["title"].strip():
        raise SpecError(f"{source}: 'info.title' is required")
    paths = document.get("paths")
    if paths is None and version.startswith("3.1"):
        paths = {}  # 3.1 allows webhooks-only or components-only documents
    if not isinstance(paths, dict):
        raise SpecError(f"{source}: 'paths' must be an object")
    operations: dict[Operation, None] = {}
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise SpecError(f"{source}: path {path!r} must start with '/'")
        if not isinstance(item, dict):
            raise SpecError(f"{source}: path item {path!r} must be an object")
        for method in methods:
            op = item.get(method)
            if op is None:
                continue
            if not isinstance(op, dict):
                raise SpecError(f"{source}: {method.upper()} {path} must be an object")
            deprecated = op.get("deprecated", False)
            if not isinstance(deprecated, bool):
                raise SpecError(f"{source}: {method.upper()} {path}: 'deprecated' must be true or false")
            for base in bases:
                operations[Operation(method.upper(), (base + path) or "/", deprecated)] = None
            if len(operations) > limits.max_operations:
                raise SpecTooLarge(
                    f"{source}: more than {limits.max_operations} operations once servers x paths x "
                    f"methods are expanded ({len(bases)} server base paths, {len(paths)} paths): the "
                    "limit is APICENSUS_SPEC_MAX_OPERATIONS"
                )
    checked = validate_structure(document)
    if checked.errors:
        more = f" (and {len(checked.errors) - 1} more)" if len(checked.errors) > 1 else ""
        raise SpecError(f"{source}: not a valid OpenAPI {version} document: {checked.errors[0]}{more}")
    version_field = info.get("version")
    return ParsedSpec(
        title=info["title"].strip()[:255],
        version=None if version_field is None else str(version_field)[:64],
        openapi_version=version,
        hosts=hosts,
        operations=list(operations),
        document=document,
        warnings=checked.warnings,
        warning_count=checked.warning_count,
    )


@dataclass(frozen=True, slots=True)
class ImportResult:
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
    warnings: tuple[str, ...] = ()  # the document's validation warnings (the first few)
    warning_count: int = 0


def import_spec(*, session: Session, spec: ParsedSpec, host: str | None, source: str | None) -> ImportResult:
    """Store one parsed document and its operations (no commit here).

    Matching to observed endpoints is :func:`analyzer.inventory.verdicts.recompute`, run by
    :func:`import_specs` after every import (and after every analysis); the counts here are filled in from it.
    """
    target = _host_of(host) if host else (spec.hosts[0] if spec.hosts else None)
    service_id = None if target is None else session.scalar(select(Service.id).where(Service.host == target))
    row = ApiSpec(
        name=spec.title, version=spec.version, source=source, service_id=service_id, document=spec.document
    )
    session.add(row)
    session.flush()
    session.add_all(
        SpecOperation(
            spec_id=row.id,
            host=target,
            method=op.method,
            path_template=op.path_template[:1000],
            deprecated=op.deprecated,
        )
        for op in spec.operations
    )
    session.flush()
    return ImportResult(
        spec_id=row.id,
        name=row.name,
        version=row.version,
        openapi_version=spec.openapi_version,
        host=target,
        service_id=service_id,
        operations=len(spec.operations),
        matched=0,
        orphans=0,
        deprecated_seen=0,
        warnings=spec.warnings,
        warning_count=spec.warning_count,
    )


def with_counts(session: Session, result: ImportResult) -> ImportResult:
    """``result`` with matched / orphan / deprecated-but-seen counts read back after matching."""
    counts = dict(
        session.execute(
            select(SpecOperation.verdict, func.count())
            .where(SpecOperation.spec_id == result.spec_id)
            .group_by(SpecOperation.verdict)
        ).all()
    )
    service_id = session.scalar(select(ApiSpec.service_id).where(ApiSpec.id == result.spec_id))
    return replace(
        result,
        service_id=service_id,
        matched=counts.get("observed", 0) + counts.get("zombie", 0),
        orphans=counts.get("orphan", 0),
        deprecated_seen=counts.get("zombie", 0),
    )


def import_specs(
    *, session: Session, specs: Sequence[tuple[ParsedSpec, str | None]], host: str | None
) -> list[ImportResult]:
    """Import parsed documents in one transaction: all of them, or (on any error) none."""
    from analyzer.inventory.verdicts import recompute

    try:
        results = [
            import_spec(session=session, spec=spec, host=host, source=source) for spec, source in specs
        ]
        recompute(session)
        results = [with_counts(session, result) for result in results]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return results
