"""Leads: one person is one lead.

Calls, web forms and callback requests with the same normalised phone (else email)
within the company's dedupe window (30 days by default, counted from the lead's last
touch) are touches of one lead. The first touch sets the lead's time and attribution;
every touch is kept. The dbt model `int_leads` applies the same rule in batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from realtime.domain import CallbackTask, Changes, Company, Lead, LeadTouch, new_id
from realtime.errors import BadInput, NotFound
from realtime.leads.schemas import LeadAccepted, LeadIn
from realtime.phones import to_e164
from realtime.sites import SiteCache
from realtime.store import EventStore
from realtime.webhooks.service import build_messages


def add_touch(
    existing: Lead | None,
    company: Company,
    touch: LeadTouch,
    phone: str | None,
    email: str | None,
    name: str | None = None,
) -> tuple[Lead, bool]:
    """The lead after `touch` (idempotent for the same touch) and whether it is new."""
    if existing is None:
        lead = Lead(
            id=new_id("ld"),
            company_id=company.id,
            phone=phone,
            email=email,
            name=name,
            created_at=touch.at,
            last_touch_at=touch.at,
            first_touch_type=touch.type,
            session_id=touch.session_id,
            touches=[touch],
        )
        return lead, True
    lead = existing.model_copy(deep=True)
    if any(t.type == touch.type and t.ref == touch.ref for t in lead.touches):
        return lead, False
    lead.touches.append(touch)
    lead.touches.sort(key=lambda t: t.at)
    lead.last_touch_at = max(lead.last_touch_at, touch.at)
    if touch.at < lead.created_at:
        # A late-arriving earlier touch becomes the first: it defines the attribution.
        lead.created_at, lead.first_touch_type = touch.at, touch.type
        lead.session_id = touch.session_id
    lead.phone = lead.phone or phone
    lead.email = lead.email or email
    lead.name = lead.name or name
    return lead, False


def window_start(company: Company, at: datetime) -> datetime:
    return at - timedelta(days=company.lead_dedupe_days)


def lead_payload(lead: Lead) -> dict[str, Any]:
    first = lead.touches[0] if lead.touches else None
    return {
        "lead_id": lead.id,
        "created_at": lead.created_at.isoformat(),
        "phone": lead.phone,
        "email": lead.email,
        "name": lead.name,
        "first_touch": first.type if first else None,
        "first_touch_ref": first.ref if first else None,
        "session_id": lead.session_id,
    }


def submit(
    store: EventStore,
    sites: SiteCache,
    request: LeadIn,
    now: datetime,
) -> LeadAccepted:
    """A form or callback request becomes a touch of a lead (new or existing)."""
    site = sites.get(request.site_key)
    if site is None:
        raise NotFound(f"unknown site_key {request.site_key!r}")
    company = store.get_company(site.company_id)
    if company is None:  # pragma: no cover - sites outlive no company
        raise NotFound(f"unknown site_key {request.site_key!r}")
    phone = to_e164(request.phone) if request.phone else None
    if request.phone and phone is None:
        raise BadInput(f"phone {request.phone!r} is not a valid phone number")
    email = request.email.lower() if request.email else None

    session = None
    if request.session_id:
        session = store.get_session(company.id, request.session_id)
    if session is None and request.visitor_id:
        session = store.latest_session_of_visitor(company.id, request.visitor_id)

    ref = request.idempotency_key or new_id("f")
    touch = LeadTouch(
        type=request.type,
        ref=ref,
        at=now,
        session_id=session.id if session else None,
        page=request.page,
        message=request.message,
    )
    existing = store.find_recent_lead(company.id, phone, email, window_start(company, now))
    lead, created = add_touch(existing, company, touch, phone, email, request.name)
    duplicate = existing is not None and lead == existing

    changes = Changes()
    callback_id = None
    if request.type == "callback":
        callback_id = f"cb_{company.id}_{ref}"
        if duplicate:
            duplicate_task = store.get_callback(company.id, callback_id)
            callback_id = duplicate_task.id if duplicate_task else callback_id
        else:
            changes.callbacks.append(
                CallbackTask(
                    id=callback_id,
                    company_id=company.id,
                    phone=phone or "",
                    reason="callback_request",
                    lead_id=lead.id,
                    ref=ref,
                    created_at=now,
                )
            )
    if not duplicate:
        changes.leads.append(lead)
        if created:
            subscriptions = store.list_subscriptions(company.id)
            changes.outbox += build_messages(subscriptions, "lead.created", lead_payload(lead), now)
        store.save_changes(changes)
    return LeadAccepted(
        lead_id=lead.id, created=created and not duplicate, callback_task_id=callback_id
    )
