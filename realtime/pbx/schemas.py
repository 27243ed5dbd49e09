from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


class PbxAccepted(BaseModel):
    result: Literal["ok"] = "ok"
    duplicate: bool
