"""The findings & events workflow through the API: what ``/findings/{id}/workflow`` and
``/events/{id}/workflow`` share (the console's queue form makes the same change, see
:mod:`inventory_api.ui.queue`)."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from analyzer.inventory.workflow import WorkflowError, set_state
from inventory_api import crud_workflow
from inventory_api.deps import Principal
from inventory_api.schemas_threats import WorkflowChangePublic, WorkflowPublic, WorkflowUpdate


def workflow_public(*, session: Session, item_id: str) -> WorkflowPublic:
    view = crud_workflow.workflow_view(session=session, item_id=item_id)
    return WorkflowPublic(
        id=view.id, state=view.state, assignee=view.assignee, comment=view.comment, updated_at=view.updated_at,
        history=[WorkflowChangePublic(state=c.state, assignee=c.assignee, comment=c.comment, at=c.at,
                                      by_key=c.by_key) for c in view.history],
    )


def change_workflow(*, session: Session, principal: Principal, item_id: str, change: WorkflowUpdate) -> WorkflowPublic:
    try:
        set_state(
            session=session, finding_id=item_id, state=change.state.value, assignee=change.assignee,
            comment=change.comment, by_key=principal.key_id,
        )
    except WorkflowError as exc:  # the body's limits are the workflow's: not reached in practice
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc)) from exc
    return workflow_public(session=session, item_id=item_id)
