"""The findings workflow: each finding's state, assignee and comment, and suppression rules.

A finding (``kind:endpoint_id``, see :mod:`analyzer.inventory.findings`) with no row is *open*.
Moves: open -> acknowledged -> resolved / false_positive / accepted_risk (and back to open or
acknowledged, e.g. when a resolved finding returns). Every change is appended to
``finding_activity``. A suppression rule silences one kind on an endpoint or a whole service,
with a reason, until it expires; expired rules are ignored (and listed as such).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, not_, select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, FindingActivity, FindingState, Service, SuppressionRule

STATES = ("open", "acknowledged", "resolved", "false_positive", "accepted_risk")
# Threat events take part in the same workflow under ids ``event:<event id>`` (the queue reads
# their states joined to the events in SQL: inventory_api.crud_triage); the findings' overlay
# (:func:`triage`) leaves them out, so it stays as small as the findings' own states.
EVENT_PREFIX = "event:"
CLOSED = frozenset({"resolved", "false_positive", "accepted_risk"})
MAX_COMMENT = 4000
MAX_ASSIGNEE = 255
MAX_REASON = 2000


class WorkflowError(ValueError):
    """A change the workflow refuses (unknown state, bad finding id, missing reason...)."""


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_finding_id(finding_id: str, kinds: Iterable[str]) -> tuple[str, int]:
    """(kind, endpoint or TLS service id) of ``kind:<endpoint id>`` or ``kind:tls<id>``."""
    kind, sep, raw = finding_id.partition(":")
    raw = raw.removeprefix("tls")  # TLS posture findings name their tls_services row
    if not sep or kind not in set(kinds) or not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise WorkflowError(f"unknown finding {finding_id[:80]!r}")
    return kind, int(raw)


def states(
    *, session: Session, finding_ids: Sequence[str] | None = None, findings_only: bool = False
) -> dict[str, dict[str, Any]]:
    stmt = select(FindingState)
    if finding_ids is not None:
        stmt = stmt.where(FindingState.finding_id.in_(list(finding_ids)))
    if findings_only:
        stmt = stmt.where(not_(FindingState.finding_id.startswith(EVENT_PREFIX, autoescape=True)))
    return {
        row.finding_id: {
            "state": row.state,
            "assignee": row.assignee,
            "comment": row.comment,
            "updated_at": _utc(row.updated_at),
        }
        for row in session.scalars(stmt)
    }


def set_state(
    *,
    session: Session,
    finding_id: str,
    state: str,
    assignee: str | None,
    comment: str | None,
    by_key: int | None,
) -> None:
    if state not in STATES:
        raise WorkflowError(f"unknown state {state[:40]!r}: use one of {', '.join(STATES)}")
    if assignee is not None and len(assignee) > MAX_ASSIGNEE:
        raise WorkflowError(f"assignee longer than {MAX_ASSIGNEE} characters")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise WorkflowError(f"comment longer than {MAX_COMMENT} characters")
    if any("\x00" in v for v in (assignee or "", comment or "")):
        raise WorkflowError("NUL characters are not accepted")
    now = datetime.now(UTC)
    row = session.get(FindingState, finding_id)
    if row is None:
        row = FindingState(finding_id=finding_id, state=state, updated_at=now)
        session.add(row)
    row.state = state
    row.assignee = assignee or None
    if comment:
        row.comment = comment
    row.updated_at = now
    row.updated_by = by_key
    session.add(
        FindingActivity(
            finding_id=finding_id, state=state, assignee=assignee or None, comment=comment or None, at=now, by_key=by_key
        )
    )
    session.commit()


def activity(*, session: Session, finding_id: str, limit: int = 50) -> list[dict[str, Any]]:
    stmt = (
        select(FindingActivity)
        .where(FindingActivity.finding_id == finding_id)
        .order_by(FindingActivity.id.desc())
        .limit(limit)
    )
    return [
        {"state": a.state, "assignee": a.assignee, "comment": a.comment, "at": _utc(a.at), "by_key": a.by_key}
        for a in session.scalars(stmt)
    ]


@dataclass(frozen=True, slots=True)
class Suppression:
    id: int
    kind: str
    endpoint_id: int | None
    service_id: int | None
    reason: str
    expires_at: datetime
    created_at: datetime
    target: str
    host: str | None = None  # the service's, for service-wide rules

    def active(self, now: datetime) -> bool:
        return self.expires_at > now


def suppressions(*, session: Session, limit: int = 500) -> list[Suppression]:
    stmt = (
        select(SuppressionRule, Service.host, Endpoint.method, Endpoint.path_template)
        .outerjoin(Endpoint, Endpoint.id == SuppressionRule.endpoint_id)
        .outerjoin(Service, Service.id == SuppressionRule.service_id)
        .order_by(SuppressionRule.id.desc())
        .limit(limit)
    )
    out = []
    for rule, host, method, path in session.execute(stmt):
        target = f"{method} {path}" if rule.endpoint_id is not None else f"service {host}"
        out.append(
            Suppression(
                rule.id, rule.kind, rule.endpoint_id, rule.service_id, rule.reason,
                _utc(rule.expires_at), _utc(rule.created_at), target, host,
            )
        )
    return out


def add_suppression(
    *,
    session: Session,
    kind: str,
    kinds: Iterable[str],
    endpoint_id: int | None,
    service_id: int | None,
    reason: str,
    expires_at: datetime,
    by_key: int | None,
) -> int:
    if kind not in set(kinds):
        raise WorkflowError(f"unknown finding kind {kind[:64]!r}")
    if (endpoint_id is None) == (service_id is None):
        raise WorkflowError("a suppression names either an endpoint or a service")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON or "\x00" in reason:
        raise WorkflowError(f"a reason is required (at most {MAX_REASON} characters)")
    now = datetime.now(UTC)
    expires_at = _utc(expires_at)
    if expires_at <= now:
        raise WorkflowError("the expiry must be in the future")
    if endpoint_id is not None and session.get(Endpoint, endpoint_id) is None:
        raise WorkflowError("no such endpoint")
    if service_id is not None and session.get(Service, service_id) is None:
        raise WorkflowError("no such service")
    rule = SuppressionRule(
        kind=kind, endpoint_id=endpoint_id, service_id=service_id, reason=reason,
        expires_at=expires_at, created_at=now, created_by=by_key,
    )
    session.add(rule)
    session.commit()
    return rule.id


def delete_suppression(*, session: Session, rule_id: int) -> bool:
    result = session.execute(delete(SuppressionRule).where(SuppressionRule.id == rule_id))
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def endpoint_keys(*, session: Session, endpoint_ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
    """(host, method, path template) of each endpoint: what a threat event names its endpoint by
    (events keep those columns, not an endpoint id). Unknown ids are left out."""
    wanted = sorted(set(endpoint_ids))
    out: dict[int, tuple[str, str, str]] = {}
    for start in range(0, len(wanted), 5_000):
        for eid, host, method, path in session.execute(
            select(Endpoint.id, Service.host, Endpoint.method, Endpoint.path_template)
            .join(Service, Service.id == Endpoint.service_id)
            .where(Endpoint.id.in_(wanted[start : start + 5_000]))
        ):
            out[eid] = (host, method, path)
    return out


def item_host(item: dict[str, Any]) -> str:
    """The host a finding is about: its endpoint's, or the SNI (else server) of its TLS service."""
    endpoint = item.get("endpoint")
    if endpoint is not None:
        return str(endpoint["host"])
    tls = item.get("tls_service") or {}
    return str(tls.get("sni") or tls.get("server") or "")


