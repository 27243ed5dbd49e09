from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from realtime.domain import Lead

ID = r"^[A-Za-z0-9_\-]+$"


class LeadIn(BaseModel):
    """A web form or a callback request, from the widget or the site's backend."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "callback",
                    "site_key": "demo-site",
                    "visitor_id": "v_3f2a9c",
                    "phone": "8 (916) 123-45-67",
                    "name": "Anna",
                    "page": "https://shop.example/",
                }
            ]
        },
    )

    type: Literal["form", "callback"]
    site_key: str = Field(min_length=1, max_length=64)
    session_id: str | None = Field(None, max_length=64, pattern=ID)
    visitor_id: str | None = Field(None, max_length=64, pattern=ID)
    phone: str | None = Field(None, max_length=40)
    email: EmailStr | None = None
    name: str | None = Field(None, max_length=200)
    message: str | None = Field(None, max_length=4000)
    page: str | None = Field(None, max_length=2048)
    idempotency_key: str | None = Field(
        None,
        max_length=64,
        pattern=ID,
        description="Send the same key when retrying: the request is then stored once",
    )

    @model_validator(mode="after")
    def _contact(self) -> LeadIn:
        if not self.phone and not self.email:
            raise ValueError("a lead needs a phone or an email")
        if self.type == "callback" and not self.phone:
            raise ValueError("a callback request needs a phone")
        return self


class LeadAccepted(BaseModel):
    lead_id: str
    created: bool = Field(description="True when this request started a new lead")
    callback_task_id: str | None = None


class LeadPage(BaseModel):
    items: list[Lead]
    next_cursor: str | None
