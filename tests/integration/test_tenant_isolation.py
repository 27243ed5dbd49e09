"""Tenant isolation, driven by the OpenAPI document so that it grows with the API.

Two companies hold data (sessions from `POST /v1/visits`, calls from signed Mango
events). For every operation that takes a path parameter or requires auth, acme's
key names globex's ids (chosen by parameter name, unknown names fall back to every
globex id and a globex-looking value), and we assert: never a 5xx; a 401/403/404, or
a body without any globex identifier, phone number or secret; and globex's stored
records unchanged. List endpoints (GET, no path parameters) must show acme's key
nothing of globex's. Unknown, revoked and missing keys get 401 wherever the document
declares auth.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    """A short answered inbound call: two leg states and the summary."""
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


def build_world(tmp: Path) -> Iterator[World]:
    """Seeded tenants, an API key each, two sessions and one attributed call each."""
    settings = Settings(
        _env_file=None,
        var_dir=tmp,
        event_store_url=f"sqlite:///{tmp / 'events.sqlite3'}",
        pool_store_url=f"sqlite:///{tmp / 'pool.sqlite3'}",
        warehouse_path=tmp / "warehouse.duckdb",
        fixtures_dir=tmp / "fixtures",
    )
    store = SQLiteEventStore(settings.sqlite_path())
    pool = SQLitePoolStore(tmp / "pool.sqlite3")
    clock = ManualClock(T0)
    seed_tenants(store, pool)
    app = create_app(settings, store=store, clock=clock, pool=pool)
    with TestClient(app) as client:
        world = World(app, client, store, pool, clock, (settings.sqlite_path(), tmp / "pool.sqlite3"))
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
            entry = f"E-{company}-1"
            line = world.sessions[company][0]["number"].lstrip("+")
            for event_type, payload in mango_events(company, entry, line):
                key, salt = MANGO[company]
                r = client.post(
                    f"/mango/events/{event_type}", data=mango_form(payload, key=key, salt=salt)
                )
                assert r.status_code == 200, r.text
            world.entries[company] = [entry]
            call = store.get_call(company, entry)
            assert call is not None and call.session_id == world.sessions[company][0]["session_id"]
        clock.advance(timedelta(minutes=1))
        yield world
    store.close()
    pool.close()


# --- what globex owns, read generically from the databases ------------------------------

PHONE = re.compile(r"^\+?\d{10,15}$")
SECRET_KEYS = {"site_key", "domain", "mango_api_key", "mango_api_salt", "secret_sha256"}
TABLE_ID = {"companies": "company_id", "sites": "site_id", "api_keys": "key_id"}


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
                    try:
                        record.update(json.loads(doc))
                    except ValueError:
                        pass
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
            for key, value in record.items():
                if key == "id" and isinstance(value, str):
                    ids.setdefault(_id_name(table), set()).add(value)
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
                elif PHONE.match(text) and key not in ("seq", "timestamp") and not key.endswith(
                    ("_time", "_at")
                ):
                    markers |= phone_forms(text)
                    ids.setdefault("number", set()).add(text if text.startswith("+") else "+" + text)
    return Footprint(ids, {m for m in markers if len(m) >= 4})


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
        return create_app(Settings(_env_file=None), store=store, pool=pool).openapi()
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


def ids(ops: list[Operation]) -> list[str]:
    return [str(o) for o in ops]


# --- building requests --------------------------------------------------------------------


def minimal(schema: dict, document: dict, name: str, values: dict[str, str]) -> Any:
    """A small valid instance of a JSON schema; fields named like a known value get it."""
    schema = resolve(schema, document)
    if name in values:
        return values[name]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
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
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            key: minimal(sub, document, key, values)
            for key, sub in properties.items()
            if key in schema.get("required", []) or key in values
        }
    if kind == "array":
        count = schema.get("minItems", 0)
        return [minimal(schema.get("items", {}), document, name, values)] * count
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
    if name in ("phone", "number", "caller_number") or name.endswith(("_phone", "_number")):
        return "+79161110001"
    return "x" * max(1, schema.get("minLength", 1))


def body_for(op: Operation, values: dict[str, str]) -> tuple[str | None, Any]:
    body = resolve(op.spec.get("requestBody"), op.document)
    if not body:
        return None, None
    content = body.get("content", {})
    for media in ("application/json", "application/x-www-form-urlencoded"):
        if media in content:
            schema = content[media].get("schema", {})
            return media, minimal(schema, op.document, "", values)
    return None, None


def send(
    client: TestClient,
    op: Operation,
    path_values: dict[str, str],
    query: dict[str, Any],
    headers: dict[str, str],
    body_values: dict[str, str],
):
    url = op.path
    for name, value in path_values.items():
        url = url.replace("{" + name + "}", _quote(value))
    media, body = body_for(op, body_values)
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    if media == "application/json":
        kwargs["json"] = body
    elif media is not None:
        kwargs["data"] = body
    return client.request(op.method.upper(), url, **kwargs)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def candidates(name: str, fp: Footprint) -> list[str]:
    """Globex values for a parameter: by its name, else every globex id and a look-alike."""
    if name in fp.ids:
        return sorted(fp.ids[name])
    stem = name.removesuffix("_id").removesuffix("s")
    for key, values in fp.ids.items():
        if key.removesuffix("_id").removesuffix("s") == stem:
            return sorted(values)
    everything = sorted({v for k, vs in fp.ids.items() if k not in SECRET_KEYS for v in vs})
    return [*everything, f"globex_{name}"]


def own_values(world: World) -> dict[str, str]:
    """Acme's own values, for fields that are not the object under test (body, required query)."""
    mine = world.sessions["acme"][0]
    return {
        "site_key": SITE_KEYS["acme"],
        "site_id": "site_acme",
        "session_id": mine["session_id"],
        "visitor_id": mine["visitor_id"],
        "entry_id": world.entries["acme"][0],
    }


