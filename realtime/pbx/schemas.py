from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class PbxEvent(BaseModel):
    """callpath's own call event for PBXs other than Mango."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event": "started",
                    "call_id": "pbx-4711",
                    "at": "2026-11-18T09:00:00Z",
                    "caller": "+79161234567",
                    "tracking_number": "+74955550100",
                },
                {
                    "event": "ended",
                    "call_id": "pbx-4711",
                    "at": "2026-11-18T09:03:10Z",
                    "caller": "+79161234567",
                    "tracking_number": "+74955550100",
                    "answered": True,
                },
            ]
        },
    )

    event: Literal["started", "answered", "ended"]
    call_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    at: datetime = Field(description="When it happened; must carry a time zone")
    caller: str | None = Field(None, max_length=40)
    tracking_number: str | None = Field(None, max_length=40)
    direction: Literal["inbound", "outbound"] = "inbound"
    employee: str | None = Field(None, max_length=64, description="Extension that talked")
    answered: bool | None = Field(None, description="On `ended`: did anyone talk?")

    @field_validator("at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("`at` needs a time zone, e.g. 2026-11-18T09:00:00Z")
        if not EARLIEST <= value <= LATEST:
            raise ValueError("`at` must be between 2000 and 2200")
        return value


class PbxAccepted(BaseModel):
    result: Literal["ok"] = "ok"
    duplicate: bool
