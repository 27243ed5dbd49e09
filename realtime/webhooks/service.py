"""Outgoing webhooks: which subscriptions hear an event, the messages to queue, and the
company-facing operations on subscriptions and deliveries.

Messages are queued in the outbox in the same store write as the change they report
(`Changes.outbox`), so a call or lead is never saved without its webhooks or the reverse.
`realtime/webhooks/worker.py` delivers them.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from realtime.domain import OutboxMessage, WebhookEvent, WebhookSubscription, new_id, to_ms
from realtime.errors import BadInput, CallpathError, NotFound
from realtime.store import EventStore

MAX_URL_LENGTH = 2048
# Every subscription multiplies each event into one more delivery; a cap keeps one
# company from turning the outbox into a fan-out amplifier.
MAX_SUBSCRIPTIONS_PER_COMPANY = 50
LOCAL_HOSTNAMES = ("localhost", "localhost.localdomain")


class Conflict(CallpathError):
    status_code = 409
    code = "conflict"


def build_messages(
    subscriptions: list[WebhookSubscription],
    event: WebhookEvent,
    payload: dict[str, Any],
    now: datetime,
) -> list[OutboxMessage]:
    """One pending message per active subscription that listens for `event`."""
    return [
        OutboxMessage(
            id=new_id("wh"),
            company_id=sub.company_id,
            subscription_id=sub.id,
            event=event,
            payload={"event": event, **payload},
            created_at=to_ms(now),
            next_attempt_at=to_ms(now),
        )
        for sub in subscriptions
        if sub.active and event in sub.events
    ]


# --- target URLs ---------------------------------------------------------------------


def check_url_shape(url: str) -> str:
    """An absolute http(s) URL with a host; raises ValueError saying what is wrong."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("url must name a host")
    return url


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local, carrier-grade NAT, multicast, reserved: anything
    that is not a public unicast address is a possible SSRF target."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def is_private_host(host: str) -> bool:
    """Whether a host is private on its face (an IP literal or a localhost name), without
    DNS: the worker checks resolved addresses again at delivery time."""
    host = host.strip("[]").rstrip(".").lower()
    if host in LOCAL_HOSTNAMES or host.endswith(".localhost"):
        return True
    try:
        return is_private_address(host)
    except ValueError:
        return False


# --- subscriptions -------------------------------------------------------------------


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def create_subscription(
    store: EventStore,
    company_id: str,
    url: str,
    events: list[WebhookEvent],
    secret: str | None,
    now: datetime,
    allow_private_targets: bool,
) -> WebhookSubscription:
    url = check_url_shape(url)
    host = urlsplit(url).hostname or ""
    if not allow_private_targets and is_private_host(host):
        raise BadInput(
            f"url host {host!r} is a loopback or private address; webhooks go to public hosts"
        )
    if len(store.list_subscriptions(company_id)) >= MAX_SUBSCRIPTIONS_PER_COMPANY:
        raise BadInput(
            f"a company has at most {MAX_SUBSCRIPTIONS_PER_COMPANY} webhook subscriptions"
        )
    subscription = WebhookSubscription(
        id=new_id("whsub"),
        company_id=company_id,
        url=url,
        events=list(dict.fromkeys(events)),
        secret=secret or new_secret(),
        created_at=to_ms(now),
    )
    store.save_subscription(subscription)
    return subscription


def delete_subscription(store: EventStore, company_id: str, subscription_id: str) -> None:
    if not store.delete_subscription(company_id, subscription_id):
        raise NotFound(f"no webhook subscription {subscription_id!r} in your company")


# --- deliveries ----------------------------------------------------------------------


def get_delivery(store: EventStore, company_id: str, delivery_id: str) -> OutboxMessage:
    message = store.get_message(company_id, delivery_id)
    if message is None:
        raise NotFound(f"no webhook delivery {delivery_id!r} in your company")
    return message


def redrive(store: EventStore, company_id: str, delivery_id: str, now: datetime) -> OutboxMessage:
    """Queue a dead message again, as if new: due now, no attempts, a fresh retry window.
    Its id, and so the receiver's idempotency key, stays the same."""
    message = get_delivery(store, company_id, delivery_id)
    if message.status != "dead":
        raise Conflict(f"delivery {delivery_id!r} is {message.status}; only dead ones redrive")
    message.status = "pending"
    message.attempts = 0
    # The retry window counts from created_at; without a fresh start one more failure
    # would kill it again at once. The event's own times are in the payload.
    message.created_at = to_ms(now)
    message.next_attempt_at = to_ms(now)
    store.save_message(message)
    return message
