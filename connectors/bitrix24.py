"""Bitrix24 CRM: deals (with their contact's phone) and contacts, through an incoming
webhook (REST methods `crm.deal.list` and `crm.contact.list`, JSON POST).

The webhook URL `https://{portal}/rest/{user_id}/{token}/` is the credential: the token
sits in the URL path. So the URL is a `SecretStr`, and the token is redacted from every
message that could carry it, httpx's own request log included.

Both lists are incremental on `DATE_MODIFY`, reaching back `lookback_minutes` before
`updated_since` (a deal saved while the previous run was reading, or a clock skew
between portal and us, is still picked up; landing keeps the latest version, so the
overlap costs nothing). Pages are read by keyset: order by ID, filter `>ID` the last
ID seen, `start=-1` so the portal skips the row count, stop on a page of fewer than 50.
`pagination="offset"` follows the classic `start`/`next` offsets instead, for a portal
where `start=-1` misbehaves.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base import (
    ContactRecord,
    DealRecord,
    RateLimiter,
    Retryable,
    SourceError,
    retry_after_header,
    with_retries,
)
from realtime.phones import to_e164

log = logging.getLogger(__name__)

SOURCE = "bitrix24"
ENV_PREFIX = "CALLPATH_BITRIX24_"
PAGE_SIZE = 50  # fixed by Bitrix24 for every *.list method

# UTM fields are not part of "*": they must be selected by name, as must PHONE.
DEAL_FIELDS = [
    "ID",
    "STAGE_ID",
    "STAGE_SEMANTIC_ID",
    "CATEGORY_ID",
    "OPPORTUNITY",
    "CURRENCY_ID",
    "CLOSED",
    "CLOSEDATE",
    "DATE_CREATE",
    "DATE_MODIFY",
    "ASSIGNED_BY_ID",
    "CONTACT_ID",
    "UTM_SOURCE",
    "UTM_MEDIUM",
    "UTM_CAMPAIGN",
]
CONTACT_FIELDS = ["ID", "NAME", "PHONE", "ASSIGNED_BY_ID", "DATE_MODIFY"]
STATUS_BY_SEMANTIC = {"P": "open", "S": "won", "F": "lost"}

NEW_WEBHOOK = (
    "Create a new incoming webhook in Bitrix24 (Applications → Developer resources → Other →"
    " Incoming webhook, with the CRM permission) and put its URL in"
    f" {ENV_PREFIX}WEBHOOK_URL"
)
# Groups error codes by what a person has to do about them.
_REFUSED_WEBHOOK = {"INVALID_CREDENTIALS", "NO_AUTH_FOUND", "expired_token", "invalid_token"}
_ACTIONS = {
    "insufficient_scope": "Edit the incoming webhook in Bitrix24 and give it the CRM permission",
    "ACCESS_DENIED": (
        "REST API is not active on this portal: check its plan includes REST API access,"
        " or that the webhook's user may read CRM deals and contacts"
    ),
    "OVERLOAD_LIMIT": "Bitrix24 blocked REST API for this portal by hand; ask Bitrix24 support",
    "PORTAL_DELETED": (
        f"Check the portal address in {ENV_PREFIX}WEBHOOK_URL; an on-premise portal must not"
        " have its public part closed"
    ),
    "ERROR_METHOD_NOT_FOUND": (
        f"Check the portal address in {ENV_PREFIX}WEBHOOK_URL and that the webhook has the CRM"
        " permission (without it the crm.* methods do not exist)"
    ),
    "INVALID_REQUEST": f"Use an https:// address in {ENV_PREFIX}WEBHOOK_URL",
}
_UNEXPECTED = "Bitrix24 refused what callpath sent; report this message to the callpath maintainers"

# `https://portal/rest/1/token/`, also pasted with a method after it (`.../profile.json`).
_WEBHOOK = re.compile(
    r"^(?P<base>https?://(?P<host>[^/?#\s]+)(?:/[^?#\s]*?)?/rest/\d+/[^/?#\s]+)/?"
    r"(?:[A-Za-z][\w.]*/?)?$"
)
_TOKEN_IN_PATH = re.compile(r"(/rest/\d+/)[^/\s\"'?#]+")


def _redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1***", text)


class _RedactWebhookToken(logging.Filter):
    """httpx logs every request URL at INFO, and a webhook URL carries its token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call is logging's to report, not ours
            return True
        redacted = _redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("httpx").addFilter(_RedactWebhookToken())


