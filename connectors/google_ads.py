"""Google Ads spend through the official `google-ads` client (API v26): one GAQL
SearchStream per customer, campaign by day, for a date range.

A manager account (`login_customer_id`) reads several client accounts: each customer
id in the config becomes its own connector (`GoogleAdsConnector.for_each_customer`),
so each lands and fails on its own and `account` is the customer id. Spend is
`cost_micros / 1e6` in the customer's currency, on days in the customer's time zone.

The client is built by an injectable factory: in production from a refresh token
(`GoogleAdsClient.load_from_dict`, which refreshes the OAuth token at once); with a
static `access_token` directly, without any OAuth call (the local fake and the demo).
Both share the fetch code below.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import grpc
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.base import RateLimiter, Retryable, SourceError, SpendRecord, with_retries

SOURCE = "google_ads"
ENV_PREFIX = "CALLPATH_GOOGLE_ADS_"
API_VERSION = "v26"  # the newest the installed google-ads 34 ships (v23–v26)
FAILURE_KEY = f"google.ads.googleads.{API_VERSION}.errors.googleadsfailure-bin"
QUERY = (
    "SELECT segments.date, campaign.id, campaign.name, campaign.tracking_url_template, "
    "campaign.final_url_suffix, customer.currency_code, metrics.cost_micros, "
    "metrics.clicks, metrics.impressions "
    "FROM campaign WHERE segments.date BETWEEN '{start}' AND '{end}'"
)
# Status codes Google documents as transient. RESOURCE_EXHAUSTED and INTERNAL reach us
# as a raw grpc.RpcError (the library never wraps those two), the others may too.
RETRY_STATUSES = frozenset({
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
})  # fmt: skip
RETRY_QUOTA = frozenset({"RESOURCE_TEMPORARILY_EXHAUSTED", "RESOURCE_EXHAUSTED"})
RETRY_ERRORS = frozenset({"internal_error", "database_error"})

FIX_CUSTOMERS = (
    f"Check {ENV_PREFIX}CUSTOMER_IDS and {ENV_PREFIX}LOGIN_CUSTOMER_ID: the OAuth user must "
    "have access to each customer, and a client account is read through its manager "
    "(set the manager's id as the login customer id)"
)
RENEW_OAUTH = (
    f"Renew the OAuth refresh token (scope https://www.googleapis.com/auth/adwords) and set "
    f"{ENV_PREFIX}REFRESH_TOKEN"
)
# (ErrorCode field, enum name) → what a person must do. Unknown errors of these kinds
# get the kind's default below.
ACTIONS = {
    ("authentication_error", "DEVELOPER_TOKEN_INVALID"): (
        f"Check {ENV_PREFIX}DEVELOPER_TOKEN: copy it from API Center of the manager account "
        "(Google Ads → Tools → API Center)"
    ),
    ("authorization_error", "DEVELOPER_TOKEN_NOT_APPROVED"): (
        "The developer token has test access only: apply for Basic access in API Center"
    ),
    ("authorization_error", "DEVELOPER_TOKEN_PROHIBITED"): (
        "This developer token may not be used with this Google Cloud project: use the "
        "project the token was approved for"
    ),
    ("authorization_error", "USER_PERMISSION_DENIED"): FIX_CUSTOMERS,
    ("authorization_error", "CUSTOMER_NOT_ENABLED"): (
        f"The account is not enabled (cancelled or never set up): remove it from "
        f"{ENV_PREFIX}CUSTOMER_IDS or re-enable it"
    ),
    ("request_error", "INVALID_CUSTOMER_ID"): FIX_CUSTOMERS,
}
KIND_ACTIONS = {
    "authentication_error": RENEW_OAUTH,
    "authorization_error": FIX_CUSTOMERS,
}
AUTH_STATUSES = {
    grpc.StatusCode.UNAUTHENTICATED: RENEW_OAUTH,
    grpc.StatusCode.PERMISSION_DENIED: FIX_CUSTOMERS,
}
DEFAULT_ACTION = (
    "The Google Ads API refused the request; report it to the callpath maintainers with "
    "the request id above"
)
GAVE_UP = (
    "Google Ads kept failing; run the load again later (re-landing is idempotent), and "
    "check https://ads.google.com/status if it persists"
)


class GoogleAdsConfig(BaseSettings):
    """`CALLPATH_GOOGLE_ADS_*`. `customer_ids` is comma-separated (dashes allowed).
    Credentials: `client_id` + `client_secret` + `refresh_token` (production), or a
    static `access_token` (the local fake, the demo)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    developer_token: SecretStr = Field(description="From API Center of the manager account.")
    customer_ids: Annotated[list[str], NoDecode] = Field(
        min_length=1, description="The accounts to read, one SearchStream each."
    )
    login_customer_id: str | None = Field(
        None, description="The manager account the customers are read through."
    )
    client_id: str | None = Field(None, description="OAuth client (Google Cloud project).")
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token, adwords scope.")
    access_token: SecretStr | None = Field(
        None, description="A static bearer token instead of OAuth: the local fake and the demo."
    )
    endpoint: str | None = Field(
        None, description="host:port; default googleads.googleapis.com (the fake: 127.0.0.1:PORT)."
    )
    timeout_seconds: float = Field(600.0, gt=0, description="Deadline of one whole stream.")
    requests_per_second: float = Field(
        1.0, gt=0, description="Client-side limit; Google publishes no fixed QPS (see docs)."
    )
    max_attempts: int = Field(6, ge=1, description="Tries per customer on transient errors.")
    base_delay: float = Field(2.0, ge=0, description="Backoff base (seconds) without a hint.")
    max_retry_delay: float = Field(
        300.0, ge=0, description="A quota retry_delay longer than this fails instead of waiting."
    )

    @field_validator("customer_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [_customer_id(str(v)) for v in value if str(v).strip()]
        return value

    @field_validator("login_customer_id", mode="before")
    @classmethod
    def _login_id(cls, value: object) -> object:
        return _customer_id(value) if isinstance(value, str) and value.strip() else None

    @model_validator(mode="after")
    def _credentials(self) -> GoogleAdsConfig:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if self.access_token is None and not all(oauth):
            raise ValueError("set client_id, client_secret and refresh_token (or access_token)")
        return self

    @classmethod
    def from_env(cls) -> GoogleAdsConfig | None:
        """The config from the environment (and `.env`), or None when no developer token
        is set. Errors name the variables only: pydantic would echo secret values."""
        try:
            return cls()
        except ValidationError as exc:
            errors = exc.errors()
            if any(e["loc"] == ("developer_token",) and e["type"] == "missing" for e in errors):
                return None
            fields = ", ".join(
                f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper() or 'CREDENTIALS'}"
                for e in errors
            )
            raise SourceError(
                SOURCE, "config", f"invalid settings: {fields}", f"Fix {fields} in the environment"
            ) from None


