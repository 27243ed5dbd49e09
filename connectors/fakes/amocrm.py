"""A local amoCRM API v4 for tests and the demo, speaking the real paths and shapes.

    fake = FakeAmoCrm()
    fake.add_contact(7, phones=["+7 916 111-11-11"])
    fake.add_lead(1, updated_at=t, status="won", price=5000, contacts=[7])
    with fake.serve() as base_url:
        AmoCrmConnector(AmoCrmConfig(base_url=base_url, long_lived_token=fake.long_lived_token,
                                     company_id="acme"))

What it speaks:
- `GET /api/v4/leads`, `GET /api/v4/contacts`: `page`, `limit` (at most 250), `with`,
  `order[updated_at]`, `filter[updated_at][from|to]`, `filter[id][]` (contacts). The
  answer is `application/hal+json` `{_page, _links: {self, next?}, _embedded}`; `next`
  is there while a page is full (so a full last page is followed by a 204 with no
  body, as amoCRM does).
- `GET /api/v4/leads/pipelines`: one pipeline whose statuses include 142 and 143.
- `POST /oauth2/access_token` (grant_type=refresh_token): checks the client id, secret
  and redirect URI, issues a new pair and spends the old refresh token.
- Every API call needs `Authorization: Bearer <token>`; a missing, unknown or expired
  token gets 401 `application/problem+json`, like every other error here.

Faults are scripted: `fail(...)` queues answers that the next matching requests get
(429/5xx with `Retry-After`, 403, a delay longer than the client's timeout), before the
token is checked, as a gateway in front of amoCRM would. With
`ignore_updated_at_filter=True` it returns every lead, like accounts where the filter
does not work.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.fakes.serving import serve_in_thread

PIPELINE_ID = 7001
STATUS_UNSORTED, STATUS_NEW, STATUS_IN_WORK = 70010, 70011, 70012
WON, LOST = 142, 143
PHONE_FIELD_ID = 264911
# Stock UTM fields: every account has its own ids, the codes are the same everywhere.
UTM_FIELDS = {"utm_source": 850001, "utm_medium": 850003, "utm_campaign": 850005}
SESSION_FIELD_ID = 850101  # an account's own field, without a code: map it by id


@dataclass
class Fault:
    """One scripted answer. `status=None`: answer normally, after `delay` seconds."""

    status: int | None = 503
    retry_after: float | None = None
    delay: float = 0.0
    path: str | None = None  # only requests to this path consume it
    body: dict | str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    at: float = field(default_factory=time.monotonic)


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status}
    return JSONResponse(
        {**body, "detail": detail, **extra}, status, media_type="application/problem+json"
    )


def _unix(moment: datetime | int | str | None) -> int | None:
    if moment is None or moment == "":
        return None
    if isinstance(moment, int):
        return moment
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return int(moment.timestamp())


class FakeAmoCrm:
    def __init__(
        self,
        *,
        client_id: str = "callpath-integration",
        client_secret: str = "integration-secret",
        redirect_uri: str = "https://callpath.example/amocrm/oauth",
        ignore_updated_at_filter: bool = False,
    ) -> None:
        self.client_id, self.client_secret, self.redirect_uri = (
            client_id,
            client_secret,
            redirect_uri,
        )
        self.ignore_updated_at_filter = ignore_updated_at_filter
        self.long_lived_token = secrets.token_urlsafe(24)
        self.leads: dict[int, dict] = {}
        self.contacts: dict[int, dict] = {}
        self.requests: list[Seen] = []
        self.refreshes = 0
        self._access: dict[str, bool] = {}  # token → still valid
        self._refresh_tokens: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/api/v4/leads", self._leads),
                Route("/api/v4/leads/pipelines", self._pipelines),
                Route("/api/v4/contacts", self._contacts),
                Route("/oauth2/access_token", self._token, methods=["POST"]),
            ]
        )

    # ---- seeding and scripting (called from tests and the demo) ---------------------

    def add_contact(
        self,
        contact_id: int,
        *,
        phones: Iterable[str] = (),
        name: str | None = None,
        responsible_user_id: int | None = 501,
        updated_at: datetime | int | str | None = None,
        **raw: Any,
    ) -> dict:
        updated = _unix(updated_at) or int(time.time())
        values = [{"value": p, "enum_id": 1, "enum_code": "WORK"} for p in phones]
        fields = [
            {
                "field_id": PHONE_FIELD_ID,
                "field_name": "Телефон",
                "field_code": "PHONE",
                "field_type": "multitext",
                "values": values,
            }
        ]
        self.contacts[contact_id] = {
            "id": contact_id,
            "name": name if name is not None else f"Contact {contact_id}",
            "responsible_user_id": responsible_user_id,
            "created_at": updated,
            "updated_at": updated,
            "custom_fields_values": fields if values else None,
            **raw,
        }
        return self.contacts[contact_id]

    def add_lead(
        self,
        lead_id: int,
        *,
        updated_at: datetime | int | str,
        created_at: datetime | int | str | None = None,
        closed_at: datetime | int | str | None = None,
        status: str | int = "open",
        price: Any = 0,
        contacts: Iterable[int] = (),
        main_contact: int | None = None,
        utm: dict[str, str] | None = None,
        session_id: str | None = None,
        responsible_user_id: int | None = 501,
        pipeline_id: int = PIPELINE_ID,
        **raw: Any,
    ) -> dict:
        """A lead; `status` is "open"/"won"/"lost" or a status id; `raw` overrides any
        field as amoCRM would send it (e.g. `price="abc"`)."""
        status_id = {"open": STATUS_IN_WORK, "won": WON, "lost": LOST}.get(status, status)  # type: ignore[call-overload]
        updated = _unix(updated_at)
        closed = _unix(closed_at)
        if closed is None and status_id in (WON, LOST):
            closed = updated
        contact_ids = list(contacts)
        main = main_contact if main_contact is not None else next(iter(contact_ids), None)
        fields = [
            {
                "field_id": UTM_FIELDS[name],
                "field_name": name,
                "field_code": name.upper(),
                "field_type": "tracking_data",
                "values": [{"value": value}],
            }
            for name, value in (utm or {}).items()
        ]
        if session_id:
            fields.append(
                {
                    "field_id": SESSION_FIELD_ID,
                    "field_name": "callpath session",
                    "field_code": None,
                    "field_type": "text",
                    "values": [{"value": session_id}],
                }
            )
        self.leads[lead_id] = {
            "id": lead_id,
            "name": f"Lead {lead_id}",
            "price": price,
            "responsible_user_id": responsible_user_id,
            "group_id": 0,
            "status_id": status_id,
            "pipeline_id": pipeline_id,
            "loss_reason_id": None,
            "created_by": 0,
            "updated_by": 0,
            "created_at": _unix(created_at) or updated,
            "updated_at": updated,
            "closed_at": closed,
            "closest_task_at": None,
            "is_deleted": False,
            "custom_fields_values": fields or None,
            "score": None,
            "account_id": 31000000,
            "labor_cost": None,
            "__contacts": [{"id": c, "is_main": c == main} for c in contact_ids],
            **raw,
        }
        return self.leads[lead_id]

    def issue_pair(self) -> tuple[str, str]:
        """A fresh (access, refresh) pair, as the authorisation-code exchange gives."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = True
            self._refresh_tokens.add(refresh)
        return access, refresh

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = dict.fromkeys(self._access, False)

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_tokens.clear()

    def fail(
        self,
        status: int | None = 503,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        path: str | None = None,
        times: int = 1,
        body: dict | str | None = None,
    ) -> None:
        with self._lock:
            self._faults.extend(Fault(status, retry_after, delay, path, body) for _ in range(times))

    def requests_to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def serve(self) -> AbstractContextManager[str]:
        """Run on loopback until the block ends; yields the base URL."""
        return serve_in_thread(self.app, lifespan="off", name="the fake amoCRM")

    # ---- the API -------------------------------------------------------------------

    async def _gate(self, request: Request, *, auth: bool = True) -> Response | None:
        """Log the request, play a scripted fault, check the bearer token."""
        with self._lock:
            self.requests.append(
                Seen(request.method, request.url.path, request.query_params.multi_items())
            )
            fault = next((f for f in self._faults if f.path in (None, request.url.path)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                if isinstance(fault.body, str):
                    return Response(fault.body, fault.status, headers, media_type="text/html")
                body = fault.body or {
                    "title": {429: "Too Many Requests", 403: "Forbidden"}.get(
                        fault.status, "Error"
                    ),
                    "type": f"https://httpstatus.es/{fault.status}",
                    "status": fault.status,
                    "detail": "scripted fault",
                }
                return JSONResponse(
                    body, fault.status, headers, media_type="application/problem+json"
                )
        if not auth:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            valid = token == self.long_lived_token or self._access.get(token, False)
        if scheme != "Bearer" or not valid:
            return _problem(401, "Unauthorized", "Unauthorized")
        return None

    async def _leads(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        try:
            page, limit, rows = self._listing(request, self.leads.values())
        except ValueError as exc:
            return _problem(400, "Bad Request", str(exc))
        embed = "contacts" in request.query_params.get("with", "").split(",")
        rendered = []
        for lead in rows:
            out = {k: v for k, v in lead.items() if not k.startswith("__")}
            out["_links"] = {"self": {"href": f"{request.base_url}api/v4/leads/{lead['id']}"}}
            out["_embedded"] = {"tags": [], "companies": []}
            if embed:
                out["_embedded"]["contacts"] = [
                    {
                        **c,
                        "_links": {
                            "self": {"href": f"{request.base_url}api/v4/contacts/{c['id']}"}
                        },
                    }
                    for c in lead["__contacts"]
                ]
            rendered.append(out)
        return self._page(request, page, limit, "leads", rendered)

    async def _contacts(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        q = request.query_params
        wanted = q.getlist("filter[id][]") or [
            i for v in q.getlist("filter[id]") for i in v.split(",") if i
        ]
        try:
            ids = {int(i) for i in wanted}
            page, limit, rows = self._listing(
                request, (c for c in self.contacts.values() if not ids or c["id"] in ids)
            )
        except ValueError as exc:
            return _problem(400, "Bad Request", str(exc))
        return self._page(request, page, limit, "contacts", rows)

    async def _pipelines(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        statuses = [
            (STATUS_UNSORTED, "Неразобранное", 1),
            (STATUS_NEW, "Первичный контакт", 0),
            (STATUS_IN_WORK, "Переговоры", 0),
            (WON, "Успешно реализовано", 0),
            (LOST, "Закрыто и не реализовано", 0),
        ]
        pipeline = {
            "id": PIPELINE_ID,
            "name": "Воронка",
            "sort": 1,
            "is_main": True,
            "is_unsorted_on": True,
            "is_archive": False,
            "account_id": 31000000,
            "_embedded": {
                "statuses": [
                    {
                        "id": sid,
                        "name": name,
                        "sort": 10 * n,
                        "is_editable": sid not in (WON, LOST),
                        "pipeline_id": PIPELINE_ID,
                        "color": "#99ccff",
                        "type": kind,
                        "account_id": 31000000,
                    }
                    for n, (sid, name, kind) in enumerate(statuses)
                ]
            },
        }
        body = {
            "_total_items": 1,
            "_links": {"self": {"href": str(request.url)}},
            "_embedded": {"pipelines": [pipeline]},
        }
        return JSONResponse(body, media_type="application/hal+json")

    async def _token(self, request: Request) -> Response:
        if (refused := await self._gate(request, auth=False)) is not None:
            return refused
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                return _problem(400, "Bad Request", "body is not JSON")
        else:
            body = dict(await request.form())
        required = ("client_id", "client_secret", "grant_type", "refresh_token", "redirect_uri")
        missing = [k for k in required if not body.get(k)]
        if missing:
            return _problem(400, "Bad Request", f"missing: {', '.join(missing)}")
        if body["grant_type"] != "refresh_token":
            return _problem(400, "Bad Request", "unsupported grant type", hint="grant_type")
        if (body["client_id"], body["client_secret"]) != (self.client_id, self.client_secret):
            return _problem(401, "Unauthorized", "Client authentication failed")
        if body["redirect_uri"] != self.redirect_uri:
            return _problem(400, "Bad Request", "redirect_uri does not match", hint="redirect_uri")
        with self._lock:
            if body["refresh_token"] not in self._refresh_tokens:
                return _problem(
                    400,
                    "Bad Request",
                    "The refresh token is invalid.",
                    hint="Token has been revoked",
                )
            self._refresh_tokens.discard(body["refresh_token"])  # single-use
            self.refreshes += 1
        access, refresh = self.issue_pair()
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 86400,
                "access_token": access,
                "refresh_token": refresh,
            }
        )

    def _listing(self, request: Request, rows: Iterable[dict]) -> tuple[int, int, list[dict]]:
        """Window, order and slice `rows` as the query asks; ValueError on a bad query."""
        q = request.query_params
        page, limit = int(q.get("page", "1")), int(q.get("limit", "50"))
        if page < 1 or not 1 <= limit <= 250:
            raise ValueError("page must be ≥ 1 and limit between 1 and 250")
        order = q.get("order[updated_at]", "asc")
        if order not in ("asc", "desc"):
            raise ValueError("order[updated_at] must be asc or desc")
        low, high = q.get("filter[updated_at][from]"), q.get("filter[updated_at][to]")
        low_at, high_at = (int(low) if low else None), (int(high) if high else None)
        selected = [
            r
            for r in rows
            if self.ignore_updated_at_filter
            or (
                (low_at is None or r["updated_at"] >= low_at)
                and (high_at is None or r["updated_at"] <= high_at)
            )
        ]
        selected.sort(key=lambda r: (r["updated_at"], r["id"]), reverse=order == "desc")
        return page, limit, selected[(page - 1) * limit : page * limit]

    def _page(self, request: Request, page: int, limit: int, key: str, rows: list) -> Response:
        if not rows:
            return Response(status_code=204)
        links = {"self": {"href": str(request.url)}}
        if len(rows) == limit:  # amoCRM offers a next page while a page is full
            links["next"] = {"href": str(request.url.include_query_params(page=page + 1))}
        body = {"_page": page, "_links": links, "_embedded": {key: rows}}
        return JSONResponse(body, media_type="application/hal+json")


def demo_dataset(deals: Iterable[Any], contacts: Iterable[dict] = ()) -> FakeAmoCrm:
    """A fake seeded from DealRecord-shaped rows (dicts or records; `deal_id`,
    `created_at`, `updated_at`, `closed_at`, `status`, `amount`, `contact_phone`,
    `responsible_user_id`, `session_id`, `utm_*`). Each distinct phone becomes a contact;
    `contacts` (keyword arguments of `add_contact`, with `contact_id`) adds more."""
    fake = FakeAmoCrm()
    by_phone: dict[str, int] = {}
    for extra in contacts:
        fake.add_contact(**extra)
    for n, deal in enumerate(deals, start=1):
        row = deal if isinstance(deal, dict) else deal.model_dump()
        phone = row.get("contact_phone") or None
        linked = []
        if phone:
            if phone not in by_phone:
                by_phone[phone] = 9_000_000 + len(by_phone)
                fake.add_contact(by_phone[phone], phones=[phone], updated_at=row["created_at"])
            linked = [by_phone[phone]]
        deal_id = str(row.get("deal_id") or n)
        utm = {k: row[k] for k in UTM_FIELDS if row.get(k)}
        fake.add_lead(
            int(deal_id) if deal_id.isdigit() else n,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            closed_at=row.get("closed_at") or None,
            status=row["status"],
            price=int(Decimal(str(row.get("amount") or 0))),  # amoCRM prices are whole units
            contacts=linked,
            utm=utm,
            session_id=row.get("session_id") or None,
            responsible_user_id=int(user)
            if (user := str(row.get("responsible_user_id") or "")).isdigit()
            else 501,
        )
    return fake
