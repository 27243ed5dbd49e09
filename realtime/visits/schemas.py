from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class VisitIn(BaseModel):
    """A page view reported by the widget (or a site's backend)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "site_key": "demo-site",
                    "visitor_id": "v_3f2a9c",
                    "page_url": "https://shop.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=70112233",
                    "referrer": "https://yandex.ru/",
                }
            ]
        },
    )

    site_key: str = Field(min_length=1, max_length=64)
    visitor_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    session_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    page_url: HttpUrl
    referrer: str | None = Field(None, max_length=2048)


class PingIn(BaseModel):
    """A heartbeat from a page that is still open and visible."""

    model_config = ConfigDict(extra="forbid")
    site_key: str = Field(min_length=1, max_length=64)


class VisitOut(BaseModel):
    session_id: str
    visitor_id: str
    number: str | None = Field(description="E.164 tracking number, null if none can be shown")
    number_display: str | None
    lease_expires_at: datetime | None