def _customer_id(value: str) -> str:
    digits = value.replace("-", "").strip()
    if not (digits.isdigit() and len(digits) == 10):
        raise ValueError(f"{value!r} is not a customer id (10 digits, e.g. 123-456-7890)")
    return digits


def build_client(config: GoogleAdsConfig) -> Any:
    """A GoogleAdsClient for `config`. With a static access token it is built directly
    (no OAuth call: `load_from_dict` would refresh against Google at once)."""
    import google.oauth2.credentials
    from google.ads.googleads.client import GoogleAdsClient

    if config.access_token is not None:
        return GoogleAdsClient(
            credentials=google.oauth2.credentials.Credentials(
                token=config.access_token.get_secret_value()
            ),
            developer_token=config.developer_token.get_secret_value(),
            endpoint=config.endpoint,
            login_customer_id=config.login_customer_id,
            use_proto_plus=True,
            version=API_VERSION,
        )
    settings = {
        "developer_token": config.developer_token.get_secret_value(),
        "client_id": config.client_id,
        "client_secret": config.client_secret.get_secret_value(),  # type: ignore[union-attr]
        "refresh_token": config.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        "use_proto_plus": True,
    }
    if config.login_customer_id:
        settings["login_customer_id"] = config.login_customer_id
    if config.endpoint:
        settings["endpoint"] = config.endpoint
    return GoogleAdsClient.load_from_dict(settings, version=API_VERSION)


