from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from realtime.auth.dependencies import company_id as authenticated_company
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_settings_dep, get_store
from realtime.settings import Settings
from realtime.store import EventStore
from realtime.webhooks import service
from realtime.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe a URL to events; the signing secret is returned only here",
)
async def create_subscription(
    body: SubscriptionIn,
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
    clock: SystemClock = Depends(get_clock),
) -> SubscriptionCreated:
    subscription = service.create_subscription(
        store,
        company_id,
        body.url,
        body.events,
        body.secret,
        clock.now(),
        settings.webhooks_allow_private_targets,
    )
    return SubscriptionCreated.of(subscription)


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    summary="The company's webhook subscriptions (without secrets)",
)
async def list_subscriptions(
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(s) for s in store.list_subscriptions(company_id)]


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Unsubscribe; queued deliveries to it go dead",
)
async def delete_subscription(
    subscription_id: str,
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
) -> Response:
    service.delete_subscription(store, company_id, subscription_id)
    return Response(status_code=204)


@router.get(
    "/deliveries",
    response_model=list[DeliveryOut],
    summary="Webhook deliveries by status, oldest first (status=dead: the dead letters)",
)
async def list_deliveries(
    status: DeliveryStatus | None = Query(None, description="pending, delivered or dead"),
    limit: int = Query(100, ge=1, le=1000),
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
) -> list[DeliveryOut]:
    return [DeliveryOut.of(m) for m in store.list_messages(company_id, status, limit)]


@router.post(
    "/deliveries/{delivery_id}/redrive",
    response_model=DeliveryOut,
    summary="Queue a dead delivery again (same delivery id); 409 unless it is dead",
)
async def redrive_delivery(
    delivery_id: str,
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
    clock: SystemClock = Depends(get_clock),
) -> DeliveryOut:
    return DeliveryOut.of(service.redrive(store, company_id, delivery_id, clock.now()))
