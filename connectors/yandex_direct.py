"""Yandex.Direct ad spend through the Reports service (API v5): one
CAMPAIGN_PERFORMANCE_REPORT per client login, campaign by day, as TSV.

An agency token serves several advertisers: each login in the config becomes its own
connector (`YandexDirectConnector.for_each_login`), so each lands and fails on its own
and `account` is the login. The reports API has no pagination: a report is one TSV
body, built online (200 at once) or queued offline (201, then 202 until ready). Polling
is re-sending the identical request, so the report name is derived from the request
itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, NamedTuple

import httpx
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.base import (
    RateLimiter,
    Retryable,
    SourceError,
    SpendRecord,
    retry_after_header,
    with_retries,
)

SOURCE = "yandex_direct"
ENV_PREFIX = "CALLPATH_YANDEX_DIRECT_"
REPORT_TYPE = "CAMPAIGN_PERFORMANCE_REPORT"
FIELD_NAMES = ("Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost")

# Error codes Direct documents as transient: OAuth server down (52), not enough units
# (152), too many connections (506), internal errors (1000-1002), offline queue full
# (9000), method request limit (56).
RETRY_CODES = frozenset({52, 56, 152, 506, 1000, 1001, 1002, 9000})
RETRY_STATUSES = frozenset({429, 500, 502, 503})
LOGINS_VAR = f"{ENV_PREFIX}CLIENT_LOGINS"
FIX_LOGINS = f"Check {LOGINS_VAR}: each login must be an advertiser this token may read"
# Codes a person must act on, and what to do. Anything else unknown is a request we
# built wrongly or an API change: fail with the request id so it can be reported.
ACTIONS = {
    53: f"Renew the OAuth token (direct:api scope) at https://oauth.yandex.ru and set "
    f"{ENV_PREFIX}TOKEN",
    58: "Finish the app's API access application in the Direct web interface "
    "(Tools → API) and wait for approval",
    54: FIX_LOGINS + " (an agency token reads only its own clients)",
    513: FIX_LOGINS + " (this login has no Direct account)",
    8800: FIX_LOGINS + " (the login was not found)",
    3000: "Enable API access for this account in the Direct web interface (Tools → API)",
    3001: "Ask Yandex.Direct support for access to the Reports method",
}
DEFAULT_ACTION = (
    "The Reports API refused the request; report it to the callpath maintainers with the "
    "request_id above"
)
GAVE_UP = (
    "Yandex.Direct kept failing; run the load again later (re-landing is idempotent), "
    "and check https://yandex.ru/support/direct/ if it persists"
)

# First line when skipReportHeader is not set: `"<ReportName> (YYYY-MM-DD - YYYY-MM-DD)"`.
# A data row always has tabs, so a tab-free line with the date range is the title.
TITLE_RE = re.compile(r"^[^\t]*\d{4}-\d{2}-\d{2}\D+\d{4}-\d{2}-\d{2}[^\t]*$")
# Last line when skipReportSummary is not set: `Total rows: N` (the wording may change
# with Accept-Language, so only its shape is matched: no tabs, ends in `: <number>`).
SUMMARY_RE = re.compile(r"^[^\t]*:\s*(\d+)\s*$")


class YandexDirectConfig(BaseSettings):
    """`CALLPATH_YANDEX_DIRECT_*`. `client_logins` is comma-separated; an advertiser
    (not an agency) lists its own login."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    token: SecretStr = Field(description="OAuth token with the direct:api scope.")
    client_logins: Annotated[list[str], NoDecode] = Field(
        min_length=1, description="Client-Login of each advertiser, one report per login."
    )
    base_url: str = Field("https://api.direct.yandex.com", description="Sandbox or local fake.")
    processing_mode: Literal["auto", "online", "offline"] = "auto"
    money_in_micros: bool = Field(
        True, description="returnMoneyInMicros: integers × 1,000,000 (exact) or 2-decimal money."
    )
    include_vat: bool = Field(True, description="IncludeVAT: spend as billed, VAT included.")
    currency: str = Field("RUB", description="The accounts' currency; reports carry no currency.")
    accept_language: Literal["ru", "en"] = "en"
    # Ask for the column header and the row count: the header maps columns by name and
    # the count proves the body is complete. The parser copes with any combination.
    skip_report_header: bool = True
    skip_column_header: bool = False
    skip_report_summary: bool = False
    timeout_seconds: float = Field(120.0, description="Per HTTP request; online reports are slow.")
    max_attempts: int = Field(6, ge=1, description="Tries per request on transient errors.")
    base_delay: float = Field(1.0, ge=0, description="Backoff base (seconds) without a hint.")
    poll_attempts: int = Field(120, ge=1, description="Polls of a queued offline report.")
    poll_max_seconds: float = Field(3600.0, description="Give up on a queued report after this.")

    @field_validator("client_logins", mode="before")
    @classmethod
    def _split_logins(cls, value: object) -> object:
        if isinstance(value, str):
            return [login.strip() for login in value.split(",") if login.strip()]
        return value

    @classmethod
    def from_env(cls) -> YandexDirectConfig | None:
        """The config from the environment (and `.env`), or None when no token is set."""
        try:
            return cls()
        except ValidationError as exc:
            errors = exc.errors()
            if any(e["loc"] == ("token",) and e["type"] == "missing" for e in errors):
                return None
            fields = ", ".join(
                f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}" for e in errors
            )
            raise SourceError(
                SOURCE, "config", f"invalid settings: {fields}", f"Fix {fields} in the environment"
            ) from None


