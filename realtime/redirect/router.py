"""Per-company smart redirect and missed-call settings."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from realtime.auth.tenancy import current_company
from realtime.dependencies import get_store
from realtime.domain import Company, RedirectConfig
from realtime.redirect.schemas import RedirectConfigIn
from realtime.store import EventStore

router = APIRouter(prefix="/v1/redirect", tags=["redirect"])


@router.get(
    "/config", response_model=RedirectConfig, summary="Smart redirect and missed-call settings"
)
async def get_config(
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> RedirectConfig:
    return store.get_redirect_config(company.id) or RedirectConfig(company_id=company.id)


@router.put(
    "/config", response_model=RedirectConfig, summary="Replace the smart redirect settings"
)
async def put_config(
    body: RedirectConfigIn,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> RedirectConfig:
    config = body.for_company(company.id)
    store.save_redirect_config(config)
    return config
