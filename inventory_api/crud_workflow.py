"""The findings & events workflow as the console and the API read it: typed, keyword-only.

Findings are computed by the rules (analyzer.inventory.findings, dicts shared with
``/api/v1/findings``); :func:`queue_finding` gives the console one typed row with its workflow
overlay. :func:`workflow_view` is where one finding or event stands, with its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from analyzer.inventory.workflow import Triage, activity, item_host, states


@dataclass(frozen=True, slots=True)
class EndpointRef:
    id: int
    host: str
    method: str
    path_template: str


@dataclass(frozen=True, slots=True)
class TlsRef:
    id: int
    server: str  # ip:port
    sni: str | None


@dataclass(frozen=True, slots=True)
class FindingEvidence:
    type: str
    location: str
    field: str
    count: int
    sample: str | None  # masked (fully masked for viewers)


@dataclass(frozen=True, slots=True)
class QueueFinding:
    """One finding as the queue shows it: the rule's item (analyzer.inventory.findings), typed,
    with its workflow overlay. TLS posture findings name a TLS service instead of an endpoint."""

    id: str  # kind:endpoint_id, kind:tls<id>
    kind: str
    severity: str
    title: str
    host: str
    endpoint: EndpointRef | None
    tls: TlsRef | None
    pii_types: tuple[str, ...]
    evidence: tuple[FindingEvidence, ...]
    zombie_reasons: tuple[Mapping[str, str], ...]
    state: str
    assignee: str | None
    comment: str | None
    suppressed_by: int | None


def queue_finding(item: Mapping[str, Any], tri: Triage) -> QueueFinding:
    """``item`` (already reduced for the caller's role) with its workflow state."""
    ep, tls = item.get("endpoint"), item.get("tls_service")
    known = tri.known.get(item["id"]) or {}
    return QueueFinding(
        id=item["id"], kind=item["kind"], severity=item["severity"], title=item["title"], host=item_host(dict(item)),
        endpoint=EndpointRef(ep["id"], ep["host"], ep["method"], ep["path_template"]) if ep else None,
        tls=TlsRef(tls["id"], tls["server"], tls.get("sni")) if tls else None,
        pii_types=tuple(item.get("pii_types") or ()),
        evidence=tuple(FindingEvidence(e["type"], e["location"], e["field"], e["count"], e["sample"])
                       for e in item.get("evidence") or ()),
        zombie_reasons=tuple(item.get("zombie_reasons") or ()),
        state=str(known.get("state", "open")), assignee=known.get("assignee"), comment=known.get("comment"),
        suppressed_by=tri.suppressed_by(dict(item)),
    )


@dataclass(frozen=True, slots=True)
class WorkflowChange:
    state: str
    assignee: str | None
    comment: str | None
    at: datetime
    by_key: int | None


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """Where one finding or event stands in the workflow, and its recent history (newest first)."""

    id: str
    state: str
    assignee: str | None
    comment: str | None
    updated_at: datetime | None
    history: tuple[WorkflowChange, ...]


def workflow_view(*, session: Session, item_id: str, history: int = 50) -> WorkflowView:
    known = states(session=session, finding_ids=[item_id]).get(item_id)
    changes = tuple(WorkflowChange(**a) for a in activity(session=session, finding_id=item_id, limit=history))
    if known is None:
        return WorkflowView(item_id, "open", None, None, None, changes)
    return WorkflowView(item_id, known["state"], known["assignee"], known["comment"], known["updated_at"], changes)


def workflow_states(*, session: Session, item_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """(state, assignee) of each id that has left *open* at some point (absent: open)."""
    return {k: (v["state"], v["assignee"]) for k, v in states(session=session, finding_ids=item_ids).items()}
