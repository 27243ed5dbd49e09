from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from realtime.domain import Call

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class CallPage(BaseModel):
    items: list[Call]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end")


class TagsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tags": ["quality", "repeat-order"]}]}
    )
    tags: list[Tag] = Field(max_length=20)


CSV_COLUMNS = [
    "entry_id", "started_at", "direction", "caller_number", "tracking_number",
    "answered_at", "ended_at", "wait_seconds", "talk_seconds", "is_first_call", "is_target",
    "is_missed", "attribution_reason", "session_id", "utm_source", "utm_medium",
    "utm_campaign", "utm_content", "utm_term", "landing_url", "referrer",
    "employee_extension", "lead_id", "tags",
]  # fmt: skip
