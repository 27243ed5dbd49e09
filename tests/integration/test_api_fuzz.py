"""Fuzzing the HTTP API from its own OpenAPI document, so new endpoints are covered
without edits.

1. schemathesis, in process (ASGI), every operation: positive and negative inputs, with
   acme's valid API key (so authenticated operations get past auth) and, half the time,
   acme's real ids in path parameters and known body fields (so requests reach real
   data). Checks: no 5xx, and a documented response conforms to its schema and content
   type. (`status_code_conformance` is left out: the document declares only 200/422,
   while the service answers 400/401/404/413 by design.)
2. Mango webhooks (every `/mango/...` operation), correctly SIGNED but arbitrary JSON:
   only 200 or 400 may come back, and a 400 stores nothing.

The schemathesis pytest plugin (`schemathesis.pytest.from_fixture`) does not run under
pytest 9 (it sets `node._nodeid`), so each operation is a plain parametrized test that
drives schemathesis' per-operation Hypothesis strategy with `@given`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from realtime.mango.signing import sign
from tests.conftest import T0
from tests.integration.test_tenant_isolation import (
    CALLERS,
    MANGO,
    OPERATIONS,
    World,
    build_world,
    candidates,
    company_values,
    footprint,
)

# Per operation and generation mode / per Mango endpoint. Raise them locally to dig
# deeper: CALLPATH_FUZZ_SCALE=20 (and CALLPATH_FUZZ_RANDOM=1 for a fresh seed each run).
SCALE = int(os.environ.get("CALLPATH_FUZZ_SCALE", "1"))
MAX_EXAMPLES = 30 * SCALE
MANGO_EXAMPLES = 120 * SCALE
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ_SETTINGS = settings(
    deadline=None,
    max_examples=MAX_EXAMPLES,
    database=None,
    derandomize=not os.environ.get("CALLPATH_FUZZ_RANDOM"),  # CI: the same cases every run
    suppress_health_check=list(HealthCheck),
)

LABELS = [str(op) for op in OPERATIONS]
MANGO_PATHS = [
    op.path for op in OPERATIONS if op.method == "post" and op.path.startswith("/mango/")
]
PATH_PARAM = re.compile(r"{([^}]+)}")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def api_schema(world: World):
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    # The key is always acme's valid one: negative cases must not drop it, or half of them
    # stop at 401 instead of reaching the handlers (test_tenant_isolation covers 401s).
    schema.config.generation.update(with_security_parameters=False)
    return schema


# --- 1. every operation, through schemathesis -----------------------------------------


def with_own_values(case, own: dict[str, Any]):
    """Put acme's real values in body fields named like them (site_key, session_id, ...)."""
    if isinstance(case.body, dict):
        for key in case.body.keys() & own.keys():
            case.body[key] = own[key]
    return case


def cases(operation, world: World) -> st.SearchStrategy:
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(mode) for mode in modes]
    names = PATH_PARAM.findall(operation.path)
    if names:
        # Real acme ids, so a request reaches stored data instead of a 404.
        acme = footprint(world, "acme")
        known = st.fixed_dictionaries(
            {name: st.sampled_from(candidates(name, acme, "acme")) for name in names}
        )
        strategies += [
            known.flatmap(
                lambda values, mode=mode: operation.as_strategy(mode, path_parameters=values)
            )
            for mode in modes
        ]
    own = company_values(world, "acme")
    return st.tuples(st.one_of(strategies), st.booleans()).map(
        lambda pair: with_own_values(pair[0], own) if pair[1] else pair[0]
    )


@pytest.mark.parametrize("label", LABELS)
def test_operation_never_fails_and_answers_as_documented(label: str, api_schema, world: World):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"
    headers = world.auth("acme")

    @settings(FUZZ_SETTINGS, max_examples=MAX_EXAMPLES * 2)  # both generation modes
    @given(case=cases(operation, world))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


# BUG-6/7: dates at the ends of datetime's range used to overflow into a 500.
API_REPRODUCERS = [
    ("BUG-6", "/v1/calls?date_from=0001-01-01T00:00:00"),
    ("BUG-6", "/v1/calls?date_to=9999-12-31T23:59:59-01:00"),
    ("BUG-6", "/v1/leads?date_from=0001-01-01T00:00:00"),
    ("BUG-7", "/v1/reports/live?date=0001-01-01"),
    ("BUG-7", "/v1/reports/live?date=9999-12-31"),
]


@pytest.mark.parametrize(
    ("bug", "url"),
    [pytest.param(*r, id=f"{r[0]}-{i}") for i, r in enumerate(API_REPRODUCERS)],
)
def test_dates_that_once_caused_500s_are_refused_with_400(bug: str, url: str, world: World):
    client = TestClient(world.app, raise_server_exceptions=False)
    r = client.get(url, headers=world.auth("acme"))
    assert r.status_code == 400, f"{bug}: GET {url} -> {r.status_code} {r.text}"


