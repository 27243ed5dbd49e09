"""amoCRM API v4: leads (our deals) and contacts changed since a point in time.

- Leads: `GET /api/v4/leads?with=contacts&order[updated_at]=asc&filter[updated_at]...`,
  following `_links.next` until it is missing (an empty page is a 204 without a body).
  The filter is documented as unreliable on some accounts, so every row is also
  filtered here.
- Status: 142 is won and 143 is lost in every pipeline; any other status of a known
  pipeline is open. `GET /api/v4/leads/pipelines` tells which statuses exist.
- Phones: each page's main contacts are fetched by id (`filter[id][]`) so that a deal
  carries its contact's first phone, even when the contact itself did not change.
- Auth: a long-lived token, or an OAuth pair refreshed on 401. The refresh token is
  single-use: the new pair is written to `token_path` atomically before it is used.
- 7 requests/second (the published limit); 429 and 5xx are retried, honouring
  `Retry-After`; 402/403 stop with what to do.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
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

SOURCE = "amocrm"
WON, LOST = 142, 143  # the same ids in every pipeline
# Contacts asked for by id per request: 50 ids keep the query string far below the
# 8 KB URL limits of common proxies (250 would not).
CONTACT_IDS_PER_REQUEST = 50
REAUTHORISE = (
    "Re-authorise the integration: in amoCRM open Settings → Integrations → your "
    "integration, issue a new authorisation code, exchange it for a token pair and put "
    "it in CALLPATH_AMOCRM_ACCESS_TOKEN / CALLPATH_AMOCRM_REFRESH_TOKEN (or use a "
    "long-lived token, CALLPATH_AMOCRM_LONG_LIVED_TOKEN)"
)

Target = Literal["utm_source", "utm_medium", "utm_campaign", "session_id"]
# amoCRM's own UTM fields carry these codes on every account that has them.
DEFAULT_FIELD_MAP: dict[str, Target] = {
    "UTM_SOURCE": "utm_source",
    "UTM_MEDIUM": "utm_medium",
    "UTM_CAMPAIGN": "utm_campaign",
}


class AmoCrmConfig(BaseModel):
    """One amoCRM account. Either `long_lived_token`, or the OAuth set: `client_id`,
    `client_secret`, `redirect_uri`, `refresh_token` (and `access_token` if at hand)."""

    company_id: str = Field(description="The callpath company these deals belong to.")
    subdomain: str | None = Field(None, description="`acme` for https://acme.amocrm.ru.")
    base_url: str | None = Field(None, description="Overrides https://{subdomain}.amocrm.ru.")
    account: str | None = Field(None, description="Name in raw tables and errors; default host.")
    long_lived_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: str | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_path: Path = Field(
        Path("var/amocrm_tokens.json"),
        description="Where the latest OAuth pair lives (mode 0600); survives restarts.",
    )
    lookback: timedelta = Field(
        timedelta(hours=2),
        description="Pull from `updated_since - lookback`: covers rows that moved between "
        "pages during the previous pull and clock skew. Re-pulled rows land idempotently.",
    )
    field_map: dict[str, Target] = Field(
        default_factory=lambda: dict(DEFAULT_FIELD_MAP),
        description="Lead custom field code or numeric field id → the DealRecord field.",
    )
    currency: str = "RUB"
    phone_region: str = "RU"
    page_size: int = Field(250, ge=1, le=250)
    timeout_seconds: float = 30.0
    requests_per_second: float = 7.0
    retry_attempts: int = 6
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    retry_max_seconds: float = 600.0

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if not (self.subdomain or self.base_url):
            raise ValueError("set CALLPATH_AMOCRM_SUBDOMAIN (or CALLPATH_AMOCRM_BASE_URL)")
        oauth = (self.client_id, self.client_secret, self.redirect_uri, self.refresh_token)
        if self.long_lived_token is not None:
            if self.refresh_token is not None:
                raise ValueError("set a long-lived token or an OAuth pair, not both")
        elif not all(oauth):
            raise ValueError(
                "set CALLPATH_AMOCRM_LONG_LIVED_TOKEN, or CALLPATH_AMOCRM_CLIENT_ID, "
                "_CLIENT_SECRET, _REDIRECT_URI and _REFRESH_TOKEN"
            )
        return self

    @property
    def url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.amocrm.ru").rstrip("/")

    @property
    def account_name(self) -> str:
        return self.account or urlsplit(self.url).netloc

    @classmethod
    def from_env(cls) -> AmoCrmConfig | None:
        """From `CALLPATH_AMOCRM_*` (and `.env`); None when no account is configured."""
        probe = _Probe()
        if not (probe.subdomain or probe.base_url):
            return None
        try:
            return cls.model_validate(_Env().model_dump())
        except ValidationError as exc:
            # loc and msg only: pydantic's full text repeats the input, secrets included.
            problem = "; ".join(
                " ".join([*(f"CALLPATH_AMOCRM_{str(p).upper()}" for p in e["loc"][:1]), e["msg"]])
                for e in exc.errors()
            )
            raise SourceError(
                SOURCE,
                probe.subdomain or str(probe.base_url),
                f"incomplete configuration: {problem}",
                "Set the variables listed in docs/connectors/amocrm.md",
            ) from None


_ENV = SettingsConfigDict(env_prefix="CALLPATH_AMOCRM_", env_file=".env", extra="ignore")


class _Probe(BaseSettings):
    """Is an account configured at all? (Read before validating the rest.)"""

    model_config = _ENV
    subdomain: str | None = None
    base_url: str | None = None


class _Env(BaseSettings, AmoCrmConfig):
    model_config = _ENV


class AmoCrmConnector:
    """`fetch(updated_since)` → DealRecord, `fetch_contacts(updated_since)` → ContactRecord."""

    source = SOURCE

    def __init__(
        self,
        config: AmoCrmConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.account = config.account_name
        self._sleep, self._now = sleep, now
        self._origin = httpx.URL(config.url)
        self._http = httpx.Client(
            base_url=config.url,
            timeout=config.timeout_seconds,
            headers={"Accept": "application/hal+json, application/json", "User-Agent": "callpath"},
        )
        self._limiter = RateLimiter(config.requests_per_second, 1.0)
        self._token_lock = threading.Lock()
        self._access: str | None = None
        self._load_tokens()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- records -------------------------------------------------------------------

    def fetch(self, updated_since: datetime) -> Iterator[DealRecord]:
        since = _utc(updated_since) - self.config.lookback
        statuses = self._statuses()
        phones: dict[int, list[str]] = {}  # contact id → phones, across pages
        looked_again = False
        params = {**self._window(since), "with": "contacts"}
        for leads in self._pages("/api/v4/leads", params, "leads"):
            # Filter here as well: some accounts ignore filter[updated_at].
            page = [
                lead
                for lead in leads
                if self._time(lead, "updated_at", "lead") >= since and not lead.get("is_deleted")
            ]
            wanted = {c for lead in page if (c := _main_contact(lead)) is not None}
            self._load_phones(wanted - phones.keys(), phones)
            for lead in page:
                status_id = lead.get("status_id")
                if status_id not in statuses | {WON, LOST} and not looked_again:
                    statuses, looked_again = self._statuses(), True  # added since we looked
                yield self._deal(lead, statuses, phones)

    def fetch_contacts(self, updated_since: datetime) -> Iterator[ContactRecord]:
        since = _utc(updated_since) - self.config.lookback
        for contacts in self._pages("/api/v4/contacts", self._window(since), "contacts"):
            for contact in contacts:
                updated = self._time(contact, "updated_at", "contact")
                if updated < since:
                    continue
                yield ContactRecord(
                    crm="amocrm",
                    contact_id=str(contact["id"]),
                    company_id=self.config.company_id,
                    phones=self._phones(contact),
                    name=contact.get("name") or None,
                    responsible_user_id=_str_or_none(contact.get("responsible_user_id")),
                    updated_at=updated,
                )

    def _window(self, since: datetime) -> dict[str, Any]:
        return {
            "page": 1,
            "limit": self.config.page_size,
            "order[updated_at]": "asc",
            "filter[updated_at][from]": int(since.timestamp()),
            "filter[updated_at][to]": int(self._now().timestamp()),
        }

    def _time(self, row: dict, key: str, kind: str) -> datetime:
        value = row.get(key)
        try:
            if isinstance(value, bool):
                raise ValueError
            return datetime.fromtimestamp(int(value), UTC)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError, OSError):
            raise self._bad_row(
                kind, row.get("id"), f"{key} {value!r} is not a Unix time"
            ) from None

    def _deal(self, lead: dict, statuses: set[int], phones: dict[int, list[str]]) -> DealRecord:
        lead_id = lead.get("id")
        status_id = lead.get("status_id")
        if status_id == WON:
            status = "won"
        elif status_id == LOST:
            status = "lost"
        elif status_id in statuses:
            status = "open"
        else:
            raise self._bad_row(
                "lead",
                lead_id,
                f"status {status_id!r} is in none of the account's pipelines",
                f"Check that the integration's user can see pipeline {lead.get('pipeline_id')}",
            )
        price = lead.get("price")
        try:
            if isinstance(price, bool):
                raise InvalidOperation
            amount = Decimal(str(price)) if price not in (None, "") else Decimal(0)
            if not amount.is_finite() or amount < 0:
                raise InvalidOperation
        except InvalidOperation:
            raise self._bad_row("lead", lead_id, f"price {price!r} is not an amount") from None
        updated = self._time(lead, "updated_at", "lead")
        closed = None
        if status != "open":
            # A won/lost lead without closed_at (imported, API-created) closed at its
            # last change, as far as anyone can tell.
            closed = self._time(lead, "closed_at", "lead") if lead.get("closed_at") else updated
        contact = _main_contact(lead)
        fields = self._mapped_fields(lead)
        try:
            return DealRecord(
                crm="amocrm",
                deal_id=str(lead_id),
                company_id=self.config.company_id,
                created_at=self._time(lead, "created_at", "lead"),
                updated_at=updated,
                closed_at=closed,
                status=status,
                amount=amount,
                currency=self.config.currency,
                contact_id=str(contact) if contact is not None else None,
                contact_phone=next(iter(phones.get(contact, [])), None),
                responsible_user_id=_str_or_none(lead.get("responsible_user_id")),
                **fields,
            )
        except ValidationError as exc:
            raise self._bad_row("lead", lead_id, exc.errors()[0]["msg"]) from None

    def _mapped_fields(self, lead: dict) -> dict[str, str]:
        mapping = self.config.field_map
        out: dict[str, str] = {}
        for field in lead.get("custom_fields_values") or []:
            # An id is exact; a code is what a stock field (UTM_SOURCE) has everywhere.
            target = mapping.get(str(field.get("field_id"))) or mapping.get(
                str(field.get("field_code"))
            )
            values = field.get("values") or []
            if target and values and target not in out:
                value = str(values[0].get("value") or "").strip()
                if value:
                    out[target] = value
        return out

    def _phones(self, contact: dict) -> list[str]:
        phones: list[str] = []
        for field in contact.get("custom_fields_values") or []:
            if field.get("field_code") != "PHONE":
                continue
            for value in field.get("values") or []:
                # Phones are typed by hand; one that is not a number is skipped, not fatal.
                phone = to_e164(value.get("value"), self.config.phone_region)
                if phone and phone not in phones:
                    phones.append(phone)
        return phones

    def _load_phones(self, ids: set[int], into: dict[int, list[str]]) -> None:
        ordered = sorted(ids)
        size = CONTACT_IDS_PER_REQUEST
        for start in range(0, len(ordered), size):
            chunk = ordered[start : start + size]
            params = {"limit": self.config.page_size, "page": 1, "filter[id][]": chunk}
            for contacts in self._pages("/api/v4/contacts", params, "contacts"):
                for contact in contacts:
                    into[contact["id"]] = self._phones(contact)
            for missing in chunk:  # deleted contacts: remember, do not ask again
                into.setdefault(missing, [])

    def _statuses(self) -> set[int]:
        body = self._get("/api/v4/leads/pipelines")
        pipelines = ((body or {}).get("_embedded") or {}).get("pipelines") or []
        return {
            status["id"]
            for pipeline in pipelines
            for status in (pipeline.get("_embedded") or {}).get("statuses") or []
        }

    def _bad_row(self, kind: str, row_id: Any, problem: str, action: str = "") -> SourceError:
        return SourceError(
            SOURCE,
            self.account,
            f"{kind} {row_id}: {problem}",
            (action + "; " if action else "")
            + f"fix the {kind} in amoCRM and run again. Nothing from this run was landed",
        )

    # ---- HTTP ----------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, Any], key: str) -> Iterator[list[dict]]:
        url: str = path
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        while True:
            body = self._get(url, query)
            if body is None:  # 204: nothing (more) to read
                return
            yield (body.get("_embedded") or {}).get(key) or []
            href = ((body.get("_links") or {}).get("next") or {}).get("href")
            if not href:
                return
            # Keep path and query, but always talk to the configured origin: the bearer
            # token goes nowhere else.
            url, query = httpx.URL(href).raw_path.decode("ascii"), None
            if url in seen:
                raise SourceError(
                    SOURCE, self.account, f"{path}: `_links.next` loops back to {url}",
                    "Report it to amoCRM support; try a smaller CALLPATH_AMOCRM_PAGE_SIZE",
                )  # fmt: skip
            seen.add(url)

    def _get(self, url: str, params: dict[str, Any] | None = None) -> dict | None:
        if self._access is None:
            self._refresh(stale=None)
        refreshed = False
        while True:
            token = self._access
            response = self._with_retries(
                lambda token=token: self._send(
                    "GET", url, params=params, headers={"Authorization": f"Bearer {token}"}
                )
            )
            if response.status_code != 401:
                return self._body(response)
            if self.config.long_lived_token is not None:
                raise SourceError(
                    SOURCE,
                    self.account,
                    f"the long-lived token was refused ({_problem(response)})",
                    "Issue a new long-lived token in amoCRM (Settings → Integrations → your "
                    "private integration → Keys and scopes) and set "
                    "CALLPATH_AMOCRM_LONG_LIVED_TOKEN",
                )
            if refreshed:
                raise SourceError(
                    SOURCE,
                    self.account,
                    f"a freshly refreshed access token was refused ({_problem(response)})",
                    REAUTHORISE,
                )
            self._refresh(stale=token)
            refreshed = True

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self._limiter.acquire()
        response = self._http.request(method, url, **kwargs)
        if response.status_code == 429 or response.status_code >= 500:
            raise Retryable(
                f"{response.status_code} from {response.request.url.path}: {_problem(response)}",
                retry_after_header(response),
            )
        return response

    def _with_retries(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        c = self.config
        return with_retries(
            call,
            source=SOURCE,
            account=self.account,
            attempts=c.retry_attempts,
            max_seconds=c.retry_max_seconds,
            base_delay=c.retry_base_delay,
            max_delay=c.retry_max_delay,
            sleep=self._sleep,
            action=f"amoCRM at {self._origin.host} did not answer; try again later and check "
            "the network path to it. Nothing from this run was landed",
        )

    def _body(self, response: httpx.Response) -> dict | None:
        status = response.status_code
        if status == 204:
            return None
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise SourceError(
                    SOURCE, self.account,
                    f"{response.request.url.path} answered 200 with a body that is not JSON",
                    f"Check CALLPATH_AMOCRM_BASE_URL ({self._origin}) points at amoCRM",
                )  # fmt: skip
            return body
        problem = f"{status} from {response.request.url.path}: {_problem(response)}"
        if status == 402:
            action = "The amoCRM subscription has lapsed: renew it; the next run catches up"
        elif status == 403:
            action = (
                "amoCRM refuses this server's IP: if the account has an API IP whitelist "
                "(Settings → Security), add this server's address; if it is a block for "
                "exceeding 7 requests/second, pause scheduled runs for this account and "
                "ask amoCRM support to lift it. Retrying now would extend the block"
            )
        elif status == 404:
            action = f"Check CALLPATH_AMOCRM_SUBDOMAIN / _BASE_URL ({self._origin})"
        else:
            action = "This request is not one amoCRM accepts; report it with this message"
        raise SourceError(SOURCE, self.account, problem, action)

    # ---- OAuth ---------------------------------------------------------------------

    def _load_tokens(self) -> None:
        c = self.config
        if c.long_lived_token is not None:
            self._access = c.long_lived_token.get_secret_value()
            return
        stored = self._stored_pair()
        if stored is not None:
            self._access = stored["access_token"]
        elif c.access_token is not None:
            self._access = c.access_token.get_secret_value()

    def _seed(self) -> str:
        """Which configured refresh token a stored pair descends from. A new pair in the
        environment (re-authorisation) then wins over an older stored one."""
        assert self.config.refresh_token is not None
        return hashlib.sha256(self.config.refresh_token.get_secret_value().encode()).hexdigest()

    def _stored_pair(self) -> dict | None:
        path = self.config.token_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SourceError(
                SOURCE,
                self.account,
                f"cannot read the token file {path}: {exc.__class__.__name__}",
                f"Fix its permissions, or delete it. {REAUTHORISE}",
            ) from None
        if not isinstance(data, dict) or data.get("seeded_from") != self._seed():
            return None
        if not (data.get("access_token") and data.get("refresh_token")):
            return None
        return data

    def _refresh(self, stale: str | None) -> None:
        """Trade the refresh token for a new pair, store it, then use it. Under a lock
        (threads and processes): the refresh token is single-use, and a second
        refresher with the same one would be refused."""
        c = self.config
        if c.long_lived_token is not None:  # pragma: no cover - guarded by _get
            return
        with self._token_lock, _file_lock(c.token_path):
            stored = self._stored_pair()
            if stored is not None and stored["access_token"] != stale:
                self._access = stored["access_token"]  # someone else refreshed already
                return
            refresh_token = (
                stored["refresh_token"] if stored else c.refresh_token.get_secret_value()  # type: ignore[union-attr]
            )
            response = self._with_retries(
                lambda: self._send(
                    "POST",
                    "/oauth2/access_token",
                    json={
                        "client_id": c.client_id,
                        "client_secret": c.client_secret.get_secret_value(),  # type: ignore[union-attr]
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "redirect_uri": c.redirect_uri,
                    },
                )
            )
            if response.status_code != 200:
                raise SourceError(
                    SOURCE,
                    self.account,
                    f"amoCRM refused to refresh the access token ({response.status_code}: "
                    f"{_problem(response)})",
                    REAUTHORISE,
                )
            try:
                pair = response.json()
                access, refresh = str(pair["access_token"]), str(pair["refresh_token"])
                expires_in = int(pair.get("expires_in") or 0)
            except (ValueError, KeyError, TypeError):
                raise SourceError(
                    SOURCE, self.account, "the token refresh answer has no token pair",
                    REAUTHORISE,
                ) from None  # fmt: skip
            now = self._now()
            record = {
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": int((now + timedelta(seconds=expires_in)).timestamp()),
                "refreshed_at": int(now.timestamp()),
                "seeded_from": self._seed(),
            }
            try:
                _write_atomically(c.token_path, record)
            except OSError as exc:
                raise SourceError(
                    SOURCE, self.account,
                    f"the new token pair could not be saved to {c.token_path}: {exc.strerror}",
                    f"Make the directory writable; the old refresh token is spent. {REAUTHORISE}",
                ) from None  # fmt: skip
            self._access = access


@contextmanager
def _file_lock(token_path: Path) -> Iterator[None]:
    token_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_path.with_name(token_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, data: dict) -> None:
    """Readers see the old file or the new one, never half of one; a crash after
    `os.replace` keeps the new pair (fsync of the file and of its directory)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # mkstemp's default, stated: the file holds secrets
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _problem(response: httpx.Response) -> str:
    """The `application/problem+json` title/detail/hint, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = [str(body[k]) for k in ("title", "detail", "hint") if body.get(k)]
    return ": ".join(parts) or json.dumps(body)[:200]


def _main_contact(lead: dict) -> int | None:
    contacts = (lead.get("_embedded") or {}).get("contacts") or []
    main = next((c for c in contacts if c.get("is_main")), contacts[0] if contacts else None)
    return main.get("id") if main else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "", 0) else str(value)