def required_query(op: Operation, values: dict[str, str]) -> dict[str, Any]:
    return {
        p["name"]: minimal(p.get("schema", {}), op.document, p["name"], values)
        for p in op.params_in("query")
        if p.get("required")
    }


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
    assert CALLERS["globex"] in fp.markers and "globex-salt" in fp.markers
    assert not leaked(json.dumps([world.sessions["acme"], world.entries["acme"]]), fp.markers)
    return fp


def test_the_document_lists_operations_to_check():
    assert TARGETED, "no operation takes a path parameter or requires auth"
    assert LISTS and AUTHED


@pytest.mark.parametrize("op", TARGETED, ids=ids(TARGETED))
def test_acme_naming_globex_ids_sees_nothing_of_globex(op: Operation, world: World, globex):
    """Every path parameter (and query parameter named like an id) names globex's objects."""
    mine = own_values(world)
    per_param = {p["name"]: candidates(p["name"], globex) for p in op.params_in("path")}
    id_query = {
        p["name"]: candidates(p["name"], globex)
        for p in op.params_in("query")
        if p["name"] in globex.ids or p["name"].endswith("_id")
    }
    rounds = max([len(v) for v in (per_param | id_query).values()] or [1])
    before = globex_snapshot(world)
    problems = []
    for i in range(rounds):
        path_values = {k: v[i % len(v)] for k, v in per_param.items()}
        query = required_query(op, mine) | {k: v[i % len(v)] for k, v in id_query.items()}
        sent = {str(v) for v in (path_values | query).values()}
        # Body fields naming an object get globex's id too; the caller's own site key stays.
        body_values = mine | {k: sorted(globex.ids[k])[0] for k in globex.ids if k.endswith("_id")}
        body_values["site_key"] = SITE_KEYS["acme"]
        body_values.pop("company_id", None)
        r = send(world.client, op, path_values, query, world.auth("acme"), body_values)
        where = f"{op} path={path_values} query={query} -> {r.status_code}"
        if r.status_code >= 500:
            problems.append(f"{where}: server error {r.text[:300]}")
        elif r.status_code not in DENIED:
            # A 2xx naming a foreign object is a leak even when it only echoes the id back.
            allowed = set() if r.status_code < 300 else sent
            found = leaked(r.text, globex.markers, allowed)
            if found:
                problems.append(f"{where}: globex data {sorted(found)} in {r.text[:300]}")
    assert not problems, "\n".join(problems)
    assert globex_snapshot(world) == before, f"{op} with acme's key changed globex's records"


@pytest.mark.parametrize("op", LISTS, ids=ids(LISTS))
def test_acme_lists_show_nothing_of_globex(op: Operation, world: World, globex):
    before = globex_snapshot(world)
    query = required_query(op, own_values(world))
    r = send(world.client, op, {}, query, world.auth("acme"), own_values(world))
    assert r.status_code < 500, f"{op} -> {r.status_code}: {r.text[:300]}"
    found = leaked(r.text, globex.markers, set() if r.status_code < 300 else set(query.values()))
    assert not found, f"{op} shows acme globex data {sorted(found)}: {r.text[:300]}"
    assert globex_snapshot(world) == before


def _revoked_key(world: World) -> str:
    record, plaintext = create_key(world.store, "acme", label="revoked")
    revoke_key(world.store, "acme", record.id, world.clock.now())
    return plaintext


def bad_credentials(world: World) -> dict[str, dict[str, str]]:
    revoked = _revoked_key(world)
    unknown = "cp_000000000000_" + "A" * 32
    return {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown bearer": {"Authorization": f"Bearer {unknown}"},
        "unknown x-api-key": {"X-Api-Key": unknown},
        "revoked bearer": {"Authorization": f"Bearer {revoked}"},
        "revoked x-api-key": {"X-Api-Key": revoked},
        "mangled key": {"Authorization": f"Bearer {world.keys['acme']}x"},
        "other scheme": {"Authorization": f"Basic {world.keys['acme']}"},
    }


@pytest.mark.parametrize("op", AUTHED, ids=ids(AUTHED))
def test_unknown_or_revoked_keys_get_401(op: Operation, world: World):
    mine = own_values(world)
    path_values = {
        p["name"]: mine.get(p["name"], f"acme_{p['name']}") for p in op.params_in("path")
    }
    query = required_query(op, mine)
    failures = []
    for label, headers in bad_credentials(world).items():
        r = send(world.client, op, path_values, query, headers, mine)
        if r.status_code != 401:
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
    # The good key, for contrast: it must get past auth.
    r = send(world.client, op, path_values, query, world.auth("acme"), mine)
    assert r.status_code != 401, f"{op}: acme's valid key refused: {r.text[:200]}"
    assert not failures, f"{op}:\n" + "\n".join(failures)
