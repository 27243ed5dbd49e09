"""Tenant isolation, driven by the OpenAPI document so that it grows with the API.

Two companies hold data: sessions from `POST /v1/visits`, calls from signed Mango
events, and one of everything the document lets a company create (every JSON `POST`
without path parameters: webhook subscriptions, leads, callbacks, PBX calls, ...).
What globex owns (ids by name, phone numbers, keys, secrets) is read generically from
every table of both stores that has a `company_id`.

- Every operation that takes a path parameter or requires auth is called with acme's
  key naming globex's ids (chosen by parameter name; an unknown name gets every globex
  id in turn and a globex-looking value). Never a 5xx; a 401/403/404, or a body with no
  globex identifier, phone number or secret; and globex's stored rows unchanged.
- List endpoints (GET without path parameters, also with each enum query value such as
  `format=csv`) show acme's key nothing of globex's.
- Missing, unknown, revoked or malformed keys get 401 wherever the document declares auth.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from realtime.app import create_app
from realtime.auth.service import create_key, revoke_key
from realtime.clock import ManualClock
from realtime.phones import display
from realtime.pool.sqlite import SQLitePoolStore
from realtime.settings import Settings
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import T0, mango_form, seed_tenants

COMPANIES = ("acme", "globex")
SITE_KEYS = {"acme": "acme-site", "globex": "globex-site"}
MANGO = {"acme": ("acme-key", "acme-salt"), "globex": ("globex-key", "globex-salt")}
CALLERS = {"acme": "79161110001", "globex": "79262220002"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
DENIED = {401, 403, 404}


# --- a world with two tenants holding data ---------------------------------------------


@dataclass
class World:
    app: FastAPI
    client: TestClient
    store: SQLiteEventStore
    pool: SQLitePoolStore
    clock: ManualClock
    databases: tuple[Path, ...]
    keys: dict[str, str] = field(default_factory=dict)  # company -> plaintext API key
    sessions: dict[str, list[dict]] = field(default_factory=dict)  # company -> VisitOut bodies
    entries: dict[str, list[str]] = field(default_factory=dict)  # company -> Mango entry ids

    def auth(self, company: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[company]}"}


def mango_events(company: str, entry: str, line: str) -> list[tuple[str, dict]]:
    """A short answered inbound call: three leg states and the summary."""
    ts = int(T0.timestamp()) + 60
    caller = CALLERS[company]

    def state(seq: int, name: str, offset: int) -> dict:
        return {
            "entry_id": entry,
            "call_id": f"{entry}-leg1",
            "timestamp": str(ts + offset),
            "seq": str(seq),
            "call_state": name,
            "location": "abonent",
            "from": {"number": caller},
            "to": {"line_number": line, "extension": "101"},
            "dct": {"number": line, "type": "1"},
        }

    summary = {
        "entry_id": entry,
        "call_direction": "1",
        "from": {"number": caller},
        "to": {"extension": "101"},
        "line_number": line,
        "create_time": str(ts),
        "forward_time": str(ts + 3),
        "talk_time": str(ts + 5),
        "end_time": str(ts + 65),
        "entry_result": "1",
        "disconnect_reason": "1110",
    }
    return [
        ("call", state(1, "Appeared", 0)),
        ("call", state(2, "Connected", 5)),
        ("call", state(3, "Disconnected", 65)),
        ("summary", summary),
    ]


def company_values(world: World, company: str) -> dict[str, Any]:
    """Field values that belong to one company, by field name, for request bodies."""
    values: dict[str, Any] = {
        "site_key": SITE_KEYS[company],
        "site_id": f"site_{company}",
        "phone": "+" + CALLERS[company],
        "caller": "+" + CALLERS[company],
        "caller_number": "+" + CALLERS[company],
        "email": f"lead@{company}.example",
        "name": f"{company.title()} Person",
        "url": f"https://{company}.example/hooks/callpath",
        "call_id": f"{company}-pbx-1",
        "idempotency_key": f"{company}-idem-1",
        "secret": f"{company}-webhook-secret-0123456789",
        "page": f"https://{company}.example/contacts",
        "page_url": f"https://{company}.example/",
    }
    if world.sessions.get(company):
        mine = world.sessions[company][0]
        values |= {
            "session_id": mine["session_id"],
            "visitor_id": mine["visitor_id"],
            "tracking_number": mine["number"],
        }
    if world.entries.get(company):
        values["entry_id"] = world.entries[company][0]
    return values


def seed_creations(world: World, company: str) -> None:
    """Create one of everything the document lets a company create (POST without path
    parameters and with a JSON body: webhook subscriptions, leads, PBX events, ...), one
    request per value of each top-level enum field, so ids exist for every resource."""
    values = company_values(world, company)
    for op in CREATORS:
        headers = world.auth(company) if op.requires_auth else {}
        for body in body_variants(op, values):
            r = world.client.request(op.method.upper(), op.path, json=body, headers=headers)
            assert r.status_code < 500, f"seeding {op} {body} -> {r.status_code}: {r.text}"


def build_world(tmp: Path) -> Iterator[World]:
    """Seeded tenants with an API key, two sessions, one of every creatable resource and
    one attributed Mango call each."""
    settings = Settings(
        _env_file=None,
        var_dir=tmp,
        event_store_url=f"sqlite:///{tmp / 'events.sqlite3'}",
        pool_store_url=f"sqlite:///{tmp / 'pool.sqlite3'}",
        warehouse_path=tmp / "warehouse.duckdb",
        webhooks_worker_enabled=False,  # no deliveries to the outside world from tests
    )
    store = SQLiteEventStore(settings.sqlite_path())
    pool = SQLitePoolStore(tmp / "pool.sqlite3")
    clock = ManualClock(T0)
    seed_tenants(store, pool)
    app = create_app(settings, store=store, clock=clock, pool=pool)
    databases = (settings.sqlite_path(), tmp / "pool.sqlite3")
    with TestClient(app) as client:
        world = World(app, client, store, pool, clock, databases)
        for company in COMPANIES:
            world.keys[company] = create_key(store, company, label="tests")[1]
            world.sessions[company] = []
            for n in range(2):
                r = client.post(
                    "/v1/visits",
                    json={
                        "site_key": SITE_KEYS[company],
                        "visitor_id": f"v_{company}_{n}",
                        "page_url": f"https://{company}.example/?utm_source={company}src",
                    },
                )
                assert r.status_code == 200, r.text
                world.sessions[company].append(r.json())
            seed_creations(world, company)
            entry = f"E-{company}-1"
            line = world.sessions[company][0]["number"].lstrip("+")
            key, salt = MANGO[company]
            for event_type, payload in mango_events(company, entry, line):
                form = mango_form(payload, key=key, salt=salt)
                r = client.post(f"/mango/events/{event_type}", data=form)
                assert r.status_code == 200, r.text
            world.entries[company] = [entry]
            call = store.get_call(company, entry)
            assert call is not None
            assert call.session_id == world.sessions[company][0]["session_id"]
        clock.advance(timedelta(minutes=1))
        yield world
    store.close()
    pool.close()


# --- what globex owns, read generically from the databases ------------------------------

PHONE = re.compile(r"^\+?\d{10,15}$")
SECRET_KEYS = {
    "site_key",
    "domain",
    "mango_api_key",
    "mango_api_salt",
    "secret_sha256",
    "secret",
    "email",
}
# How the API names the ids of a table's rows, where that is not `<table minus s>_id`.
# A parameter no table matches is probed with every id the company has.
TABLE_ID = {
    "companies": "company_id",
    "api_keys": "key_id",
    "outbox": "delivery_id",
    "callbacks": "task_id",
    "webhook_subscriptions": "subscription_id",
}


def _id_name(table: str) -> str:
    return TABLE_ID.get(table, (table[:-1] if table.endswith("s") else table) + "_id")


def _tables(db: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    names = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
    return [(t, [c[1] for c in db.execute(f'pragma table_info("{t}")')]) for t in names]


def _rows_of(path: Path, company: str) -> Iterator[tuple[str, dict]]:
    """Every row the company owns in one database, as a dict (a `doc` column is unpacked)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for table, columns in _tables(db):
            owner = "id" if table == "companies" else "company_id"
            if owner not in columns:
                continue
            for row in db.execute(f'select * from "{table}" where "{owner}" = ?', (company,)):
                record = dict(zip(columns, row, strict=True))
                doc = record.pop("doc", None)
                if isinstance(doc, str):
                    with contextlib.suppress(ValueError):
                        record.update(json.loads(doc))
                yield table, record
    finally:
        db.close()


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def phone_forms(number: str) -> set[str]:
    digits = number.lstrip("+")
    forms = {digits, "+" + digits}
    if len(digits) == 11 and digits.startswith("7"):
        forms.add(display("+" + digits))
    return forms


