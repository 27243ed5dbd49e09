from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from realtime.auth.service import authenticate
from realtime.dependencies import get_store
from realtime.store import EventStore

bearer = HTTPBearer(auto_error=False, description="Company API key (`callpath keys create`)")


async def company_id(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    store: EventStore = Depends(get_store),
) -> str:
    """The authenticated company. Accepts `Authorization: Bearer` or `X-Api-Key`."""
    presented = credentials.credentials if credentials else request.headers.get("x-api-key")
    return authenticate(store, presented)