class _NotReady(NamedTuple):
    """201/202: the offline report is queued or being built; poll after `retryIn`."""

    status: int
    retry_in: float | None
    in_queue: str


class YandexDirectClient:
    """POSTs report requests: rate-limited, retried on transient errors, and polled
    while a report sits in the offline queue. Returns the TSV body."""

    def __init__(
        self,
        config: YandexDirectConfig,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/json/v5/reports"
        # Published limit: 20 Reports requests per 10 s per user (the token's user, so
        # one limiter is shared by every login under the token).
        self.limiter = limiter or RateLimiter(20, 10, sleep=sleep)
        self.sleep = sleep
        self.http = httpx.Client(timeout=httpx.Timeout(config.timeout_seconds, connect=10.0))

    def close(self) -> None:
        self.http.close()

    def _headers(self, login: str) -> dict[str, str]:
        c = self.config
        flag = {True: "true", False: "false"}
        headers = {
            "Authorization": f"Bearer {c.token.get_secret_value()}",
            "Client-Login": login,
            "Accept-Language": c.accept_language,
            "processingMode": c.processing_mode,
            "returnMoneyInMicros": flag[c.money_in_micros],
        }
        # Direct reads these as "present and true"; sending `false` is not documented,
        # so a row we want is asked for by leaving its header out.
        for name, skip in (
            ("skipReportHeader", c.skip_report_header),
            ("skipColumnHeader", c.skip_column_header),
            ("skipReportSummary", c.skip_report_summary),
        ):
            if skip:
                headers[name] = "true"
        return headers

    def report(self, login: str, body: dict) -> str:
        """The TSV of the report `body` asks for, waiting for it through the offline
        queue. Two budgets: `max_attempts` per request for errors, `poll_attempts`
        (and `poll_max_seconds`) for a report that is merely queued."""
        c = self.config

        def until_ready() -> str:
            answer = with_retries(
                lambda: self._send(login, body),
                source=SOURCE,
                account=login,
                attempts=c.max_attempts,
                base_delay=c.base_delay,
                sleep=self.sleep,
                action=GAVE_UP,
            )
            if isinstance(answer, _NotReady):
                raise Retryable(
                    f"report not ready (HTTP {answer.status}, {answer.in_queue} in queue)",
                    answer.retry_in,
                )
            return answer

        return with_retries(
            until_ready,
            source=SOURCE,
            account=login,
            attempts=c.poll_attempts,
            max_seconds=c.poll_max_seconds,
            base_delay=c.base_delay,
            sleep=self.sleep,
            action=(
                "The offline report is still being built: run the load again later (the "
                f"identical request picks it up) or raise {ENV_PREFIX}POLL_ATTEMPTS"
            ),
        )

    def _send(self, login: str, body: dict) -> str | _NotReady:
        """One POST: the TSV on 200, `_NotReady` on 201/202 (polled outside the error
        budget, see `report`); raises `Retryable` on transient errors, else SourceError."""
        self.limiter.acquire()
        response = self.http.post(self.url, headers=self._headers(login), json=body)
        status = response.status_code
        if status == 200:
            return response.content.decode("utf-8")
        if status in (201, 202):
            retry_in = _number(response.headers.get("retryIn"))
            return _NotReady(status, retry_in, response.headers.get("reportsInQueue", "?"))
        code, problem = _error(response)
        if code in RETRY_CODES or (status in RETRY_STATUSES and code not in ACTIONS):
            hint = retry_after_header(response) or _number(response.headers.get("retryIn"))
            raise Retryable(problem, hint)
        raise SourceError(SOURCE, login, problem, ACTIONS.get(code, DEFAULT_ACTION))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error(response: httpx.Response) -> tuple[int | None, str]:
    """(error_code, readable problem) from Direct's `{"error": {...}}` body; a body
    that is not JSON (a proxy's HTML page) is quoted briefly instead."""
    try:
        error = response.json()["error"]
        code = int(error["error_code"])
    except (ValueError, KeyError, TypeError):
        return None, f"HTTP {response.status_code}: {response.text[:200]!r}"
    detail = error.get("error_detail") or ""
    problem = f"HTTP {response.status_code}, error {code} {error.get('error_string', '')}"
    if detail:
        problem += f": {detail}"
    return code, f"{problem} (request_id {error.get('request_id', '?')})"


def report_name(login: str, start: date, end: date, config: YandexDirectConfig, day: date) -> str:
    """Deterministic per request: the login, dates, fields and every flag that shapes
    the body (polling re-sends it unchanged, and a rerun the same day resumes a queued
    report instead of queueing another of the five allowed). It also carries the pull
    day, so a report Direct keeps under its name never hides a later restatement."""
    key = json.dumps(
        [
            login,
            start.isoformat(),
            end.isoformat(),
            REPORT_TYPE,
            FIELD_NAMES,
            config.include_vat,
            config.money_in_micros,
            config.skip_report_header,
            config.skip_column_header,
            config.skip_report_summary,
            day.isoformat(),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"callpath-{start:%Y%m%d}-{end:%Y%m%d}-{digest}"


def report_body(name: str, start: date, end: date, include_vat: bool) -> dict:
    return {
        "params": {
            "SelectionCriteria": {"DateFrom": start.isoformat(), "DateTo": end.isoformat()},
            "FieldNames": list(FIELD_NAMES),
            "ReportName": name,
            "ReportType": REPORT_TYPE,
            "DateRangeType": "CUSTOM_DATE",
            "Format": "TSV",
            "IncludeVAT": "YES" if include_vat else "NO",
            "IncludeDiscount": "NO",
        }
    }


class YandexDirectConnector:
    """Spend of one client login, campaign by day."""

    source = SOURCE
    platform = "yandex_direct"

    def __init__(
        self,
        config: YandexDirectConfig,
        login: str,
        *,
        client: YandexDirectClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.config, self.account = config, login
        self.client = client or YandexDirectClient(config, sleep=sleep)
        self.today = today

    @classmethod
    def for_each_login(
        cls,
        config: YandexDirectConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> list[YandexDirectConnector]:
        """One connector per login, sharing one HTTP client and so the per-user limiter."""
        client = YandexDirectClient(config, sleep=sleep)
        return [cls(config, login, client=client, today=today) for login in config.client_logins]

    def close(self) -> None:
        self.client.close()

    def fetch(self, start: date, end: date) -> Iterator[SpendRecord]:
        name = report_name(self.account, start, end, self.config, self.today())
        body = report_body(name, start, end, self.config.include_vat)
        tsv = self.client.report(self.account, body)
        # Parsed in full before the first record is yielded: a bad row anywhere means
        # nothing from this report is landed.
        yield from parse_report(tsv, self.account, start, end, self.config)


def parse_report(
    tsv: str, login: str, start: date, end: date, config: YandexDirectConfig
) -> list[SpendRecord]:
    """Records from a report body, with or without the title, column-header and
    summary lines: each is recognised by its shape, not by which `skip*` headers were
    sent. A column header, when present, decides the column order."""

    def bad(line_no: int, problem: str) -> SourceError:
        return SourceError(
            SOURCE,
            login,
            f"report line {line_no}: {problem}",
            "Nothing from this report was landed; run the load again, and report the line "
            "to the callpath maintainers if it repeats",
        )

    lines = list(enumerate(tsv.splitlines(), start=1))
    while lines and not lines[-1][1].strip():
        lines.pop()
    if lines and TITLE_RE.match(lines[0][1]):
        lines.pop(0)
    columns = list(FIELD_NAMES)
    if lines and set(lines[0][1].split("\t")) == set(FIELD_NAMES):
        columns = lines.pop(0)[1].split("\t")
    expected_rows = None
    if lines and (summary := SUMMARY_RE.match(lines[-1][1])):
        expected_rows = int(summary.group(1))
        lines.pop()
    if expected_rows is not None and expected_rows != len(lines):
        raise bad(len(lines) + 1, f"the report says {expected_rows} rows but has {len(lines)}")

    records = []
    for line_no, line in lines:
        values = line.split("\t")
        if len(values) != len(columns):
            raise bad(line_no, f"{len(values)} fields, expected {len(columns)}: {line[:120]!r}")
        row = dict(zip(columns, values, strict=True))
        try:
            day = date.fromisoformat(row["Date"])
            impressions = _count(row["Impressions"])
            clicks = _count(row["Clicks"])
            spend = _money(row["Cost"], config.money_in_micros)
        except ValueError as exc:
            raise bad(line_no, str(exc)) from None
        if not row["CampaignId"].isdigit():
            raise bad(line_no, f"CampaignId {row['CampaignId']!r} is not a number")
        if not start <= day <= end:
            raise bad(line_no, f"date {day} is outside the requested {start}..{end}")
        records.append(
            SpendRecord(
                date_day=day,
                platform="yandex_direct",
                account_id=login,
                campaign_id=row["CampaignId"],
                campaign_name=row["CampaignName"] or None,
                clicks=clicks,
                impressions=impressions,
                spend=spend,
                currency=config.currency,
            )
        )
    return records


def _count(value: str) -> int:
    if value == "--":  # Direct's "no value"
        return 0
    if not value.isdigit():
        raise ValueError(f"{value!r} is not a count")
    return int(value)


def _money(value: str, micros: bool) -> Decimal:
    if value == "--":
        return Decimal(0)
    if micros:
        # Micros are integers; a decimal point means the header was not honoured.
        if not value.lstrip("-").isdigit():
            raise ValueError(f"Cost {value!r} is not an integer amount in micros")
        return Decimal(value) / 1_000_000
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"Cost {value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"Cost {value!r} is not an amount")
    return amount