@dataclass
class Footprint:
    """A company's identifiers by parameter name, and every string that betrays it."""

    ids: dict[str, set[str]]
    markers: set[str]


def footprint(world: World, company: str) -> Footprint:
    ids: dict[str, set[str]] = {}
    markers: set[str] = {company}
    for path in world.databases:
        for table, record in _rows_of(path, company):
            for key, value in _walk(record):
                if not isinstance(value, str | int) or isinstance(value, bool):
                    continue
                text = str(value)
                if key.endswith("_id") or key in ("id", "entry_id", "call_id", "visitor_id"):
                    if isinstance(value, str):
                        ids.setdefault(key if key != "id" else _id_name(table), set()).add(text)
                        markers.add(text)
                elif key in SECRET_KEYS:
                    markers.add(text)
                    ids.setdefault(key, set()).add(text)
                elif (
                    PHONE.match(text)
                    and key not in ("seq", "timestamp")
                    and not key.endswith(("_time", "_at"))
                ):
                    markers |= phone_forms(text)
                    ids.setdefault("number", set()).add(
                        text if text.startswith("+") else "+" + text
                    )
    ids = {k: {v for v in vs if len(v) >= 4} for k, vs in ids.items()}
    return Footprint({k: vs for k, vs in ids.items() if vs}, {m for m in markers if len(m) >= 4})