class GoogleAdsApi:
    """The GoogleAdsService of one client, built on first use and shared by the
    customers of a config: runs a SearchStream, rate-limited and retried."""

    def __init__(
        self,
        config: GoogleAdsConfig,
        *,
        client_factory: Callable[[GoogleAdsConfig], Any] = build_client,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.client_factory = client_factory
        # Google publishes no per-second limit for reads (it throttles per developer
        # token and per customer, answering RESOURCE_EXHAUSTED); basic access allows
        # 15,000 operations a day. One request a second keeps well inside both.
        self.limiter = limiter or RateLimiter(config.requests_per_second, sleep=sleep)
        self.sleep = sleep
        self._service: Any = None
        self._lock = threading.Lock()

    def service(self, customer_id: str) -> Any:
        with self._lock:
            if self._service is None:
                self._service = self._build(customer_id).get_service("GoogleAdsService")
            return self._service

    def _build(self, customer_id: str) -> Any:
        from google.auth import exceptions as auth_exceptions

        try:
            return self.client_factory(self.config)
        except auth_exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):  # the token endpoint's own 5xx
                raise Retryable(f"the OAuth refresh failed: {exc}") from None
            # The refresh token was revoked, expired (7 days for apps in "testing") or
            # belongs to another OAuth client: only a person can issue a new one.
            raise SourceError(
                SOURCE, customer_id, f"the OAuth refresh failed: {exc}", RENEW_OAUTH
            ) from None
        except auth_exceptions.TransportError as exc:
            raise Retryable(f"the OAuth token endpoint is unreachable: {exc}") from None
        except ValueError as exc:  # load_from_dict's "missing required field"
            raise SourceError(
                SOURCE, customer_id, f"the client could not be built: {exc}",
                f"Fix the {ENV_PREFIX}* settings",
            ) from None  # fmt: skip

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.transport.close()
                self._service = None

    def search(self, customer_id: str, query: str) -> list[Any]:
        """Every GoogleAdsRow of `query`. The whole stream is read inside one attempt:
        a failure mid-stream retries the query from the start, never half of it."""
        c = self.config
        return with_retries(
            lambda: self._stream(customer_id, query),
            source=SOURCE,
            account=customer_id,
            attempts=c.max_attempts,
            base_delay=c.base_delay,
            # with_retries waits a hint up to 5 × max_delay: let it reach max_retry_delay.
            max_delay=max(c.base_delay, c.max_retry_delay / 5),
            max_seconds=c.timeout_seconds * c.max_attempts + c.max_retry_delay,
            sleep=self.sleep,
            action=GAVE_UP,
        )

    def _stream(self, customer_id: str, query: str) -> list[Any]:
        from google.ads.googleads.errors import GoogleAdsException
        from google.api_core.exceptions import GoogleAPICallError

        service = self.service(customer_id)
        self.limiter.acquire()
        try:
            # retry=None: the library adds no retry of its own to SearchStream today;
            # saying so keeps a future default from retrying under ours.
            stream = service.search_stream(
                customer_id=customer_id,
                query=query,
                retry=None,
                timeout=self.config.timeout_seconds,
            )
            return [row for batch in stream for row in batch.results]
        except GoogleAdsException as exc:
            raise self._refused(
                customer_id, exc.error.code(), exc.failure, exc.request_id
            ) from None
        except GoogleAPICallError as exc:
            # A raw RpcError (RESOURCE_EXHAUSTED, INTERNAL, transport trouble), as
            # api_core's stream wrapper re-raises it; the call is in `response`.
            raise self._rpc_failed(customer_id, exc.response) from None
        except grpc.RpcError as exc:
            raise self._rpc_failed(customer_id, exc) from None

    def _rpc_failed(self, customer_id: str, call: Any) -> Exception:
        """A failed call without a GoogleAdsException: transient by status, unless a
        GoogleAdsFailure rides in its trailers (quota errors: their retry_delay)."""
        if not isinstance(call, grpc.Call):
            return Retryable(f"the call failed: {call}")
        code = call.code()
        failure, request_id = _failure(call.trailing_metadata())
        if failure is not None:
            return self._refused(customer_id, code, failure, request_id)
        if code in RETRY_STATUSES:
            return Retryable(f"{code.name}: {call.details()}")
        problem = f"{code.name}: {call.details()} (request id {request_id})"
        return SourceError(SOURCE, customer_id, problem, AUTH_STATUSES.get(code, DEFAULT_ACTION))

    def _refused(
        self, customer_id: str, code: grpc.StatusCode, failure: Any, request_id: str | None
    ) -> Exception:
        """Retryable or SourceError for a GoogleAdsFailure, whichever way it arrived."""
        errors = [(_kind(e), e) for e in failure.errors]
        problem = "; ".join(f"{k}.{n}: {e.message}" for (k, n), e in errors) or code.name
        problem = f"{code.name}: {problem} (request id {request_id})"
        for (kind, name), error in errors:
            if kind == "quota_error" and name in RETRY_QUOTA:
                delay = _retry_delay(error)
                if delay is not None and delay > self.config.max_retry_delay:
                    # The daily operations quota resets on Google's schedule, not ours.
                    return SourceError(
                        SOURCE, customer_id, problem,
                        f"The developer token's quota is spent; run the load again in "
                        f"{delay:.0f} s, or apply for Standard access in API Center",
                    )  # fmt: skip
                return Retryable(problem, delay)
            if kind in RETRY_ERRORS:
                return Retryable(problem)
        for (kind, name), _ in errors:
            if (kind, name) in ACTIONS or kind in KIND_ACTIONS:
                return SourceError(
                    SOURCE, customer_id, problem, ACTIONS.get((kind, name)) or KIND_ACTIONS[kind]
                )
        if not errors and code in RETRY_STATUSES:
            return Retryable(problem)
        return SourceError(SOURCE, customer_id, problem, AUTH_STATUSES.get(code, DEFAULT_ACTION))