# --- 2. Mango webhooks: signed, arbitrary JSON -------------------------------------------


def documented_keys() -> tuple[set[str], dict[str, set[str]]]:
    """Top-level scalar keys and object keys (with their own keys) of every Mango event
    model, read from the models so new event types and fields are fuzzed too."""
    from pydantic import BaseModel

    from realtime.mango import service

    scalars: set[str] = set()
    objects: dict[str, set[str]] = {}
    for model in getattr(service, "EVENT_MODELS", {}).values():
        for name, info in model.model_fields.items():
            key = info.alias or name
            nested = [
                t
                for t in (info.annotation, *getattr(info.annotation, "__args__", ()))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ]
            if nested:
                objects.setdefault(key, set()).update(
                    f.alias or n for n, f in nested[0].model_fields.items()
                )
            else:
                scalars.add(key)
    # What this test was written against, in case the models move.
    scalars |= {"entry_id", "call_id", "timestamp", "seq", "call_state", "command_id"}
    objects.setdefault("from", {"number", "extension", "line_number"})
    return scalars, objects


SCALARS, OBJECTS = documented_keys()
TS = int(T0.timestamp())
EPOCH_FIELDS = {"timestamp", "create_time", "forward_time", "talk_time", "end_time"}
# datetime covers years 1..9999; a day's margin for time zones and arithmetic.
MIN_EPOCH, MAX_EPOCH = -62135596800 + 86400, 253402300799 - 86400

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
EDGE_INTS = [0, -1, 2**31, 2**32, 2**53 + 1, 10**12, 2**63 - 1, 2**63, 2**64, 10**20, 10**40]
EDGE_INTS += [MAX_EPOCH, MAX_EPOCH + 10**6, MIN_EPOCH, MIN_EPOCH - 10**6, -(2**63) - 1]
edge_ints = st.sampled_from(EDGE_INTS)
# Values a real event might carry: Mango sends numbers both as strings and as integers.
plausible = st.one_of(
    st.integers(TS - 10**6, TS + 10**6),
    st.integers(TS - 10**6, TS + 10**6).map(str),
    st.integers(0, 10).map(str),
    edge_ints,
    edge_ints.map(str),
    st.sampled_from(["Appeared", "Connected", "OnHold", "Disconnected", "Started", "Completed"]),
    st.sampled_from(["E-fuzz-1", "E-fuzz-2", "E-acme-1", "leg-1", "rec-1", "cmd-1", "101"]),
    st.sampled_from([" 12 ", "-0", "--5", "1e3", "١٢٣", "²", "0x10", "", " "]),
    st.from_regex(r"\A7\d{10}\Z"),
    st.from_regex(r"\A-?\d{1,30}\Z"),
    json_values,
)


def party(keys: set[str]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={k: plausible for k in sorted(keys)}) | json_values


def template(**changes: Any) -> dict[str, Any]:
    """One payload valid for every event model (they all allow extra keys)."""
    values = {k: str(TS + 60) for k in SCALARS}
    values |= {"entry_id": "E-fuzz-1", "call_id": "leg-1", "call_state": "Appeared", "seq": "1"}
    values |= {"recording_id": "rec-1", "command_id": "cmd-1", "recording_state": "Started"}
    values |= {k: {"number": CALLERS["acme"]} for k in OBJECTS}
    return values | changes


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@st.composite
def mango_json(draw) -> str:
    """The `json` field: mostly a near-valid event with keys dropped or replaced by junk;
    sometimes deeply nested, any JSON at all, or not JSON."""
    kind = draw(st.sampled_from(["event", "event", "event", "sparse", "deep", "any", "text"]))
    if kind == "text":
        return draw(st.text(max_size=40))
    if kind == "any":
        payload = draw(json_values)
    elif kind == "deep":
        depth = draw(st.integers(1, 300) | st.integers(300, 3000))
        deep = "[" * depth + "]" * depth  # written by hand: json.dumps would give up first
        if draw(st.booleans()):
            return deep
        return json.dumps(template(extra="<deep>")).replace('"<deep>"', deep)
    else:
        base = template() if kind == "event" else {}
        changes = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    **{k: plausible | st.just(None) for k in sorted(SCALARS)},
                    **{k: party(keys) for k, keys in sorted(OBJECTS.items())},
                },
            )
        )
        dropped = draw(st.sets(st.sampled_from(sorted(base) or ["-"]), max_size=3))
        junk = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
        payload = {k: v for k, v in (base | changes).items() if k not in dropped} | junk
    return json.dumps(payload, ensure_ascii=draw(st.booleans()), allow_nan=True)


