"""Webhook API bodies. A subscription's secret appears in exactly one response: the
one that creates it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from realtime.domain import OutboxMessage, WebhookEvent, WebhookSubscription
from realtime.webhooks.service import MAX_URL_LENGTH, check_url_shape

DeliveryStatus = Literal["pending", "delivered", "dead"]


class SubscriptionIn(BaseModel):
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        json_schema_extra={"format": "uri"},
        description="Where to POST events: an absolute http:// or https:// URL.",
        examples=["https://crm.example/hooks/callpath"],
    )
    events: list[WebhookEvent] = Field(min_length=1, description="Events to receive.")
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="HMAC signing secret; generated when absent. Returned only now.",
    )

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        return check_url_shape(value)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> SubscriptionOut:
        return cls(**subscription.model_dump(include=set(cls.model_fields)))


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown once: store it to verify signatures.")

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> SubscriptionCreated:
        return cls(**subscription.model_dump(include=set(cls.model_fields)))


class DeliveryOut(BaseModel):
    id: str = Field(description="The delivery id: X-Callpath-Delivery, the idempotency key.")
    subscription_id: str
    event: WebhookEvent
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, message: OutboxMessage) -> DeliveryOut:
        return cls(**message.model_dump(include=set(cls.model_fields)))