class Bitrix24Config(BaseSettings):
    """One portal. Read from `CALLPATH_BITRIX24_*` by `from_env()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    webhook_url: SecretStr = Field(
        description="https://{portal}/rest/{user_id}/{token}/ — holds the token: a secret."
    )
    company_id: str = Field(description="The callpath company the portal's deals belong to.")
    account: str | None = Field(None, description="Name in messages; default: the portal host.")
    lookback_minutes: float = Field(60, ge=0, description="Re-read this much before updated_since.")
    pagination: Literal["keyset", "offset"] = Field(
        "keyset", description="`keyset` (>ID, start=-1) or the classic `offset` (start/next)."
    )
    requests_per_second: float = Field(
        2.0, gt=0, description="The bucket's drain (standard plans)."
    )
    burst: int = Field(
        50, ge=1, description="The bucket's size (standard plans; Enterprise: 250/5)."
    )
    timeout_seconds: float = Field(30.0, gt=0)
    attempts: int = Field(6, ge=1, description="Tries per request before giving up.")
    base_delay_seconds: float = Field(1.0, description="First backoff; doubles per retry.")
    max_delay_seconds: float = 60.0
    max_retry_seconds: float = Field(600, description="Give up retrying one request after this.")
    phone_region: str = Field("RU", description="How to read phones typed without +country.")

    @classmethod
    def from_env(cls, env_file: str | None = ".env") -> Bitrix24Config | None:
        """The portal configured by the environment, or None when no webhook is set."""
        try:
            return cls(_env_file=env_file)
        except ValidationError as exc:
            errors = exc.errors(include_input=False)  # inputs would show the webhook URL
            if any(e["type"] == "missing" and e["loc"] == ("webhook_url",) for e in errors):
                return None
            problems = "; ".join(
                f"{ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in errors
            )
            raise SourceError(
                SOURCE, "not configured", f"invalid settings ({problems})", "Fix these variables"
            ) from None


class Bitrix24Connector:
    """A CRM connector for one portal: `fetch` deals, `fetch_contacts` contacts."""

    source = SOURCE

    def __init__(self, config: Bitrix24Config, *, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        match = _WEBHOOK.match(config.webhook_url.get_secret_value().strip())
        if match is None:
            raise SourceError(
                SOURCE,
                config.account or "unknown portal",
                f"{ENV_PREFIX}WEBHOOK_URL is not an incoming webhook URL"
                " (https://<portal>/rest/<user id>/<token>/)",
                f"Copy the webhook URL from Bitrix24 as it is shown. {NEW_WEBHOOK}",
            )
        self.account = config.account or match["host"]
        self._endpoint = match["base"] + "/"
        self._sleep = sleep
        # The portal's leaky bucket (burst, drain per second) is a token bucket of the
        # same size refilling at the drain rate: RateLimiter(50, per=25) = 50 burst, 2/s.
        self._limiter = RateLimiter(
            rate=config.burst, per=config.burst / config.requests_per_second
        )
        self._http = httpx.Client(
            timeout=httpx.Timeout(config.timeout_seconds), headers={"Accept": "application/json"}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Bitrix24Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records ----------------------------------------------------------------------

    def fetch(self, updated_since: datetime) -> Iterator[DealRecord]:
        """Deals modified since `updated_since` (minus the lookback), in ID order, each
        with its contact's first valid phone."""
        phones: dict[str, str | None] = {}  # contact id -> first phone, for this run
        for rows in self._pages("crm.deal.list", DEAL_FIELDS, updated_since):
            deals = [self._deal(row) for row in rows]
            wanted = {d.contact_id for d in deals if d.contact_id and d.contact_id not in phones}
            phones.update(self._first_phones(wanted))
            for deal in deals:
                if deal.contact_id:
                    deal.contact_phone = phones.get(deal.contact_id)
                yield deal

    def fetch_contacts(self, updated_since: datetime) -> Iterator[ContactRecord]:
        """Contacts modified since `updated_since` (minus the lookback), phones E.164."""
        for rows in self._pages("crm.contact.list", CONTACT_FIELDS, updated_since):
            yield from (self._contact(row) for row in rows)

    def _first_phones(self, contact_ids: set[str]) -> dict[str, str | None]:
        """The first valid phone of each contact; one request per 50 contacts."""
        found: dict[str, str | None] = dict.fromkeys(contact_ids)  # deleted contact: None
        ordered = sorted(contact_ids, key=int)
        for i in range(0, len(ordered), PAGE_SIZE):
            params = {
                "select": ["ID", "PHONE"],
                "filter": {"@ID": ordered[i : i + PAGE_SIZE]},
                "order": {"ID": "ASC"},
                "start": -1,
            }
            for row in self._result("crm.contact.list", self._call("crm.contact.list", params)):
                contact_id = self._id("contact", row)
                try:
                    phones = self._phones(row)
                except ValueError as exc:
                    raise self._malformed("contact", contact_id, exc) from None
                found[contact_id] = phones[0] if phones else None
        return found

    def _deal(self, row: dict[str, Any]) -> DealRecord:
        deal_id = self._id("deal", row)
        try:
            semantic = _text(row.get("STAGE_SEMANTIC_ID"))
            status = STATUS_BY_SEMANTIC.get(semantic or "")
            if status is None:
                raise ValueError(f"STAGE_SEMANTIC_ID {semantic!r} is not P, S or F")
            # For an open deal CLOSEDATE is the planned close date, not a close.
            closed = _timestamp(row, "CLOSEDATE", required=False) if status != "open" else None
            return DealRecord(
                crm="bitrix24",
                deal_id=deal_id,
                company_id=self.config.company_id,
                created_at=_timestamp(row, "DATE_CREATE"),
                updated_at=_timestamp(row, "DATE_MODIFY"),
                closed_at=closed,
                status=status,
                amount=_amount(row.get("OPPORTUNITY")),
                currency=_currency(row.get("CURRENCY_ID")),
                contact_id=_ref(row, "CONTACT_ID"),
                responsible_user_id=_ref(row, "ASSIGNED_BY_ID"),
                utm_source=_text(row.get("UTM_SOURCE")),
                utm_medium=_text(row.get("UTM_MEDIUM")),
                utm_campaign=_text(row.get("UTM_CAMPAIGN")),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError too
            raise self._malformed("deal", deal_id, exc) from None

    def _contact(self, row: dict[str, Any]) -> ContactRecord:
        contact_id = self._id("contact", row)
        try:
            return ContactRecord(
                crm="bitrix24",
                contact_id=contact_id,
                company_id=self.config.company_id,
                phones=self._phones(row),
                name=_text(row.get("NAME")),
                responsible_user_id=_ref(row, "ASSIGNED_BY_ID"),
                updated_at=_timestamp(row, "DATE_MODIFY"),
            )
        except ValueError as exc:
            raise self._malformed("contact", contact_id, exc) from None

    def _phones(self, row: dict[str, Any]) -> list[str]:
        """PHONE is a list of {VALUE, VALUE_TYPE}; a contact without phones omits it.
        A number that is not a phone ("нет", "123") is skipped, not fatal: managers type
        these by hand, and one of them must not stop the whole sync."""
        entries = row.get("PHONE") or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("PHONE is not a list of {VALUE, VALUE_TYPE}")
        phones = [to_e164(e.get("VALUE"), self.config.phone_region) for e in entries]
        if None in phones:
            log.warning(
                "bitrix24 [%s]: contact %s: %d of %d phones are not valid numbers, skipped",
                self.account,
                row.get("ID"),
                phones.count(None),
                len(phones),
            )
        return list(dict.fromkeys(p for p in phones if p))

    def _id(self, kind: str, row: dict[str, Any]) -> str:
        value = _text(row.get("ID"))
        if value is None or not value.isdigit():
            raise SourceError(
                SOURCE,
                self.account,
                f"a {kind} has no numeric ID (ID={row.get('ID')!r})",
                _UNEXPECTED,
            )
        return value

    def _malformed(self, kind: str, record_id: str, exc: Exception) -> SourceError:
        return SourceError(
            SOURCE,
            self.account,
            f"{kind} {record_id} is malformed: {exc}",
            f"Correct {kind} {record_id} in Bitrix24 (or report this message if the value looks"
            " right); nothing from this run was landed",
        )

    # -- paging -----------------------------------------------------------------------

    def _pages(
        self, method: str, select: list[str], updated_since: datetime
    ) -> Iterator[list[dict[str, Any]]]:
        if updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=UTC)
        since = updated_since - timedelta(minutes=self.config.lookback_minutes)
        where: dict[str, Any] = {">=DATE_MODIFY": since.isoformat(timespec="seconds")}
        params = {"select": select, "filter": where, "order": {"ID": "ASC"}}
        if self.config.pagination == "offset":
            yield from self._offset_pages(method, params)
            return
        # Keyset: cheaper than offsets (no count, no deep OFFSET scan on the portal) and
        # stable while deals change under us. A `next`/`total` in the answer (a portal
        # that counts anyway) is ignored: `>ID` alone moves us on.
        last_id = 0
        while True:
            body = self._call(method, {**params, "filter": {**where, ">ID": last_id}, "start": -1})
            rows = self._result(method, body)
            yield rows
            if len(rows) < PAGE_SIZE:
                return
            page_last = int(self._id("row", rows[-1]))
            if page_last <= last_id:  # the portal ignored >ID: we would loop forever
                raise SourceError(
                    SOURCE,
                    self.account,
                    f"{method} returned ID {page_last} after asking for IDs above {last_id}",
                    f"Set {ENV_PREFIX}PAGINATION=offset for this portal",
                )
            last_id = page_last

    def _offset_pages(self, method: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        start = 0
        while True:
            body = self._call(method, {**params, "start": start})
            rows = self._result(method, body)
            yield rows
            next_start = body.get("next")
            if next_start is None or not rows:
                return
            if not str(next_start).isdigit() or int(next_start) <= start:
                raise SourceError(
                    SOURCE, self.account, f"{method} answered next={next_start!r}", _UNEXPECTED
                )
            start = int(next_start)

    def _result(self, method: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        rows = body["result"]
        if not all(isinstance(row, dict) for row in rows):
            raise SourceError(
                SOURCE, self.account, f"{method} returned non-object rows", _UNEXPECTED
            )
        return rows

    # -- transport --------------------------------------------------------------------

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        url = self._endpoint + method

        def attempt() -> dict[str, Any]:
            self._limiter.acquire()
            try:
                response = self._http.post(url, json=params)
            except httpx.TransportError as exc:
                # Retried like any network error, with a message that cannot quote the URL.
                raise Retryable(f"{method}: {type(exc).__name__}: {_redact(str(exc))}") from None
            return self._answer(method, response)

        return with_retries(
            attempt,
            source=SOURCE,
            account=self.account,
            attempts=self.config.attempts,
            max_seconds=self.config.max_retry_seconds,
            base_delay=self.config.base_delay_seconds,
            max_delay=self.config.max_delay_seconds,
            sleep=self._sleep,
            action="Try again later; if it keeps failing, check that the portal opens in a browser",
        )

    def _answer(self, method: str, response: httpx.Response) -> dict[str, Any]:
        """The JSON body of a success; otherwise Retryable (limits, 5xx) or SourceError."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        error = str(body.get("error") or "")
        if status == 200 and not error:
            if isinstance(body.get("result"), list):
                return body
            raise SourceError(
                SOURCE,
                self.account,
                f"{method} answered HTTP 200 without a list of results",
                f"Check that {ENV_PREFIX}WEBHOOK_URL is the portal's webhook URL",
            )
        description = str(body.get("error_description") or "")
        what = f"{method}: HTTP {status}{f' {error}' if error else ''}"
        what += f" ({description})" if description else ""
        if error == "QUERY_LIMIT_EXCEEDED":  # the leaky bucket is full: it drains 2/s
            raise Retryable(what, retry_after_header(response))
        if status == 429 or error == "OPERATION_TIME_LIMIT":
            # A method over 480 s of run time in 10 minutes stays blocked until its
            # window rolls on. Failing beats holding a worker for minutes; the next run
            # re-reads from updated_since, so nothing is lost.
            raise SourceError(
                SOURCE,
                self.account,
                f"{what}: Bitrix24 blocks a method that used over 480 s of run time in 10 minutes",
                "Run again in about 10 minutes (the block lifts by itself); if it recurs, sync"
                f" less often or lower {ENV_PREFIX}LOOKBACK_MINUTES",
            )
        if error in _REFUSED_WEBHOOK:
            raise SourceError(SOURCE, self.account, f"the webhook was refused: {what}", NEW_WEBHOOK)
        if error in _ACTIONS:
            raise SourceError(SOURCE, self.account, what, _ACTIONS[error])
        if status >= 500 or status == 408:
            raise Retryable(what, retry_after_header(response))
        if status in (401, 403):
            raise SourceError(SOURCE, self.account, f"the webhook was refused: {what}", NEW_WEBHOOK)
        if 300 <= status < 400:  # e.g. http -> https, or a renamed portal
            raise SourceError(
                SOURCE,
                self.account,
                f"{what}: the portal redirects elsewhere",
                f"Put the portal's current https:// address in {ENV_PREFIX}WEBHOOK_URL",
            )
        if status == 404:
            raise SourceError(SOURCE, self.account, what, _ACTIONS["ERROR_METHOD_NOT_FOUND"])
        raise SourceError(SOURCE, self.account, what, _UNEXPECTED)


# -- values: every value arrives as a string ----------------------------------------------


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _ref(row: dict[str, Any], field: str) -> str | None:
    """An ID pointing elsewhere (contact, user); empty or "0" means none."""
    value = _text(row.get(field))
    if value is None or value == "0":
        return None
    if not value.isdigit():
        raise ValueError(f"{field} {value!r} is not an ID")
    return value


def _timestamp(row: dict[str, Any], field: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 with the portal's UTC offset, e.g. 2025-01-01T10:00:00+03:00."""
    value = _text(row.get(field))
    if value is None:
        if required:
            raise ValueError(f"{field} is empty")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{field} {value!r} has no UTC offset")
    return parsed


def _amount(value: Any) -> Decimal:
    """OPPORTUNITY, e.g. "19999.99"; a deal without an amount has "0.00" or nothing."""
    text = _text(value)
    if text is None:
        return Decimal(0)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"OPPORTUNITY {text!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"OPPORTUNITY {text!r} is not a number")
    return amount


def _currency(value: Any) -> str:
    text = _text(value)
    if text is None or not re.fullmatch(r"[A-Z]{3}", text):
        raise ValueError(f"CURRENCY_ID {value!r} is not an ISO 4217 code")
    return text
