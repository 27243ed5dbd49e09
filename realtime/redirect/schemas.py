"""Smart redirect API bodies: a company's configuration, as the client sends it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from realtime.domain import CrmUserExtension, RedirectConfig, WorkingPeriod
from realtime.phones import to_e164


class RedirectConfigIn(BaseModel):
    """The whole configuration (PUT replaces it). Omitted fields take their defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "lines": ["+74951234567"],
                    "last_employee": True,
                    "crm_users": [{"crm": "amocrm", "user_id": "501", "extension": "101"}],
                    "working_hours": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}],
                    "route_outside_hours": False,
                }
            ]
        },
    )
    enabled: bool = False
    lines: list[str] = Field(
        default_factory=list, max_length=500, description="Lines (phone numbers) to redirect on."
    )
    all_lines: bool = Field(False, description="Redirect on every line; never implied.")
    last_employee: bool = Field(False, description="Prefer whoever last spoke with the caller.")
    last_employee_hours: float = Field(24.0, gt=0, le=24 * 30)
    crm_manager: bool = Field(True, description="Route to the CRM contact's responsible user.")
    crm_users: list[CrmUserExtension] = Field(default_factory=list, max_length=5000)
    working_hours: list[WorkingPeriod] = Field(
        default_factory=list, max_length=50, description="Local times; empty = always."
    )
    route_outside_hours: bool = False
    auto_callback: bool = Field(False, description="Missed call: Mango callback after a delay.")
    auto_callback_delay_seconds: int = Field(60, ge=0, le=86400)
    auto_callback_from_extension: str | None = Field(None, min_length=1, max_length=32)
    auto_callback_line_number: str | None = Field(None, max_length=32)

    @field_validator("lines")
    @classmethod
    def _lines_are_phones(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            number = to_e164(value)
            if number is None:
                raise ValueError(f"line {value!r} is not a phone number")
            out.append(number)
        return list(dict.fromkeys(out))

    @field_validator("working_hours")
    @classmethod
    def _periods_make_sense(cls, periods: list[WorkingPeriod]) -> list[WorkingPeriod]:
        for period in periods:
            if any(day < 1 or day > 7 for day in period.days):
                raise ValueError("working_hours days are ISO weekdays, 1 (Monday) to 7")
            if period.start >= period.end:
                raise ValueError("working_hours: start must be before end")
        return periods

    @field_validator("crm_users")
    @classmethod
    def _one_extension_per_user(cls, users: list[CrmUserExtension]) -> list[CrmUserExtension]:
        seen = set()
        for user in users:
            if (user.crm, user.user_id) in seen:
                raise ValueError(f"crm user {user.crm}:{user.user_id} is mapped twice")
            seen.add((user.crm, user.user_id))
        return users

    @model_validator(mode="after")
    def _callback_needs_caller(self) -> RedirectConfigIn:
        if self.auto_callback and not self.auto_callback_from_extension:
            raise ValueError("auto_callback needs auto_callback_from_extension")
        return self

    def for_company(self, company_id: str) -> RedirectConfig:
        return RedirectConfig(company_id=company_id, **self.model_dump())
