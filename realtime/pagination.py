"""Opaque cursors: base64 of the (time, id) of the last row a page returned."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from realtime.errors import BadInput


def encode_cursor(at: datetime, row_id: str) -> str:
    raw = json.dumps([at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        return datetime.fromisoformat(at), str(row_id)
    except (ValueError, TypeError) as exc:
        raise BadInput("cursor is not one this API returned: start again without it") from exc
