from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from realtime.auth.tenancy import current_company
from realtime.callbacks import service
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.domain import CallbackTask, Changes, Company
from realtime.errors import NotFound
from realtime.store import EventStore

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])


@router.get(
    "",
    response_model=list[CallbackTask],
    summary="Callback tasks (callback requests and missed calls), oldest first",
)
async def list_callbacks(
    status: Literal["pending", "done"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> list[CallbackTask]:
    return store.list_callbacks(company.id, status, limit)


@router.post("/{task_id}/done", response_model=CallbackTask, summary="Mark a callback done")
async def mark_done(
    task_id: str,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
    clock: SystemClock = Depends(get_clock),
) -> CallbackTask:
    task = store.get_callback(company.id, task_id)
    if task is None:
        raise NotFound(f"no callback task {task_id!r}")
    if service.mark_done(task, clock.now()):  # idempotent: the first completion stays
        store.save_changes(Changes(callbacks=[task]))
    return task