def _failure(metadata: Any) -> tuple[Any, str | None]:
    """The GoogleAdsFailure and request id in trailing metadata, when present: a quota
    error arrives as a raw RpcError with its retry_delay only there."""
    from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

    failure, request_id = None, None
    for key, value in metadata or ():
        if key == "request-id":
            request_id = value
        elif key == FAILURE_KEY:
            try:
                failure = GoogleAdsFailure.deserialize(value)
            except Exception:  # an unreadable failure is no failure
                failure = None
    return failure, request_id or (failure.request_id if failure else None)


def _kind(error: Any) -> tuple[str, str]:
    """(ErrorCode field, enum name) of a GoogleAdsError, e.g. ("quota_error",
    "RESOURCE_TEMPORARILY_EXHAUSTED")."""
    code = type(error.error_code).pb(error.error_code)
    kind = code.WhichOneof("error_code")
    if kind is None:
        return "unknown", "UNKNOWN"
    number = getattr(code, kind)
    enum = code.DESCRIPTOR.fields_by_name[kind].enum_type
    value = enum.values_by_number.get(number)
    return kind, value.name if value else str(number)


def _retry_delay(error: Any) -> float | None:
    details = type(error).pb(error)
    if not details.HasField("details") or not details.details.HasField("quota_error_details"):
        return None
    quota = details.details.quota_error_details
    if not quota.HasField("retry_delay"):
        return None
    return quota.retry_delay.seconds + quota.retry_delay.nanos / 1e9


class GoogleAdsConnector:
    """Spend of one customer (account), campaign by day."""

    source = SOURCE
    platform = "google_ads"

    def __init__(
        self,
        config: GoogleAdsConfig,
        customer_id: str,
        *,
        api: GoogleAdsApi | None = None,
        client_factory: Callable[[GoogleAdsConfig], Any] = build_client,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.account = config, _customer_id(customer_id)
        self.api = api or GoogleAdsApi(config, client_factory=client_factory, sleep=sleep)

    @classmethod
    def for_each_customer(cls, config: GoogleAdsConfig, **kwargs: Any) -> list[GoogleAdsConnector]:
        """One connector per customer id, sharing one client (one channel, one limiter)."""
        api = kwargs.pop("api", None) or GoogleAdsApi(
            config,
            client_factory=kwargs.pop("client_factory", build_client),
            sleep=kwargs.get("sleep", time.sleep),
        )
        return [cls(config, customer_id, api=api, **kwargs) for customer_id in config.customer_ids]

    def close(self) -> None:
        self.api.close()

    def fetch(self, start: date, end: date) -> Iterator[SpendRecord]:
        rows = self.api.search(self.account, QUERY.format(start=start, end=end))
        # Parsed in full before the first record is yielded: a bad row anywhere means
        # nothing of this customer is landed.
        yield from [self._record(number, row, start, end) for number, row in enumerate(rows, 1)]

    def _record(self, number: int, row: Any, start: date, end: date) -> SpendRecord:
        try:
            day = date.fromisoformat(row.segments.date)
            if not start <= day <= end:
                raise ValueError(f"date {day} is outside the requested {start}..{end}")
            if not row.campaign.id or not row.customer.currency_code:
                raise ValueError("no campaign id or currency")
            return SpendRecord(
                date_day=day,
                platform="google_ads",
                account_id=self.account,
                campaign_id=str(row.campaign.id),
                campaign_name=row.campaign.name or None,
                clicks=row.metrics.clicks,
                impressions=row.metrics.impressions,
                spend=Decimal(row.metrics.cost_micros) / 1_000_000,
                currency=row.customer.currency_code,
                url_template=url_template(
                    row.campaign.tracking_url_template, row.campaign.final_url_suffix
                ),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise SourceError(
                SOURCE, self.account, f"row {number} of the stream: {exc}",
                "Nothing of this customer was landed; run the load again, and report the "
                "row to the callpath maintainers if it repeats",
            ) from None  # fmt: skip


def url_template(tracking_template: str, final_url_suffix: str) -> str | None:
    """How the campaign's landing URLs are tagged, as one template: the tracking
    template (`{lpurl}?utm_source=google...`) and/or the final URL suffix appended
    to `{lpurl}`, keeping ValueTrack parameters (`{campaignid}`) for UTM learning."""
    template, suffix = tracking_template.strip(), final_url_suffix.strip().lstrip("?&")
    if not suffix:
        return template or None
    base = template or "{lpurl}"
    return f"{base}{'&' if '?' in base else '?'}{suffix}"
