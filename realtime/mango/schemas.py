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


# Unix seconds between 1970 and 2242: a millisecond epoch or junk is refused with a 400
# before it is stored, rather than stored and failing every rebuild of the call.
Epoch = Annotated[int, BeforeValidator(_int_like), Field(ge=0, lt=2**33)]
# Sequence numbers and codes fit SQLite's and MongoDB's 64-bit integers.
SmallInt = Annotated[int, BeforeValidator(_int_like), Field(ge=-(2**31), lt=2**31)]
StrLike = Annotated[str, BeforeValidator(_str_like)]


class Party(BaseModel):
    model_config = ConfigDict(extra="allow")
    extension: StrLike | None = None
    number: StrLike | None = None
    line_number: StrLike | None = None


class Dct(BaseModel):
    model_config = ConfigDict(extra="allow")
    number: StrLike | None = None
    type: SmallInt | None = None


class CallStateEvent(BaseModel):
    """`/events/call`: one state change of one leg."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    call_id: StrLike = Field(min_length=1)
    timestamp: Epoch
    seq: SmallInt
    call_state: str
    location: str | None = None
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    dct: Dct | None = None
    disconnect_reason: SmallInt | None = None


class SummaryEvent(BaseModel):
    """`/events/summary`: the last event of a call."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    call_direction: SmallInt
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    line_number: StrLike | None = None
    create_time: Epoch
    forward_time: Epoch = 0
    talk_time: Epoch = 0
    end_time: Epoch
    entry_result: SmallInt
    disconnect_reason: SmallInt | None = None


class RecordingEvent(BaseModel):
    """`/events/recording`: a recording started, continued or completed."""

    model_config = ConfigDict(extra="allow")
    recording_id: StrLike = Field(min_length=1)
    recording_state: str
    seq: SmallInt = 0
    entry_id: StrLike = Field(min_length=1)
    call_id: StrLike = ""
    extension: StrLike | None = None
    timestamp: Epoch
    completion_code: SmallInt | None = None


class RecordAddedEvent(BaseModel):
    """`/events/record/added`: the recording file is ready to download."""

    model_config = ConfigDict(extra="allow")
    entry_id: StrLike = Field(min_length=1)
    recording_id: StrLike = Field(min_length=1)
    timestamp: Epoch
    product_id: StrLike | None = None
    user_id: StrLike | None = None


class RouteResult(BaseModel):
    """`/result/route`: how a `commands/route` we sent ended."""

    model_config = ConfigDict(extra="allow")
    command_id: StrLike = Field(min_length=1)
    result: SmallInt