@dataclass(frozen=True, slots=True)
class Triage:
    """The workflow overlay of one request: states and live suppression rules, looked up per
    finding in O(1) (findings themselves are computed elsewhere and never modified here)."""

    known: dict[str, dict[str, Any]]
    on_endpoint: dict[tuple[str, int], int]
    on_host: dict[tuple[str, str], int]

    def state(self, item: dict[str, Any]) -> str:
        st = self.known.get(item["id"])
        return str(st["state"]) if st else "open"

    def suppressed_by(self, item: dict[str, Any]) -> int | None:
        endpoint = item["endpoint"]
        if endpoint is None:  # a TLS posture finding: its service's rules, by SNI
            return self.on_host.get((item["kind"], item_host(item)))
        rule = self.on_endpoint.get((item["kind"], endpoint["id"]))
        return rule if rule is not None else self.on_host.get((item["kind"], endpoint["host"]))

    def ids_in(self, wanted: frozenset[str]) -> set[str]:
        """Finding ids whose state is one of ``wanted`` (no row: open)."""
        return {fid for fid, st in self.known.items() if st["state"] in wanted}

    def decorate(self, item: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``item`` with ``state``, ``assignee``, ``comment`` and ``suppressed_by``."""
        st = self.known.get(item["id"]) or {}
        return {
            **item,
            "state": st.get("state", "open"),
            "assignee": st.get("assignee"),
            "comment": st.get("comment"),
            "suppressed_by": self.suppressed_by(item),
        }


def triage(*, session: Session, now: datetime | None = None) -> Triage:
    now = now or datetime.now(UTC)
    on_endpoint: dict[tuple[str, int], int] = {}
    on_host: dict[tuple[str, str], int] = {}
    for rule in suppressions(session=session):
        if not rule.active(now):
            continue
        if rule.endpoint_id is not None:
            on_endpoint.setdefault((rule.kind, rule.endpoint_id), rule.id)
        elif rule.host is not None:
            on_host.setdefault((rule.kind, rule.host), rule.id)
    return Triage(states(session=session, findings_only=True), on_endpoint, on_host)
