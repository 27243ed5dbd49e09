"""A local Yandex.Direct Reports service (API v5) for tests and the demo.

It speaks the real path, headers, status codes and error body, and it refuses what
the real service refuses: an unknown OAuth token (53), a login the token may not read
(54 / 8800), a malformed report definition (8000 / 4000), a full offline queue (9000).
Offline reports go through the queue: 201 on the first request, 202 × `offline_polls`
on identical re-sends, then 200 with the TSV. A ready offline report is kept under its
name and served again as built (emulating Direct's report storage), so only a request
with a new ReportName sees a restated figure.

Faults are scripted per request (`fail`, `hang`, `malform`), consumed in order.

    fake = FakeYandexDirect(tokens={"t": ["client-a"]})
    fake.set_stat("client-a", date(2026, 11, 1), 101, "Brand", 1000, 50, Decimal("1234.50"))
    with fake.serve() as base_url:
        ...
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.fakes.serving import serve_in_thread

PATH = "/json/v5/reports"
VAT = Decimal("0.20")  # Russian VAT; stored costs are as billed (VAT included)
KNOWN_FIELDS = {
    "Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost",
    "Ctr", "AvgCpc", "CampaignType", "Week", "Month",
}  # fmt: skip
REPORT_TYPES = {
    "ACCOUNT_PERFORMANCE_REPORT", "CAMPAIGN_PERFORMANCE_REPORT", "ADGROUP_PERFORMANCE_REPORT",
    "AD_PERFORMANCE_REPORT", "CRITERIA_PERFORMANCE_REPORT", "CUSTOM_REPORT",
    "REACH_AND_FREQUENCY_PERFORMANCE_REPORT", "SEARCH_QUERY_PERFORMANCE_REPORT",
}  # fmt: skip
REQUIRED = ("SelectionCriteria", "FieldNames", "ReportName", "ReportType", "DateRangeType",
            "Format", "IncludeVAT")  # fmt: skip
OFFLINE_QUEUE_LIMIT = 5  # per advertiser


@dataclass
class Fault:
    """One scripted fault. `kind`: `error` (status + Direct error body), `hang` (sleep
    `seconds` before answering normally: longer than the client's timeout), `malform`
    (the next TSV this request would return gets a broken row). `login` restricts it to
    requests for that Client-Login."""

    kind: str
    status: int = 400
    code: int | None = None
    string: str = ""
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    login: str | None = None


@dataclass
class _Offline:
    signature: str
    polls_left: int
    tsv: str | None = None


class _Refused(Exception):
    def __init__(self, status: int, code: int, string: str, detail: str = "") -> None:
        super().__init__(string)
        self.status, self.code, self.string, self.detail = status, code, string, detail


class FakeYandexDirect:
    def __init__(
        self,
        tokens: Mapping[str, Iterable[str]],
        *,
        offline_polls: int = 1,
        retry_in: int = 0,
        auto_mode: str = "online",
    ) -> None:
        """`tokens`: OAuth token → the client logins it may read (an agency lists
        several). `offline_polls`: 202 answers before a queued report is ready.
        `retry_in`: the `retryIn` hint in seconds. `auto_mode`: what
        `processingMode: auto` does here, `online` or `offline`."""
        self.tokens = {token: list(logins) for token, logins in tokens.items()}
        self.offline_polls, self.retry_in, self.auto_mode = offline_polls, retry_in, auto_mode
        # False: answer with title, column and total lines whatever skip* headers say
        # (a client must recognise them, not assume them)
        self.honour_skip_headers = True
        # (login, day, campaign id) -> (campaign name, impressions, clicks, cost with VAT)
        self.stats: dict[tuple[str, date, int], tuple[str, int, int, Decimal]] = {}
        self.faults: deque[Fault] = deque()
        self.offline: dict[tuple[str, str], _Offline] = {}
        self.requests: list[dict[str, Any]] = []  # what the client sent, token masked
        self._lock = threading.Lock()

    # --- seeding and restating -----------------------------------------------------

    def set_stat(
        self,
        login: str,
        day: date,
        campaign_id: int,
        name: str,
        impressions: int,
        clicks: int,
        cost: Decimal,
    ) -> None:
        """Seed a campaign-day, or restate it (as Direct does for days afterwards).
        `cost` is as billed, VAT included."""
        with self._lock:
            self.stats[(login, day, int(campaign_id))] = (name, impressions, clicks, cost)

    def remove_stat(self, login: str, day: date, campaign_id: int) -> None:
        with self._lock:
            self.stats.pop((login, day, int(campaign_id)), None)

    @classmethod
    def demo_dataset(
        cls, token: str, rows: Iterable[Mapping[str, Any]], **kwargs
    ) -> FakeYandexDirect:
        """A fake seeded from plain dicts (or `SpendRecord.model_dump()`): `account_id`
        (the login), `date_day`, `campaign_id`, `campaign_name`, `impressions`,
        `clicks`, `spend` (VAT included). The token may read every login seen."""
        rows = list(rows)
        logins = sorted({str(r["account_id"]) for r in rows})
        fake = cls({token: logins}, **kwargs)
        for r in rows:
            day = (
                r["date_day"]
                if isinstance(r["date_day"], date)
                else date.fromisoformat(r["date_day"])
            )
            fake.set_stat(
                str(r["account_id"]),
                day,
                int(r["campaign_id"]),
                str(r.get("campaign_name") or ""),
                int(r["impressions"]),
                int(r["clicks"]),
                Decimal(str(r["spend"])),
            )
        return fake

    # --- faults ----------------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        code: int | None = 1000,
        string: str = "Server temporarily unavailable",
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        login: str | None = None,
    ) -> None:
        """Answer the next request with `status` and Direct's error body (`code=None`:
        a bare status with a non-JSON body, like a proxy's)."""
        self.faults.append(
            Fault("error", status, code, string, detail, dict(headers or {}), login=login)
        )

    def hang(self, seconds: float, login: str | None = None) -> None:
        self.faults.append(Fault("hang", seconds=seconds, login=login))

    def malform(self, login: str | None = None) -> None:
        self.faults.append(Fault("malform", login=login))

    def _next_fault(self, login: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.login is None or fault.login == login:
                    self.faults.remove(fault)
                    return fault
        return None

    # --- the service -----------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route(PATH, self._reports, methods=["POST"])])

    async def _reports(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex[:19]
        raw = await request.body()
        login = request.headers.get("client-login")
        self._log(request, raw)
        fault = self._next_fault(login)
        if fault is not None and fault.kind == "error":
            if fault.code is None:
                return Response("<html>Bad Gateway</html>", fault.status, fault.headers)
            refused = _Refused(fault.status, fault.code, fault.string, fault.detail)
            return _error(request_id, refused, fault.headers)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        malform = fault is not None and fault.kind == "malform"
        try:
            return self._answer(request, raw, request_id, malform)
        except _Refused as refused:
            return _error(request_id, refused)

    def _log(self, request: Request, raw: bytes) -> None:
        headers = dict(request.headers)
        if "authorization" in headers:
            headers["authorization"] = headers["authorization"][:7] + "***"
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.requests.append({"headers": headers, "body": body})

    def _answer(self, request: Request, raw: bytes, request_id: str, malform: bool) -> Response:
        login = self._authorize(request)
        mode = request.headers.get("processingmode", "auto")
        if mode not in ("auto", "online", "offline"):
            raise _Refused(400, 8000, "Invalid request", f"processingMode {mode!r}")
        params = _validate(raw)
        money_micros = request.headers.get("returnmoneyinmicros", "true").lower() != "false"
        skips = tuple(
            self.honour_skip_headers and request.headers.get(h, "").lower() == "true"
            for h in ("skipreportheader", "skipcolumnheader", "skipreportsummary")
        )
        ok = {"RequestId": request_id, "Content-Type": "text/tab-separated-values; charset=utf-8"}
        if mode == "online" or (mode == "auto" and self.auto_mode == "online"):
            return Response(self._tsv(login, params, money_micros, skips, malform), 200, ok)

        key = (login, params["ReportName"])
        signature = json.dumps([params, money_micros, skips], sort_keys=True)
        with self._lock:
            report = self.offline.get(key)
            queued = sum(
                1 for (who, _), r in self.offline.items() if who == login and r.tsv is None
            )
            if report is None:
                if queued >= OFFLINE_QUEUE_LIMIT:
                    raise _Refused(
                        400,
                        9000,
                        "Report queue limit exceeded",
                        f"{queued} offline reports are queued for {login}",
                    )
                self.offline[key] = _Offline(signature, self.offline_polls)
                return self._queued(201, request_id, queued + 1)
            if report.signature != signature:
                raise _Refused(
                    400,
                    4000,
                    "Invalid request parameters",
                    "A report with this ReportName and other parameters exists;"
                    " use a different ReportName",
                )
            if report.polls_left > 0:
                report.polls_left -= 1
                return self._queued(202, request_id, queued)
        if report.tsv is None:
            report.tsv = self._tsv(login, params, money_micros, skips, malform=False)
        tsv = _break_a_row(report.tsv) if malform else report.tsv
        return Response(tsv, 200, ok)

    def _queued(self, status: int, request_id: str, in_queue: int) -> Response:
        headers = {
            "RequestId": request_id,
            "retryIn": str(self.retry_in),
            "reportsInQueue": str(in_queue),
        }
        return Response(b"", status, headers)

    def _authorize(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise _Refused(400, 53, "Authorization error", "Invalid OAuth token")
        logins = self.tokens[token]
        login = request.headers.get("client-login")
        if login is None:
            if len(logins) != 1:  # an agency must say which client it asks for
                raise _Refused(400, 8000, "Invalid request", "Client-Login header is required")
            return logins[0]
        if login in logins:
            return login
        if any(login in others for others in self.tokens.values()):
            raise _Refused(400, 54, "No rights", f"{login} is not a client of this agency")
        raise _Refused(400, 8800, "Object not found", f"Client with login {login} not found")

    def _tsv(
        self,
        login: str,
        params: dict,
        micros: bool,
        skips: tuple[bool, bool, bool],
        malform: bool,
    ) -> str:
        criteria = params["SelectionCriteria"]
        start, end = (
            date.fromisoformat(criteria["DateFrom"]),
            date.fromisoformat(criteria["DateTo"]),
        )
        fields = params["FieldNames"]
        with_vat = params["IncludeVAT"] == "YES"
        with self._lock:
            stats = sorted(
                (key, value)
                for key, value in self.stats.items()
                if key[0] == login and start <= key[1] <= end
            )
        # Direct groups by the requested non-metric fields and sums the metrics.
        groups: dict[tuple[str, ...], list] = {}
        for (_, day, campaign_id), (name, impressions, clicks, billed) in stats:
            if not impressions and not billed:
                continue  # Direct leaves out rows with no statistics
            dimensions = {
                "Date": day.isoformat(),
                "CampaignId": str(campaign_id),
                "CampaignName": name,
                "CampaignType": "TEXT_CAMPAIGN",
                "Week": (day - timedelta(days=day.weekday())).isoformat(),
                "Month": day.replace(day=1).isoformat(),
            }
            key = tuple(dimensions[f] for f in fields if f in dimensions)
            total = groups.setdefault(key, [dimensions, 0, 0, Decimal(0)])
            total[1] += impressions
            total[2] += clicks
            total[3] += billed if with_vat else billed / (1 + VAT)
        rows = []
        for dimensions, impressions, clicks, cost in groups.values():
            values = {
                **dimensions,
                "Impressions": str(impressions),
                "Clicks": str(clicks),
                "Cost": _money(cost, micros),
                "Ctr": f"{100 * clicks / impressions:.2f}" if impressions else "--",
                "AvgCpc": _money(cost / clicks, micros) if clicks else "--",
            }
            rows.append("\t".join(values[f] for f in fields))
        lines = []
        if not skips[0]:
            lines.append(f'"{params["ReportName"]} ({start.isoformat()} - {end.isoformat()})"')
        if not skips[1]:
            lines.append("\t".join(fields))
        lines += rows
        if not skips[2]:
            lines.append(f"Total rows: {len(rows)}")
        tsv = "".join(line + "\n" for line in lines)
        return _break_a_row(tsv) if malform else tsv

    def serve(self) -> AbstractContextManager[str]:
        """Run on loopback until the block ends; yields the base URL (for `base_url`)."""
        return serve_in_thread(self.app(), lifespan="off", name="fake Yandex.Direct")


def _validate(raw: bytes) -> dict:
    """The report definition, checked the way Direct checks it."""
    try:
        params = json.loads(raw)["params"]
    except (ValueError, KeyError, TypeError):
        raise _Refused(400, 8000, "Invalid request", 'The body must be {"params": {...}}') from None
    if not isinstance(params, dict):
        raise _Refused(400, 8000, "Invalid request", "params must be an object")
    for name in REQUIRED:
        if name not in params:
            raise _Refused(400, 8000, "Invalid request", f"Required field {name} is missing")
    fields = params["FieldNames"]
    if not isinstance(fields, list) or not fields or len(set(fields)) != len(fields):
        raise _Refused(
            400, 4000, "Invalid request parameters", "FieldNames: a list of unique names"
        )
    unknown = [f for f in fields if f not in KNOWN_FIELDS]
    if unknown:
        raise _Refused(400, 4000, "Invalid request parameters", f"Unknown FieldNames {unknown}")
    if params["ReportType"] not in REPORT_TYPES:
        raise _Refused(
            400, 4000, "Invalid request parameters", f"ReportType {params['ReportType']!r}"
        )
    if params["ReportType"] != "CAMPAIGN_PERFORMANCE_REPORT":
        raise _Refused(
            400,
            4000,
            "Invalid request parameters",
            "this fake builds CAMPAIGN_PERFORMANCE_REPORT only",
        )
    if params["Format"] != "TSV":
        raise _Refused(400, 4000, "Invalid request parameters", "Format must be TSV")
    if not isinstance(params["ReportName"], str) or not params["ReportName"].strip():
        raise _Refused(400, 4000, "Invalid request parameters", "ReportName must not be empty")
    for flag in ("IncludeVAT", "IncludeDiscount"):
        if flag in params and params[flag] not in ("YES", "NO"):
            raise _Refused(400, 4000, "Invalid request parameters", f"{flag} must be YES or NO")
    criteria = params["SelectionCriteria"]
    if not isinstance(criteria, dict):
        raise _Refused(400, 8000, "Invalid request", "SelectionCriteria must be an object")
    if params["DateRangeType"] != "CUSTOM_DATE":
        raise _Refused(
            400,
            4000,
            "Invalid request parameters",
            "this fake serves DateRangeType CUSTOM_DATE only",
        )
    try:
        start = date.fromisoformat(criteria["DateFrom"])
        end = date.fromisoformat(criteria["DateTo"])
    except (KeyError, TypeError, ValueError):
        raise _Refused(
            400,
            4000,
            "Invalid request parameters",
            "CUSTOM_DATE needs DateFrom and DateTo as YYYY-MM-DD",
        ) from None
    if start > end:
        raise _Refused(400, 4000, "Invalid request parameters", "DateFrom is after DateTo")
    return params


def _error(
    request_id: str, refused: _Refused, headers: Mapping[str, str] | None = None
) -> Response:
    body = {
        "error": {
            "request_id": request_id,
            "error_code": refused.code,
            "error_string": refused.string,
            "error_detail": refused.detail,
        }
    }
    return JSONResponse(body, refused.status, {"RequestId": request_id, **(headers or {})})


def _money(amount: Decimal, micros: bool) -> str:
    if micros:
        return str((amount * 1_000_000).quantize(Decimal(1), ROUND_HALF_UP))
    return str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))


def _break_a_row(tsv: str) -> str:
    """Cut the last field off the first data row (a truncated line)."""
    lines = tsv.split("\n")
    for i, line in enumerate(lines):
        parts = line.split("\t")
        if len(parts) > 1 and parts[0][:1].isdigit():
            lines[i] = "\t".join(parts[:-1])
            break
    return "\n".join(lines)
