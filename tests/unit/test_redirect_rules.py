"""Smart redirect's pure rules: triggers, lines, working hours, configuration checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from realtime.domain import RedirectConfig
from realtime.mango.schemas import CallStateEvent
from realtime.redirect.schemas import RedirectConfigIn
from realtime.redirect.service import is_trigger, line_enabled, within_working_hours


def _event(**fields) -> CallStateEvent:
    base = {
        "entry_id": "E1",
        "call_id": "C1",
        "timestamp": 1_700_000_000,
        "seq": 1,
        "call_state": "Appeared",
        "location": "ivr",
        "from": {"number": "79161110001"},
        "to": {"line_number": "74951234567"},
    }
    return CallStateEvent.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),
        ({"location": "queue"}, True),
        ({"location": "abonent"}, False),  # already ringing an employee
        ({"call_state": "Connected"}, False),
        ({"call_state": "Disconnected"}, False),
        ({"from": {"extension": "101"}}, False),  # an employee dialling out
    ],
)
def test_only_an_outside_call_appearing_in_ivr_or_queue_triggers(fields, expected):
    assert is_trigger(_event(**fields)) is expected


def test_lines_are_explicit_and_all_lines_must_be_chosen():
    listed = RedirectConfig(company_id="a", enabled=True, lines=["+74951234567"])
    assert line_enabled(listed, "+74951234567")
    assert not line_enabled(listed, "+74950000000")
    assert not line_enabled(listed, None)
    assert not line_enabled(RedirectConfig(company_id="a", enabled=True), "+74951234567")
    everything = RedirectConfig(company_id="a", enabled=True, all_lines=True)
    assert line_enabled(everything, "+74950000000")
    assert not line_enabled(everything.model_copy(update={"enabled": False}), "+74950000000")


def _hours(*periods) -> RedirectConfig:
    return RedirectConfig(company_id="a", working_hours=list(periods))


WEEKDAYS = {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}


@pytest.mark.parametrize(
    ("utc", "zone", "open_"),
    [
        # Monday 2026-11-16. Vladivostok is UTC+10, Los Angeles UTC-8 in November.
        (datetime(2026, 11, 15, 23, 0, tzinfo=UTC), "Asia/Vladivostok", True),  # Mon 09:00
        (datetime(2026, 11, 15, 22, 59, tzinfo=UTC), "Asia/Vladivostok", False),  # 08:59
        (datetime(2026, 11, 16, 8, 0, tzinfo=UTC), "Asia/Vladivostok", False),  # 18:00 (end)
        (datetime(2026, 11, 16, 7, 59, tzinfo=UTC), "Asia/Vladivostok", True),
        (datetime(2026, 11, 17, 1, 30, tzinfo=UTC), "America/Los_Angeles", True),  # Mon 17:30
        (datetime(2026, 11, 21, 1, 30, tzinfo=UTC), "America/Los_Angeles", True),  # Fri 17:30
        (datetime(2026, 11, 22, 1, 30, tzinfo=UTC), "America/Los_Angeles", False),  # Sat
        (datetime(2026, 11, 16, 12, 0, tzinfo=UTC), "Europe/Moscow", True),
    ],
)
def test_working_hours_are_local_to_the_company(utc, zone, open_):
    assert within_working_hours(_hours(WEEKDAYS), zone, utc) is open_


def test_no_working_hours_means_always_open_and_periods_add_up():
    sunday_noon = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
    assert within_working_hours(_hours(), "Europe/Moscow", sunday_noon)
    assert not within_working_hours(_hours(WEEKDAYS), "Europe/Moscow", sunday_noon)
    weekend = {"days": [6, 7], "start": "10:00", "end": "14:00"}
    assert within_working_hours(_hours(WEEKDAYS, weekend), "Europe/Moscow", sunday_noon)


@pytest.mark.parametrize(
    "body",
    [
        {"lines": ["12"]},
        {"working_hours": [{"days": [0], "start": "09:00", "end": "18:00"}]},
        {"working_hours": [{"days": [1], "start": "09:00", "end": "09:00"}]},
        {"auto_callback": True},
        {"last_employee_hours": 0},
        {"crm_users": [{"crm": "sugar", "user_id": "1", "extension": "1"}]},
    ],
)
def test_bad_configurations_are_refused(body):
    with pytest.raises(ValidationError):
        RedirectConfigIn(**body)


def test_lines_are_normalised_and_deduplicated():
    config = RedirectConfigIn(lines=["8 (495) 123-45-67", "+7 495 123 45 67", "74951234567"])
    assert config.lines == ["+74951234567"]
