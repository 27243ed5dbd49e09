"""Mango payloads. Mango's own examples send numbers as strings, other clients as
integers: every numeric field accepts both."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _int_like(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _str_like(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IntLike = Annotated[int, BeforeValidator(_int_like)]
StrLike = Annotated[str, BeforeValidator(_str_like)]


class Party(BaseModel):
    model_config = ConfigDict(extra="allow")
    extension: StrLike | None = None
    number: StrLike | None = None
    line_number: StrLike | None = None


class Dct(BaseModel):
    model_config = ConfigDict(extra="allow")
    number: StrLike | None = None
    type: IntLike | None = None


class CallStateEvent(BaseModel):
    """`/events/call`: one state change of one leg."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    call_id: StrLike = Field(min_length=1)
    timestamp: IntLike
    seq: IntLike
    call_state: str
    location: str | None = None
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    dct: Dct | None = None
    disconnect_reason: IntLike | None = None


class SummaryEvent(BaseModel):
    """`/events/summary`: the last event of a call."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    call_direction: IntLike
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    line_number: StrLike | None = None
    create_time: IntLike
    forward_time: IntLike = 0
    talk_time: IntLike = 0
    end_time: IntLike
    entry_result: IntLike
    disconnect_reason: IntLike | None = None


class RecordingEvent(BaseModel):
    """`/events/recording`: a recording started, continued or completed."""

    model_config = ConfigDict(extra="allow")
    recording_id: StrLike = Field(min_length=1)
    recording_state: str
    seq: IntLike = 0
    entry_id: StrLike = Field(min_length=1)
    call_id: StrLike = ""
    extension: StrLike | None = None
    timestamp: IntLike
    completion_code: IntLike | None = None


class RecordAddedEvent(BaseModel):
    """`/events/record/added`: the recording file is ready to download."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    recording_id: StrLike = Field(min_length=1)
    timestamp: IntLike
    product_id: StrLike | None = None
    user_id: StrLike | None = None


class RouteResult(BaseModel):
    """`/result/route`: how a `commands/route` we sent ended."""

    model_config = ConfigDict(extra="allow")
    command_id: StrLike = Field(min_length=1)
    result: IntLike
