"""A local Bitrix24 portal speaking the incoming-webhook REST protocol: tests and the
demo point the real connector at it.

    fake = FakeBitrix24(deals=[deal_row(1, modified=..., amount="19999.99")])
    with fake.start() as webhook_url:        # http://127.0.0.1:PORT/rest/1/<token>/
        fake.script(Fault.query_limit(), Fault.server_error())
        ...

What it checks, answering with the real error shapes (`{"error", "error_description"}`):
- the webhook's user id and token in the path (401 INVALID_CREDENTIALS);
- the method (404 ERROR_METHOD_NOT_FOUND); only `crm.deal.list` and `crm.contact.list`;
- a JSON body with `select`, `filter` (`>= > <= < = != @ !@ % !` prefixes on known
  fields, times in ISO 8601 with an offset), `order` (ASC/DESC) and `start`
  (-1 or an offset). A real portal quietly ignores much of what is wrong here; the
  fake answers 400 INVALID_ARG_VALUE instead, so a client mistake shows up in tests;
- the leaky bucket (default 50 burst, 2/s drain): 503 QUERY_LIMIT_EXCEEDED.

Pages are 50 rows. `start=-1` gives no `next`/`total`; an offset gives both (the classic
shape; `always_count=True` gives them even for -1, like a portal that counts anyway).
`select` works as on a portal: `*` leaves out PHONE and the UTM fields.

Faults are scripted per request and consumed in order (`script(...)`); a fault given a
`method` waits for a request to that method. `corrupt(...)` makes a row's values
malformed on the wire while filtering and ordering still use the stored values.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from connectors.base import ContactRecord, DealRecord
from connectors.fakes.serving import serve_in_thread

PAGE_SIZE = 50
MOSCOW = timezone(timedelta(hours=3))

DEAL_FIELDS = (
    "ID", "TITLE", "STAGE_ID", "STAGE_SEMANTIC_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID",
    "CLOSED", "CLOSEDATE", "DATE_CREATE", "DATE_MODIFY", "ASSIGNED_BY_ID", "CONTACT_ID",
    "SOURCE_ID", "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM",
)  # fmt: skip
CONTACT_FIELDS = (
    "ID", "NAME", "LAST_NAME", "PHONE", "EMAIL", "ASSIGNED_BY_ID", "DATE_CREATE", "DATE_MODIFY",
)  # fmt: skip
ENTITIES = {"crm.deal.list": DEAL_FIELDS, "crm.contact.list": CONTACT_FIELDS}
# Multi-fields and UTM fields come only when selected by name, as on a real portal.
_NOT_IN_STAR = {"PHONE", "EMAIL", "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT",
                "UTM_TERM"}  # fmt: skip
_NUMERIC = {"ID", "CATEGORY_ID", "ASSIGNED_BY_ID", "CONTACT_ID"}
_TIMES = {"DATE_CREATE", "DATE_MODIFY", "CLOSEDATE"}
_FILTER_KEY = re.compile(r"^(>=|<=|!@|!=|>|<|=|@|%|!)?([A-Z][A-Z_0-9]*)$")
_SEMANTIC_STAGE = {"P": "NEW", "S": "WON", "F": "LOSE"}


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@dataclass(frozen=True)
class Fault:
    """One scripted answer. `status=None` answers normally (after `delay`): a delay
    longer than the client's timeout is a timeout."""

    status: int | None = None
    body: Any = None  # a dict is sent as JSON, a str as text/html
    delay: float = 0.0
    method: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_response(self) -> Response:
        headers = dict(self.headers)
        if isinstance(self.body, str):
            return HTMLResponse(self.body, status_code=self.status or 200, headers=headers)
        return JSONResponse(self.body, status_code=self.status or 200, headers=headers)

    @classmethod
    def query_limit(cls, method: str | None = None, retry_after: float | None = None) -> Fault:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        return cls(503, body, method=method, headers=headers)

    @classmethod
    def server_error(cls, status: int = 500, method: str | None = None) -> Fault:
        body = {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
        return cls(status, body, method=method)

    @classmethod
    def gateway_error(cls, status: int = 502, method: str | None = None) -> Fault:
        """What the portal's front proxy sends: HTML, not JSON."""
        return cls(status, "<html><body><h1>502 Bad Gateway</h1></body></html>", method=method)

    @classmethod
    def ok(cls, method: str | None = None) -> Fault:
        """Answer normally: lets a later fault wait for the Nth request."""
        return cls(None, method=method)

    @classmethod
    def timeout(cls, seconds: float, method: str | None = None) -> Fault:
        return cls(None, delay=seconds, method=method)

    @classmethod
    def method_blocked(cls, method: str | None = None) -> Fault:
        body = {
            "error": "OPERATION_TIME_LIMIT",
            "error_description": "Method is blocked due to operation time limit.",
        }
        return cls(429, body, method=method)

    @classmethod
    def error(cls, status: int, error: str, description: str, method: str | None = None) -> Fault:
        return cls(status, {"error": error, "error_description": description}, method=method)


class LeakyBucket:
    """Bitrix24's request counter: +1 per request, drains `drain_per_second`, refuses
    a request that would take it over `capacity`."""

    def __init__(
        self, capacity: float, drain_per_second: float, clock: Callable[[], float]
    ) -> None:
        self.capacity, self.drain, self._clock = capacity, drain_per_second, clock
        self.level, self._last = 0.0, clock()

    def admit(self) -> bool:
        now = self._clock()
        self.level = max(0.0, self.level - (now - self._last) * self.drain)
        self._last = now
        if self.level + 1 > self.capacity + 1e-9:
            return False
        self.level += 1
        return True


class FakeBitrix24:
    """One portal with one incoming webhook (`user_id`, `token`)."""

    def __init__(
        self,
        *,
        user_id: str = "1",
        token: str = "fake-webhook-token",
        deals: Iterable[Mapping[str, Any]] = (),
        contacts: Iterable[Mapping[str, Any]] = (),
        burst: float = 50,
        drain_per_second: float = 2.0,
        always_count: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_id, self.token = user_id, token
        self.always_count = always_count
        self.bucket = LeakyBucket(burst, drain_per_second, clock)
        self.blocked_methods: set[str] = set()  # answered 429 until removed
        # Every request: {"method", "params" (when answered), "status"}.
        self.requests: list[dict[str, Any]] = []
        self._rows: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in ENTITIES}
        self._wire: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in ENTITIES}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        for row in deals:
            self.put_deal(row)
        for row in contacts:
            self.put_contact(row)
        self.app = Starlette(
            routes=[Route("/rest/{user_id}/{token}/{method}", self._handle, methods=["POST"])]
        )

    # -- seeding and scripting ---------------------------------------------------------

    def put_deal(self, row: Mapping[str, Any]) -> None:
        """Add or replace (by ID) a deal row of Bitrix24 strings (see `deal_row`)."""
        self._put("crm.deal.list", row)

    def put_contact(self, row: Mapping[str, Any]) -> None:
        self._put("crm.contact.list", row)

    def _put(self, method: str, row: Mapping[str, Any]) -> None:
        with self._lock:
            self._rows[method][int(row["ID"])] = dict(row)

    def corrupt(self, kind: str, record_id: int, **fields: Any) -> None:
        """Send these values for a deal/contact instead of the stored ones."""
        method = {"deal": "crm.deal.list", "contact": "crm.contact.list"}[kind]
        with self._lock:
            self._wire[method].setdefault(int(record_id), {}).update(fields)

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The params of answered (HTTP 200) requests to `method`, in order."""
        return [r["params"] for r in self.requests if r["method"] == method and r["status"] == 200]

    # -- serving -----------------------------------------------------------------------

    def webhook_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/rest/{self.user_id}/{self.token}/"

    @contextmanager
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on loopback until the block ends; yields the webhook URL."""
        with serve_in_thread(
            self.app, lifespan="off", name="fake Bitrix24", host=host, port=port
        ) as base_url:
            yield self.webhook_url(base_url)

    async def _handle(self, request: Request) -> Response:
        started = time.time()
        params = request.path_params
        method = params["method"].removesuffix(".json")
        record: dict[str, Any] = {"method": method, "params": None, "status": 401}
        with self._lock:
            self.requests.append(record)
        if (params["user_id"], params["token"]) != (self.user_id, self.token):
            return _error(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        response, delay = self._respond(method, content_type, body)
        if delay:
            await asyncio.sleep(delay)
        if response is None:  # a delayed normal answer
            response, _ = self._respond(method, content_type, body, faults=False)
        if isinstance(response, dict):
            record["params"] = response.pop("_params")
            response = JSONResponse({**response, "time": _timing(started)})
        record["status"] = response.status_code
        return response

    def _respond(
        self, method: str, content_type: str, body: bytes, faults: bool = True
    ) -> tuple[Response | dict[str, Any] | None, float]:
        """(answer, delay). The answer is a response, or a dict for a success (its
        `time` is added when sent), or None: answer normally after the delay."""
        if method not in ENTITIES:
            return _error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"), 0
        if method in self.blocked_methods:
            return Fault.method_blocked().as_response(), 0
        if faults:
            fault = self._next_fault(method)
            if fault is not None:
                if fault.status is None:
                    return None, fault.delay
                return fault.as_response(), fault.delay
        with self._lock:
            admitted = self.bucket.admit()
        if not admitted:
            return Fault.query_limit().as_response(), 0
        if "application/json" not in content_type:
            return _error(400, "INVALID_ARG_VALUE", "the fake accepts JSON bodies only"), 0
        try:
            query = json.loads(body or b"{}")
            return {**self._list(method, query), "_params": query}, 0
        except (ValueError, TypeError) as exc:
            return _error(400, "INVALID_ARG_VALUE", str(exc)), 0

    def _next_fault(self, method: str) -> Fault | None:
        with self._lock:
            if self._faults and self._faults[0].method in (None, method):
                return self._faults.popleft()
        return None

    # -- the list methods --------------------------------------------------------------

    def _list(self, method: str, query: Any) -> dict[str, Any]:
        fields = ENTITIES[method]
        if not isinstance(query, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(query) - {"select", "filter", "order", "start"}
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        select = _select(query.get("select") or ["*"], fields)
        conditions = _conditions(query.get("filter") or {}, fields)
        order = _order(query.get("order") or {"ID": "ASC"}, fields)
        start = query.get("start", 0)
        if not isinstance(start, int) or isinstance(start, bool) or start < -1:
            raise ValueError(f"start {start!r} must be -1 or an offset")
        with self._lock:
            stored = [dict(r) for r in self._rows[method].values()]
            wire = {i: dict(w) for i, w in self._wire[method].items()}
        rows = [r for r in stored if all(test(r) for test in conditions)]
        for name, descending in reversed(order):
            rows.sort(key=lambda r, n=name: _sort_key(n, r.get(n)), reverse=descending)
        offset = max(start, 0)
        page = rows[offset : offset + PAGE_SIZE]
        result = [
            {f: v for f, v in {**row, **wire.get(int(row["ID"]), {})}.items() if f in select}
            for row in page
        ]
        answer: dict[str, Any] = {"result": result}
        if start >= 0 or self.always_count:
            answer["total"] = len(rows)
            if offset + PAGE_SIZE < len(rows):
                answer["next"] = offset + PAGE_SIZE
        return answer


def _timing(started: float) -> dict[str, Any]:
    finished = time.time()
    return {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": finished - started,
        "date_start": datetime.fromtimestamp(started, MOSCOW).isoformat(timespec="seconds"),
        "date_finish": datetime.fromtimestamp(finished, MOSCOW).isoformat(timespec="seconds"),
        "operating_reset_at": int(finished) + 600,
        "operating": 0,
    }


def _select(select: Any, fields: tuple[str, ...]) -> set[str]:
    if not isinstance(select, list) or not all(isinstance(f, str) for f in select):
        raise ValueError("select must be a list of field names")
    chosen: set[str] = set()
    for name in select:
        if name == "*":
            chosen |= set(fields) - _NOT_IN_STAR
        elif name == "UF_*":
            continue  # the fake has no user fields
        elif name in fields:
            chosen.add(name)
        else:
            raise ValueError(f"select: unknown field {name!r}")
    return chosen


def _conditions(where: Any, fields: tuple[str, ...]) -> list[Callable[[dict[str, Any]], bool]]:
    if not isinstance(where, dict):
        raise ValueError("filter must be an object")
    tests = []
    for key, wanted in where.items():
        match = _FILTER_KEY.match(key)
        if match is None or match[2] not in fields:
            raise ValueError(f"filter: unknown field in {key!r}")
        op, name = match[1] or "=", match[2]
        if op in ("@", "!@"):
            if not isinstance(wanted, list):
                raise ValueError(f"filter {key!r} takes a list")
            values = {_value(name, w, strict=True) for w in wanted}
            tests.append(_membership(name, values, op == "@"))
        else:
            if isinstance(wanted, (list, dict)):
                raise ValueError(f"filter {key!r} takes one value")
            tests.append(_comparison(name, op, wanted))
    return tests


def _membership(name: str, values: set[Any], inside: bool) -> Callable[[dict[str, Any]], bool]:
    return lambda row: (_value(name, row.get(name)) in values) == inside


def _comparison(name: str, op: str, wanted: Any) -> Callable[[dict[str, Any]], bool]:
    if op == "%":
        return lambda row: str(wanted).lower() in str(row.get(name) or "").lower()
    target = _value(name, wanted, strict=True)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "!": lambda a, b: a != b,
    }

    def test(row: dict[str, Any]) -> bool:
        value = _value(name, row.get(name))
        if value is None or target is None:
            return op in ("!=", "!") and value != target
        return compare[op](value, target)

    return test


def _value(name: str, value: Any, strict: bool = False) -> Any:
    """A field's comparable value. `strict` (filter input) refuses what a portal would
    misread: times without an offset, non-numeric IDs."""
    if value is None or value == "":
        return None
    try:
        if name in _NUMERIC:
            return int(str(value))
        if name in _TIMES:
            parsed = datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError(f"{name} {value!r} has no UTC offset")
            return parsed
        if name == "OPPORTUNITY":
            return Decimal(str(value))
    except (ValueError, InvalidOperation):
        if strict:
            raise ValueError(f"filter: {name} {value!r} is not a valid value") from None
        return None
    return str(value)


def _order(order: Any, fields: tuple[str, ...]) -> list[tuple[str, bool]]:
    if not isinstance(order, dict):
        raise ValueError("order must be an object")
    keys = []
    for name, direction in order.items():
        if name not in fields or str(direction).upper() not in ("ASC", "DESC"):
            raise ValueError(f"order: {name!r}: {direction!r}")
        keys.append((name, str(direction).upper() == "DESC"))
    if not any(name == "ID" for name, _ in keys):
        keys.append(("ID", False))  # a stable tie-break, as the database gives
    return keys


def _sort_key(name: str, value: Any) -> tuple[int, Any]:
    parsed = _value(name, value)
    if isinstance(parsed, datetime):
        parsed = parsed.astimezone(UTC)
    return (0, parsed) if parsed is not None else (1, 0)


# -- rows from plain values: what the demo and tests seed ------------------------------------


def _time(value: datetime | str | None, tz: timezone = MOSCOW) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).isoformat(timespec="seconds")


