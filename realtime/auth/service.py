"""Company API keys: `cp_<id>_<secret>`. We keep only SHA-256 of the whole key; the
secret is shown once, at creation. Every authenticated query is scoped to the key's
company, so another company's ids simply are not found."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from realtime.domain import ApiKey, utcnow
from realtime.errors import NotFound, Unauthorized
from realtime.store import EventStore


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: EventStore, company_id: str, label: str = "") -> tuple[ApiKey, str]:
    """Returns the stored record and the plaintext key (never stored, shown once)."""
    if store.get_company(company_id) is None:
        raise NotFound(f"company {company_id!r} does not exist")
    key_id = secrets.token_hex(6)
    plaintext = f"cp_{key_id}_{secrets.token_urlsafe(24)}"
    record = ApiKey(
        id=key_id,
        company_id=company_id,
        secret_sha256=_digest(plaintext),
        label=label,
        created_at=utcnow(),
    )
    store.create_api_key(record)
    return record, plaintext


def revoke_key(store: EventStore, company_id: str, key_id: str, now: datetime) -> None:
    if not store.revoke_api_key(company_id, key_id, now):
        raise NotFound(f"company {company_id!r} has no key {key_id!r}")


def authenticate(store: EventStore, presented: str | None) -> str:
    """The company id behind a presented key, or Unauthorized."""
    if not presented:
        raise Unauthorized("send the company API key as 'Authorization: Bearer <key>'")
    record = store.find_api_key(_digest(presented.strip()))
    if record is None or record.revoked_at is not None:
        raise Unauthorized("API key is unknown or revoked")
    return record.company_id
