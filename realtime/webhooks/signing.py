"""Webhook signatures: `v1=<hex hmac_sha256(secret, f"{timestamp}.{raw_body}")>`.

The timestamp is signed with the body so a captured request cannot be replayed later
with a fresh timestamp. `verify_signature` uses only the standard library on purpose:
receivers copy it as is (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime

SIGNATURE_VERSION = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Callpath-Signature` header value for one request."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    tolerance: int = 300,
    now: float | datetime | None = None,
) -> bool:
    """True if `header` (X-Callpath-Signature) signs `timestamp` (X-Callpath-Timestamp)
    and the raw `body` with `secret`, and the timestamp is within `tolerance` seconds of
    `now` (default: the wall clock). Pass the body exactly as received, before parsing."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if now is None:
        now = time.time()
    elif isinstance(now, datetime):
        now = now.timestamp()
    if abs(now - sent_at) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = hmac.new(
        secret.encode("utf-8"), f"{sent_at}.".encode() + raw, hashlib.sha256
    ).hexdigest()
    # Several `v1=` values may be sent (comma-separated); any one matching is enough.
    for part in (header or "").split(","):
        version, _, value = part.strip().partition("=")
        # Constant-time compare: timing must not reveal how much of a forgery was right.
        if version == SIGNATURE_VERSION and hmac.compare_digest(value.lower(), expected):
            return True
    return False
