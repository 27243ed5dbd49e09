from __future__ import annotations

from fastapi import APIRouter, Depends

from realtime.auth.tenancy import current_company
from realtime.dependencies import get_store
from realtime.domain import Company, Session
from realtime.errors import NotFound
from realtime.store import EventStore

router = APIRouter(prefix="/v1/sessions", tags=["visits"])


@router.get("/{session_id}", response_model=Session, summary="One session with its marks")
async def get_session(
    session_id: str,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> Session:
    session = store.get_session(company.id, session_id)
    if session is None:
        raise NotFound(f"no session {session_id!r}")
    return session
