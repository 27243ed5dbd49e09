"""CRM contacts → the realtime store, for smart redirect's "responsible manager" rule.

The connectors (`connectors/amocrm.py`, `connectors/bitrix24.py`) already read contacts
with their phones and responsible user (`fetch_contacts`); this lands them in the event
store, keyed by (company, CRM, contact id), so a call's decision is one indexed lookup
by phone and never waits on a CRM.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from connectors.base import CrmConnector
from realtime.domain import CrmContact, to_ms
from realtime.store import EventStore

BATCH = 500


def sync_contacts(
    store: EventStore, connectors: Iterable[CrmConnector], updated_since: datetime
) -> dict[str, int]:
    """Upsert every contact changed since `updated_since`; contacts per source account."""
    counts: dict[str, int] = {}
    for connector in connectors:
        name = f"{connector.source}:{connector.account}"
        counts[name] = 0
        batch: list[CrmContact] = []
        for record in connector.fetch_contacts(updated_since):
            batch.append(
                CrmContact(
                    company_id=record.company_id,
                    crm=record.crm,
                    contact_id=record.contact_id,
                    phones=record.phones,
                    name=record.name,
                    responsible_user_id=record.responsible_user_id,
                    updated_at=to_ms(record.updated_at),
                )
            )
            if len(batch) >= BATCH:
                store.save_crm_contacts(batch)
                counts[name] += len(batch)
                batch = []
        if batch:
            store.save_crm_contacts(batch)
            counts[name] += len(batch)
    return counts