def deal_row(
    deal_id: int,
    *,
    modified: datetime | str,
    created: datetime | str | None = None,
    amount: Decimal | str | int = "0.00",
    currency: str = "RUB",
    stage: str = "P",
    closed: datetime | str | None = None,
    contact_id: int | str | None = None,
    assigned_by_id: int | str | None = 1,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A deal as a portal sends it: every value a string (or null)."""
    return {
        "ID": str(deal_id),
        "TITLE": title or f"Deal #{deal_id}",
        "STAGE_ID": _SEMANTIC_STAGE[stage],
        "STAGE_SEMANTIC_ID": stage,
        "CATEGORY_ID": "0",
        "OPPORTUNITY": f"{Decimal(str(amount)):.2f}",
        "CURRENCY_ID": currency,
        "CLOSED": "N" if stage == "P" else "Y",
        "CLOSEDATE": _time(closed) or _time(modified),
        "DATE_CREATE": _time(created) or _time(modified),
        "DATE_MODIFY": _time(modified),
        "ASSIGNED_BY_ID": None if assigned_by_id is None else str(assigned_by_id),
        "CONTACT_ID": None if contact_id is None else str(contact_id),
        "SOURCE_ID": "WEB",
        "UTM_SOURCE": utm_source,
        "UTM_MEDIUM": utm_medium,
        "UTM_CAMPAIGN": utm_campaign,
        "UTM_CONTENT": None,
        "UTM_TERM": None,
    }


def contact_row(
    contact_id: int,
    *,
    modified: datetime | str,
    phones: Iterable[str | tuple[str, str]] = (),
    name: str | None = None,
    assigned_by_id: int | str | None = 1,
) -> dict[str, Any]:
    """A contact as a portal sends it. A phone is a number or (number, VALUE_TYPE); a
    contact without phones has no PHONE key at all."""
    row: dict[str, Any] = {
        "ID": str(contact_id),
        "NAME": name,
        "LAST_NAME": None,
        "ASSIGNED_BY_ID": None if assigned_by_id is None else str(assigned_by_id),
        "DATE_CREATE": _time(modified),
        "DATE_MODIFY": _time(modified),
    }
    entries = [(p, "WORK") if isinstance(p, str) else p for p in phones]
    if entries:
        row["PHONE"] = [
            {"ID": str(contact_id * 100 + i), "VALUE_TYPE": kind, "VALUE": value,
             "TYPE_ID": "PHONE"}
            for i, (value, kind) in enumerate(entries)
        ]  # fmt: skip
    return row


def from_records(
    deals: Iterable[DealRecord] = (), contacts: Iterable[ContactRecord] = (), **kwargs: Any
) -> FakeBitrix24:
    """A portal holding these records (the demo's synthetic CRM). Deal and contact IDs
    must be numeric, as on a portal. A deal's `contact_phone` whose contact is not among
    `contacts` becomes a contact of its own."""
    contact_rows = {
        int(c.contact_id): contact_row(
            int(c.contact_id),
            modified=c.updated_at,
            phones=c.phones,
            name=c.name,
            assigned_by_id=c.responsible_user_id,
        )
        for c in contacts
    }
    deal_rows = []
    for d in deals:
        status_stage = {"open": "P", "won": "S", "lost": "F"}[d.status]
        contact_id = int(d.contact_id) if d.contact_id else None
        if d.contact_phone and contact_id is None:
            contact_id = 1_000_000 + int(d.deal_id)  # a contact made up for the phone
        if d.contact_phone and contact_id not in contact_rows:
            contact_rows[contact_id] = contact_row(
                contact_id, modified=d.updated_at, phones=[d.contact_phone]
            )
        row = deal_row(
            int(d.deal_id),
            modified=d.updated_at,
            created=d.created_at,
            amount=d.amount,
            currency=d.currency,
            stage=status_stage,
            closed=d.closed_at,
            contact_id=contact_id,
            assigned_by_id=d.responsible_user_id,
            utm_source=d.utm_source,
            utm_medium=d.utm_medium,
            utm_campaign=d.utm_campaign,
        )
        if d.status == "open" and d.closed_at is None:
            row["CLOSEDATE"] = None
        deal_rows.append(row)
    return FakeBitrix24(deals=deal_rows, contacts=contact_rows.values(), **kwargs)