def globex_footprint(world: World) -> Footprint:
    """Globex's footprint minus anything acme shares (the inventory, an empty string)."""
    mine, theirs = footprint(world, "acme"), footprint(world, "globex")
    markers = theirs.markers - mine.markers
    ids = {k: v - mine.markers for k, v in theirs.ids.items()}
    return Footprint({k: v for k, v in ids.items() if v}, markers)


def globex_snapshot(world: World) -> str:
    """A digest of every row globex owns: acme's requests must never change it."""
    rows = sorted(
        json.dumps([str(p.name), t, r], sort_keys=True, default=str)
        for p in world.databases
        for t, r in _rows_of(p, "globex")
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def leaked(text: str, markers: set[str], sent: set[str] = frozenset()) -> set[str]:
    """Globex markers in a response body, ignoring values the request itself sent."""
    haystack = text.lower()
    for value in sorted(sent, key=len, reverse=True):
        if value:
            haystack = haystack.replace(value.lower(), "\x00")
    return {m for m in markers if m.lower() in haystack}


# --- the operations, from the document ----------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict = field(compare=False, hash=False)
    document: dict = field(compare=False, hash=False)

    @property
    def parameters(self) -> list[dict]:
        return [resolve(p, self.document) for p in self.spec.get("parameters", [])]

    def params_in(self, where: str) -> list[dict]:
        return [p for p in self.parameters if p.get("in") == where]

    @property
    def media_type(self) -> str | None:
        content = (resolve(self.spec.get("requestBody"), self.document) or {}).get("content", {})
        return next(iter(content), None)

    @property
    def body_schema(self) -> dict:
        content = resolve(self.spec["requestBody"], self.document)["content"]
        return content[self.media_type].get("schema", {})

    @property
    def requires_auth(self) -> bool:
        return bool(self.spec.get("security"))

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def resolve(node: Any, document: dict) -> Any:
    """Follow local `$ref`s (`#/components/...`) to the node they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _spec_document() -> dict:
    """The app's OpenAPI document, built once at collection with throwaway stores."""
    store, pool = SQLiteEventStore(":memory:"), SQLitePoolStore(":memory:")
    try:
        settings = Settings(_env_file=None, geoip_path=None, webhooks_worker_enabled=False)
        return create_app(settings, store=store, pool=pool).openapi()
    finally:
        store.close()
        pool.close()


def operations(document: dict) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            spec = dict(item[method])
            spec["parameters"] = shared + spec.get("parameters", [])
            if "security" not in spec and document.get("security"):
                spec["security"] = document["security"]
            found.append(Operation(method, path, spec, document))
    return found


DOCUMENT = _spec_document()
OPERATIONS = operations(DOCUMENT)
TARGETED = [o for o in OPERATIONS if o.params_in("path") or o.requires_auth]
LISTS = [o for o in OPERATIONS if o.method == "get" and not o.params_in("path")]
AUTHED = [o for o in OPERATIONS if o.requires_auth]
# Visits are seeded explicitly (their sessions are what the rest attributes to).
CREATORS = [
    o
    for o in OPERATIONS
    if o.method == "post"
    and not o.params_in("path")
    and o.media_type == "application/json"
    and o.path != "/v1/visits"
]


def ids(ops: list[Operation]) -> list[str]:
    return [str(o) for o in ops]


# --- building requests --------------------------------------------------------------------


def minimal(schema: Any, document: dict, name: str, values: dict[str, Any]) -> Any:
    """A small valid instance of a JSON schema: a field named like a known value gets it,
    the rest comes from the schema's examples, defaults, enums, or its smallest shape."""
    schema = resolve(schema, document) or {}
    if name in values:
        return values[name]
    example = (schema.get("examples") or [None])[0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [resolve(s, document) for s in schema[combinator]]
            options = [s for s in options if s.get("type") != "null"] or options
            return minimal(options[0], document, name, values)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged.update(resolve(part, document))
        return minimal(merged, document, name, values)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties", {})
        out = dict(example) if isinstance(example, dict) else {}
        for key, sub in properties.items():
            if key in values or (key in schema.get("required", []) and key not in out):
                out[key] = minimal(sub, document, key, values)
        return out
    if example is not None:
        return example
    if kind == "array":
        item = minimal(schema.get("items", {}), document, name, values)
        return [item] * max(1, schema.get("minItems", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + (kind == "integer"))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt in ("uri", "url"):
        return "https://acme.example/landing"
    if fmt == "email":
        return "someone@acme.example"
    if fmt == "date-time":
        return T0.isoformat()
    if fmt == "date":
        return T0.date().isoformat()
    return "x" * max(1, schema.get("minLength", 1))


def body_for(op: Operation, values: dict[str, Any]) -> Any:
    if op.media_type is None:
        return None
    return minimal(op.body_schema, op.document, "", values)


def body_variants(op: Operation, values: dict[str, Any]) -> list[Any]:
    """The minimal body, then one more per other value of each top-level enum field."""
    base = body_for(op, values)
    variants = [base]
    schema = resolve(op.body_schema, op.document) or {}
    if isinstance(base, dict):
        for key, sub in schema.get("properties", {}).items():
            for value in resolve(sub, op.document).get("enum", []):
                if key not in values and value != base.get(key):
                    variants.append({**base, key: value})
    return variants


def send(
    client: TestClient,
    op: Operation,
    path_values: dict[str, str],
    query: dict[str, Any],
    headers: dict[str, str],
    body_values: dict[str, Any],
):
    url = op.path
    for name, value in path_values.items():
        url = url.replace("{" + name + "}", quote(str(value), safe=""))
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    if op.media_type == "application/json":
        kwargs["json"] = body_for(op, body_values)
    elif op.media_type is not None:
        kwargs["data"] = body_for(op, body_values)
    return client.request(op.method.upper(), url, **kwargs)


def nonexistent(value: str) -> str:
    """An id shaped like `value` that names nothing."""
    return value[:-4] + "0000" if len(value) > 6 else value + "0000"


def candidates(name: str, fp: Footprint, owner: str = "globex") -> list[str]:
    """The owner's values for a parameter: by its name, else every id and a look-alike."""
    if name in fp.ids:
        return sorted(fp.ids[name])
    stem = name.removesuffix("_id").removesuffix("s")
    for key, found in fp.ids.items():
        if key.endswith("_id") and key.removesuffix("_id").removesuffix("s").endswith(stem):
            return sorted(found)
    everything = {v for k, vs in fp.ids.items() if k not in SECRET_KEYS for v in vs}
    return [*sorted(everything), f"{owner}_{name}"]


def required_query(op: Operation, values: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: minimal(p.get("schema", {}), op.document, p["name"], values)
        for p in op.params_in("query")
        if p.get("required")
    }


def enum_queries(op: Operation) -> list[dict[str, Any]]:
    """One query per value of each enum query parameter (`format=csv`, `status=dead`)."""
    found = []
    for p in op.params_in("query"):
        schema = resolve(p.get("schema", {}), op.document)
        options = [schema, *[resolve(s, op.document) for s in schema.get("anyOf", [])]]
        for option in options:
            found += [{p["name"]: value} for value in option.get("enum", [])]
    return found


# --- the checks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("isolation"))


@pytest.fixture(scope="module")
def globex(world: World) -> Footprint:
    fp = globex_footprint(world)
    # The seeding must have produced what the checks look for, or they would prove nothing.
    assert fp.ids["site_id"] == {"site_globex"}
    assert {s["session_id"] for s in world.sessions["globex"]} <= fp.ids["session_id"]
    assert set(world.entries["globex"]) <= fp.ids["entry_id"]
    assert {CALLERS["globex"], "globex-salt", "globex-site"} <= fp.markers
    acme_data = json.dumps([world.sessions["acme"], world.entries["acme"]])
    assert not leaked(acme_data, fp.markers)
    return fp


def test_the_document_lists_operations_to_check():
    assert TARGETED, "no operation takes a path parameter or requires auth"
    assert LISTS and AUTHED


@pytest.mark.parametrize("op", TARGETED, ids=ids(TARGETED))
def test_acme_naming_globex_ids_sees_nothing_of_globex(op: Operation, world: World, globex):
    """Path parameters (and query parameters named like ids) name globex's objects, with
    acme's key. The body is acme's own (a body field may name a new object, and acme
    naming its own objects like globex's would only make acme's data look like a leak)."""
    mine = company_values(world, "acme")
    per_param = {p["name"]: candidates(p["name"], globex) for p in op.params_in("path")}
    id_query = {
        p["name"]: candidates(p["name"], globex)
        for p in op.params_in("query")
        if p["name"] in globex.ids or p["name"].endswith("_id")
    }
    rounds = max([len(v) for v in (per_param | id_query).values()] or [1])
    before = globex_snapshot(world)
    # What an id that exists nowhere gets: a foreign id must not be told apart from it
    # (a 409 "delivery is pending" where a missing one gets 404 confirms it exists).
    baseline = send(
        world.client,
        op,
        {k: nonexistent(v[0]) for k, v in per_param.items()},
        required_query(op, mine) | {k: nonexistent(v[0]) for k, v in id_query.items()},
        world.auth("acme"),
        mine,
    ).status_code
    problems = []
    for i in range(rounds):
        path_values = {k: v[i % len(v)] for k, v in per_param.items()}
        query = required_query(op, mine) | {k: v[i % len(v)] for k, v in id_query.items()}
        sent = {str(v) for v in (path_values | query).values()}
        r = send(world.client, op, path_values, query, world.auth("acme"), mine)
        where = f"{op} path={path_values} query={query} -> {r.status_code}"
        if r.status_code >= 500:
            problems.append(f"{where}: server error {r.text[:300]}")
        elif r.status_code not in DENIED and r.status_code != baseline:
            problems.append(f"{where}: an id that exists nowhere gets {baseline}")
        if r.status_code not in DENIED:
            # A 2xx naming a foreign object is a leak even when it only echoes the id back;
            # a 400/422 may quote what it was sent.
            found = leaked(r.text, globex.markers, set() if r.status_code < 300 else sent)
            if found:
                problems.append(f"{where}: globex data {sorted(found)} in {r.text[:300]}")
    assert not problems, "\n".join(problems)
    assert globex_snapshot(world) == before, f"{op} with acme's key changed globex's records"


@pytest.mark.parametrize("op", LISTS, ids=ids(LISTS))
def test_acme_lists_show_nothing_of_globex(op: Operation, world: World, globex):
    mine = company_values(world, "acme")
    before = globex_snapshot(world)
    problems = []
    for extra in [{}, *enum_queries(op)]:
        query = required_query(op, mine) | extra
        r = send(world.client, op, {}, query, world.auth("acme"), mine)
        if r.status_code >= 500:
            problems.append(f"{op} {query} -> {r.status_code}: {r.text[:300]}")
        sent = set() if r.status_code < 300 else {str(v) for v in query.values()}
        found = leaked(r.text, globex.markers, sent)
        if found:
            problems.append(f"{op} {query} shows acme globex's {sorted(found)}: {r.text[:300]}")
    assert not problems, "\n".join(problems)
    assert globex_snapshot(world) == before


def bad_credentials(world: World) -> dict[str, dict[str, str]]:
    record, revoked = create_key(world.store, "acme", label="revoked")
    revoke_key(world.store, "acme", record.id, world.clock.now())
    unknown = "cp_000000000000_" + "A" * 32
    return {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown bearer": {"Authorization": f"Bearer {unknown}"},
        "unknown x-api-key": {"X-Api-Key": unknown},
        "revoked bearer": {"Authorization": f"Bearer {revoked}"},
        "revoked x-api-key": {"X-Api-Key": revoked},
        "truncated key": {"Authorization": f"Bearer {world.keys['acme'][:-1]}"},
        "other scheme": {"Authorization": f"Basic {world.keys['acme']}"},
        "mango key": {"X-Api-Key": MANGO["acme"][0]},
    }


@pytest.mark.parametrize("op", AUTHED, ids=ids(AUTHED))
def test_unknown_or_revoked_keys_get_401(op: Operation, world: World):
    mine = company_values(world, "acme")
    acme = footprint(world, "acme")
    path_values = {p["name"]: candidates(p["name"], acme, "acme")[0] for p in op.params_in("path")}
    query = required_query(op, mine)
    failures = []
    for label, headers in bad_credentials(world).items():
        r = send(world.client, op, path_values, query, headers, mine)
        if r.status_code != 401:
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
    # The good key, for contrast: it gets past auth.
    r = send(world.client, op, path_values, query, world.auth("acme"), mine)
    assert r.status_code != 401, f"{op}: acme's valid key refused: {r.text[:200]}"
    assert not failures, f"{op}:\n" + "\n".join(failures)