def _int_like(value: Any) -> int | None:
    """What the Mango models would read as an integer (they take digit strings too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _fails(kind: type, value: Any) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return True
    return False


def known_bug(text: str, path: str = "") -> str | None:
    """Which fixed bug a reproducer payload exercises (checks the reproducers stay on target)."""
    try:
        payload = json.loads(text)
    except RecursionError:
        return "BUG-4"
    except ValueError:
        return None
    if _depth(payload) > 190:
        return "BUG-3" if _depth(payload) <= 256 else "BUG-4"
    if not isinstance(payload, dict):
        return None
    for key in EPOCH_FIELDS:
        epoch = _int_like(payload.get(key))
        if epoch is not None and not MIN_EPOCH <= epoch <= MAX_EPOCH:
            return "BUG-1"
    seq = _int_like(payload.get("seq"))
    if seq is not None and not -(2**63) <= seq < 2**63:
        return "BUG-2"
    if path.endswith("/summary") and (
        ("seq" in payload and _fails(int, payload["seq"]))
        or ("call_id" in payload and _fails(str, payload["call_id"]))
    ):
        return "BUG-5"
    return None


def database_digest(world: World) -> str:
    """Every row of every table of both stores: a 400 must leave it as it was."""
    digest = hashlib.sha256()
    for path in world.databases:
        db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
            for table in sorted(tables):
                rows = sorted(repr(r) for r in db.execute(f'select * from "{table}"'))
                digest.update(f"{table}:{len(rows)}:{rows}".encode())
        finally:
            db.close()
    return digest.hexdigest()


def signed(text: str, company: str = "acme") -> dict[str, str]:
    key, salt = MANGO[company]
    return {"vpbx_api_key": key, "sign": sign(key, text, salt), "json": text}


@pytest.mark.parametrize("path", MANGO_PATHS)
def test_signed_mango_events_get_200_or_400_and_a_400_stores_nothing(path: str, world: World):
    @settings(FUZZ_SETTINGS, max_examples=MANGO_EXAMPLES)
    @given(text=mango_json())
    def run(text: str) -> None:
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            # A lone surrogate cannot be sent as UTF-8 at all (json.dumps escapes them
            # when ensure_ascii is on, and those escapes are fuzzed).
            return
        before = database_digest(world)
        try:
            r = world.client.post(path, data=signed(text))
        except Exception as exc:  # the test client re-raises what the app raised
            raise AssertionError(f"{path} json={text!r} -> 500: {exc!r}") from exc
        assert r.status_code in (200, 400), f"{path} json={text!r} -> {r.status_code}: {r.text}"
        if r.status_code == 400:
            assert database_digest(world) == before, f"{path}: a 400 stored data: json={text!r}"

    run()


def test_mango_fuzzing_reaches_both_outcomes(world: World):
    """The generator is not all junk: a plain template is accepted on every endpoint."""
    for path in MANGO_PATHS:
        r = world.client.post(path, data=signed(json.dumps(template(entry_id="E-plain"))))
        assert r.status_code == 200, f"{path}: {r.text}"


# --- payloads that found bugs (all fixed): each must stay a clean 400 --------------------

# BUG-1 epoch out of range; BUG-2 seq beyond 64 bits; BUG-3/4 absurd nesting; BUG-5 a
# summary with junk `seq`/`call_id` extras. Each used to be stored or crash with a 500.
REPRODUCERS = [
    ("BUG-1", "/mango/events/call", template(entry_id="E-bug1", timestamp=10**12)),
    ("BUG-1", "/mango/events/summary", template(entry_id="E-bug1s", end_time=str(10**20))),
    ("BUG-2", "/mango/events/call", template(entry_id="E-bug2", seq=2**63)),
    ("BUG-3", "/mango/events/call", template(entry_id="E-bug3", extra=nested(200))),
    ("BUG-4", "/mango/events/call", template(entry_id="E-bug4", extra=nested(300))),
    ("BUG-4", "/mango/events/call", "[" * 1500 + "]" * 1500),
    ("BUG-5", "/mango/events/summary", template(entry_id="E-bug5", seq="Appeared")),
    ("BUG-5", "/mango/events/summary", template(entry_id="E-bug5b", seq="2", call_id=None)),
]


@pytest.mark.parametrize(
    ("bug", "path", "payload"),
    [pytest.param(*r, id=f"{r[0]}-{i}") for i, r in enumerate(REPRODUCERS)],
)
def test_mango_payloads_that_once_caused_500s_get_a_clean_answer(
    bug: str, path: str, payload: Any, world: World
):
    """Refused with a 400 (or, for a summary's stray extra keys, which a summary has no
    use for, accepted), and the entry stays usable."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    assert known_bug(text, path) == bug
    client = TestClient(world.app, raise_server_exceptions=False)
    r = client.post(path, data=signed(text))
    expected = 200 if bug == "BUG-5" else 400
    assert r.status_code == expected, f"{bug}: {r.status_code} {r.text}"
    if isinstance(payload, dict):
        follow_up = template(entry_id=payload["entry_id"], seq="7")
        r = client.post("/mango/events/call", data=signed(json.dumps(follow_up)))
        assert r.status_code == 200, f"{bug}: entry poisoned, a valid event gets {r.status_code}"
