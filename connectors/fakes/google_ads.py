"""A local Google Ads API (gRPC, v26) for tests and the demo.

It serves `GoogleAdsService/SearchStream` over TLS, as the real API does, using the
client library's own message types, so the official `google-ads` client talks to it
unchanged. It checks what the client sends and refuses what the real API refuses, with
the real error shape (a status code plus a serialized `GoogleAdsFailure` in the
trailing metadata key `google.ads.googleads.v26.errors.googleadsfailure-bin`):
- a missing or unknown OAuth access token → UNAUTHENTICATED, OAUTH_TOKEN_INVALID;
- a missing or wrong `developer-token` → UNAUTHENTICATED, DEVELOPER_TOKEN_INVALID;
- a customer the caller may not read, or a client customer without its manager in
  `login-customer-id` → PERMISSION_DENIED, USER_PERMISSION_DENIED;
- GAQL it cannot parse, unknown fields or resource, no date range on `segments.date`
  → INVALID_ARGUMENT with a QueryError.
Rows stream in batches of at most 10,000, as the real SearchStream does.

TLS: the client library always opens a TLS channel and offers no way to pass it a
root certificate, so the fake makes one self-signed certificate per process (for
127.0.0.1 and localhost) and points `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` at it plus the
usual public roots. gRPC reads that variable once, when the process opens its first
TLS channel: start the fake (or call `trust_fake_certificate()`) before that.

Faults are scripted per request (`fail`, `quota`, `hang`, `malform`), consumed in order.

    fake = FakeGoogleAds(developer_token="dev")
    fake.add_customer("1234567890", currency="EUR", manager_id="9990001111")
    fake.set_stat("1234567890", date(2026, 11, 1), 101, "Brand", 1000, 50, 12_340_000)
    with fake.serve() as endpoint:  # "127.0.0.1:PORT"
        ...
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.ads.googleads.v26.errors.types import errors as ads_errors
from google.ads.googleads.v26.services.types import google_ads_service

API_VERSION = "v26"
SERVICE = f"google.ads.googleads.{API_VERSION}.services.GoogleAdsService"
FAILURE_KEY = f"google.ads.googleads.{API_VERSION}.errors.googleadsfailure-bin"
MAX_BATCH_ROWS = 10_000
# The GAQL fields this fake can answer, FROM campaign.
FIELDS = frozenset({
    "segments.date", "campaign.id", "campaign.name", "campaign.resource_name",
    "campaign.tracking_url_template", "campaign.final_url_suffix", "campaign.status",
    "customer.id", "customer.currency_code", "customer.time_zone", "customer.descriptive_name",
    "metrics.cost_micros", "metrics.clicks", "metrics.impressions",
})  # fmt: skip

_Request = google_ads_service.SearchGoogleAdsStreamRequest
_Response = google_ads_service.SearchGoogleAdsStreamResponse
_ErrorCode = ads_errors.ErrorCode.pb()


@dataclass
class Fault:
    """One scripted fault, for the next request (for `customer_id`, when set).

    `kind`: `status` (abort with `code`; with `error` — a field of ErrorCode and its
    enum name, e.g. `("quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED")` — a
    GoogleAdsFailure rides in the trailers, with `retry_delay` seconds in its quota
    details when given); `hang` (sleep `seconds` before answering); `malform` (one row
    of the answer loses its date). `after_batches`: fail mid-stream after that many
    batches were sent."""

    kind: str
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    message: str = "Internal error encountered."
    error: tuple[str, str] | None = None
    retry_delay: float | None = None
    seconds: float = 0.0
    after_batches: int = 0
    customer_id: str | None = None


@dataclass
class Customer:
    currency: str = "RUB"
    time_zone: str = "Europe/Moscow"
    manager_id: str | None = None  # the manager account the caller goes through
    name: str = ""


@dataclass
class _Stat:
    name: str
    impressions: int
    clicks: int
    cost_micros: int
    tracking_url_template: str = ""
    final_url_suffix: str = ""


@dataclass
class SeenRequest:
    customer_id: str
    query: str
    metadata: dict[str, str] = field(default_factory=dict)  # developer token masked


class _Refused(Exception):
    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        error: tuple[str, str],
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.error, self.retry_delay = code, message, error, retry_delay


class FakeGoogleAds:
    def __init__(
        self,
        developer_token: str = "fake-developer-token",
        *,
        access_tokens: Iterable[str] = ("test",),
        batch_rows: int = MAX_BATCH_ROWS,
    ) -> None:
        """`developer_token`: the one token accepted. `access_tokens`: OAuth bearer
        tokens accepted (the tests and the demo build the client with a static one).
        `batch_rows`: rows per streamed batch (at most 10,000, as the real API)."""
        self.developer_token = developer_token
        self.access_tokens = set(access_tokens)
        self.batch_rows = min(batch_rows, MAX_BATCH_ROWS)
        self.customers: dict[str, Customer] = {}
        # (customer id, day, campaign id) -> stat
        self.stats: dict[tuple[str, date, int], _Stat] = {}
        self.faults: deque[Fault] = deque()
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()

    # --- seeding and restating ---------------------------------------------------------

    def add_customer(
        self,
        customer_id: str,
        *,
        currency: str = "RUB",
        time_zone: str = "Europe/Moscow",
        manager_id: str | None = None,
        name: str = "",
    ) -> None:
        """A customer (account). With `manager_id`, it is read only through that
        manager: the request must carry it as `login-customer-id`."""
        self.customers[_digits(customer_id)] = Customer(
            currency, time_zone, _digits(manager_id) if manager_id else None, name
        )

    def set_stat(
        self,
        customer_id: str,
        day: date,
        campaign_id: int,
        name: str,
        impressions: int,
        clicks: int,
        cost_micros: int,
        *,
        tracking_url_template: str = "",
        final_url_suffix: str = "",
    ) -> None:
        """Seed a campaign-day, or restate it (spend settles for days afterwards)."""
        customer_id = _digits(customer_id)
        if customer_id not in self.customers:
            self.add_customer(customer_id)
        with self._lock:
            self.stats[(customer_id, day, int(campaign_id))] = _Stat(
                name, impressions, clicks, cost_micros, tracking_url_template, final_url_suffix
            )

    def remove_stat(self, customer_id: str, day: date, campaign_id: int) -> None:
        with self._lock:
            self.stats.pop((_digits(customer_id), day, int(campaign_id)), None)

    @classmethod
    def demo_dataset(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        customers: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> FakeGoogleAds:
        """A fake seeded from plain dicts (or `SpendRecord.model_dump()`): `account_id`
        (the customer id), `date_day`, `campaign_id`, `campaign_name`, `impressions`,
        `clicks`, `spend` (or `cost_micros`), optional `url_template` (a whole URL is
        served as the tracking template, bare parameters as the final URL suffix) or
        `tracking_url_template` / `final_url_suffix`.
        `customers`: customer id → `add_customer` keywords (currency, manager_id...)."""
        fake = cls(**kwargs)
        for customer_id, options in (customers or {}).items():
            fake.add_customer(customer_id, **options)
        for r in rows:
            day = r["date_day"]
            day = day if isinstance(day, date) else date.fromisoformat(str(day))
            micros = r.get("cost_micros")
            if micros is None:
                micros = int(Decimal(str(r["spend"])) * 1_000_000)
            # A whole URL template (`{lpurl}?utm_...`, `https://...`) is a tracking
            # template; bare parameters (`utm_source=google&...`) a final URL suffix.
            url = str(r.get("url_template") or "")
            is_template = url.startswith("{lpurl}") or "://" in url
            template, suffix = (url, "") if is_template else ("", url)
            fake.set_stat(
                str(r["account_id"]), day, int(r["campaign_id"]), str(r.get("campaign_name") or ""),
                int(r["impressions"]), int(r["clicks"]), int(micros),
                tracking_url_template=str(r.get("tracking_url_template") or template),
                final_url_suffix=str(r.get("final_url_suffix") or suffix),
            )  # fmt: skip
        return fake

    # --- faults --------------------------------------------------------------------------

    def fail(
        self,
        code: grpc.StatusCode = grpc.StatusCode.INTERNAL,
        message: str = "Internal error encountered.",
        *,
        error: tuple[str, str] | None = None,
        after_batches: int = 0,
        customer_id: str | None = None,
    ) -> None:
        """Abort the next request with `code`: a bare status (as RESOURCE_EXHAUSTED and
        INTERNAL usually come), or with a GoogleAdsFailure carrying `error`."""
        self.faults.append(
            Fault("status", code, message, error, after_batches=after_batches,
                  customer_id=_digits(customer_id) if customer_id else None)
        )  # fmt: skip

    def quota(
        self,
        retry_delay: float | None = None,
        *,
        code: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED,
        error: str = "RESOURCE_TEMPORARILY_EXHAUSTED",
        customer_id: str | None = None,
    ) -> None:
        """A quota error: QuotaError `error` in a GoogleAdsFailure, its QuotaErrorDetails
        carrying `retry_delay`. The real API sends it as RESOURCE_EXHAUSTED (which the
        client library passes on as a raw RpcError); another `code` makes the library
        raise it as a GoogleAdsException."""
        self.faults.append(
            Fault("status", code, "Too many requests. Retry in a while.", ("quota_error", error),
                  retry_delay, customer_id=_digits(customer_id) if customer_id else None)
        )  # fmt: skip

    def hang(self, seconds: float, customer_id: str | None = None) -> None:
        """Sleep `seconds` before answering: longer than the client's deadline."""
        self.faults.append(
            Fault(
                "hang", seconds=seconds, customer_id=_digits(customer_id) if customer_id else None
            )
        )

    def malform(self, customer_id: str | None = None) -> None:
        """The next answer has a row without its date."""
        self.faults.append(
            Fault("malform", customer_id=_digits(customer_id) if customer_id else None)
        )

    def _next_fault(self, customer_id: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.customer_id in (None, customer_id):
                    self.faults.remove(fault)
                    return fault
        return None

    # --- the service ---------------------------------------------------------------------

    def _search_stream(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        request_id = uuid.uuid4().hex[:22]
        context.set_trailing_metadata((("request-id", request_id),))
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        customer_id = request.customer_id
        masked = {
            k: ("REDACTED" if k in ("developer-token", "authorization") else v)
            for k, v in metadata.items()
        }
        with self._lock:
            self.requests.append(SeenRequest(customer_id, request.query, masked))
        try:
            self._authorize(metadata, customer_id)
            fault = self._next_fault(customer_id)
            if fault and fault.kind == "hang":
                deadline = time.monotonic() + fault.seconds
                while context.is_active() and time.monotonic() < deadline:
                    time.sleep(0.02)
            if fault and fault.kind == "status" and not fault.after_batches:
                raise _Refused(fault.code, fault.message, fault.error, fault.retry_delay)
            fields, start, end = _parse_query(request.query)
            batches = self._batches(customer_id, fields, start, end, request_id)
            if fault and fault.kind == "malform" and batches and batches[0].results:
                batches[0].results[0].segments.date = ""
            for number, batch in enumerate(batches):
                if fault and fault.kind == "status" and number == fault.after_batches:
                    raise _Refused(fault.code, fault.message, fault.error, fault.retry_delay)
                yield batch
        except _Refused as refused:
            _abort(context, refused, request_id)

    def _authorize(self, metadata: Mapping[str, str], customer_id: str) -> None:
        auth = metadata.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.access_tokens:
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "Authentication of the request failed: the OAuth access token is invalid.",
                ("authentication_error", "OAUTH_TOKEN_INVALID"),
            )
        if metadata.get("developer-token") != self.developer_token:
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "The developer token is not valid.",
                ("authentication_error", "DEVELOPER_TOKEN_INVALID"),
            )
        if not customer_id.isdigit() or len(customer_id) != 10:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                "Invalid customer ID.",
                ("request_error", "INVALID_CUSTOMER_ID"),
            )
        login = metadata.get("login-customer-id")
        if login is not None and (not login.isdigit() or len(login) != 10):
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "Invalid login-customer-id header.",
                ("authentication_error", "CLIENT_CUSTOMER_ID_INVALID"),
            )
        customer = self.customers.get(customer_id)
        allowed = customer is not None and (
            login == customer.manager_id if customer.manager_id else login in (None, customer_id)
        )
        if not allowed:
            raise _Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "User doesn't have permission to access customer. Note: If you're accessing "
                "a client customer, the manager's customer id must be set in the "
                "'login-customer-id' header.",
                ("authorization_error", "USER_PERMISSION_DENIED"),
            )

    def _batches(
        self, customer_id: str, fields: list[str], start: date | None, end: date | None,
        request_id: str,
    ) -> list[Any]:  # fmt: skip
        customer = self.customers[customer_id]
        with self._lock:
            stats = sorted(
                (day, campaign_id, stat)
                for (cid, day, campaign_id), stat in self.stats.items()
                if cid == customer_id
                and (start is None or start <= day)
                and (end is None or day <= end)
            )
        batches: list[Any] = []
        for offset in range(0, len(stats), self.batch_rows):
            batch = _Response.pb()(request_id=request_id)
            batch.field_mask.paths.extend(fields)
            for day, campaign_id, stat in stats[offset : offset + self.batch_rows]:
                _fill(
                    batch.results.add(), set(fields), customer_id, customer, day, campaign_id, stat
                )
            batches.append(batch)
        return batches

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run on loopback (TLS) until the block ends; yields the endpoint
        `127.0.0.1:PORT` for the client's `endpoint`."""
        cert_pem, key_pem = trust_fake_certificate()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="gads"))
        handler = grpc.unary_stream_rpc_method_handler(
            self._search_stream,
            request_deserializer=_Request.deserialize,
            response_serializer=lambda message: message.SerializeToString(),
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"SearchStream": handler})]
        )
        port = server.add_secure_port(
            "127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)])
        )
        server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(grace=None).wait(5)


def _fill(
    row: Any, fields: set[str], customer_id: str, customer: Customer, day: date,
    campaign_id: int, stat: _Stat,
) -> None:  # fmt: skip
    """Only the selected fields are set, as the real API answers."""
    values = {
        "segments.date": ("segments", "date", day.isoformat()),
        "campaign.id": ("campaign", "id", campaign_id),
        "campaign.name": ("campaign", "name", stat.name),
        "campaign.tracking_url_template": (
            "campaign", "tracking_url_template", stat.tracking_url_template),
        "campaign.final_url_suffix": ("campaign", "final_url_suffix", stat.final_url_suffix),
        "campaign.status": ("campaign", "status", 2),  # ENABLED
        "customer.id": ("customer", "id", int(customer_id)),
        "customer.currency_code": ("customer", "currency_code", customer.currency),
        "customer.time_zone": ("customer", "time_zone", customer.time_zone),
        "customer.descriptive_name": ("customer", "descriptive_name", customer.name),
        "metrics.cost_micros": ("metrics", "cost_micros", stat.cost_micros),
        "metrics.clicks": ("metrics", "clicks", stat.clicks),
        "metrics.impressions": ("metrics", "impressions", stat.impressions),
    }  # fmt: skip
    row.campaign.resource_name = f"customers/{customer_id}/campaigns/{campaign_id}"
    row.customer.resource_name = f"customers/{customer_id}"
    for name in fields:
        message, attr, value = values.get(name, (None, None, None))
        if message is not None:
            setattr(getattr(row, message), attr, value)


_QUERY_RE = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+.+?)?(?:\s+LIMIT\s+\d+)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DATE = r"'(\d{4}-\d{2}-\d{2})'"
_BETWEEN_RE = re.compile(rf"segments\.date\s+BETWEEN\s+{_DATE}\s+AND\s+{_DATE}", re.IGNORECASE)
_EQUALS_RE = re.compile(rf"segments\.date\s*=\s*{_DATE}", re.IGNORECASE)
_BOUND_RE = re.compile(rf"segments\.date\s*(>=|<=|>|<)\s*{_DATE}", re.IGNORECASE)


def _parse_query(query: str) -> tuple[list[str], date | None, date | None]:
    """(selected fields, first day, last day) of the small GAQL subset the connector
    sends; anything else is refused with the QueryError the real API would give."""

    def bad(error: str, message: str) -> _Refused:
        return _Refused(grpc.StatusCode.INVALID_ARGUMENT, message, ("query_error", error))

    match = _QUERY_RE.match(query)
    if not match:
        raise bad("UNEXPECTED_INPUT", f"Error in query: unexpected input {query[:60]!r}.")
    fields = [f.strip() for f in match["fields"].split(",")]
    if match["resource"].lower() != "campaign":
        raise bad(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Error in FROM clause: invalid resource name {match['resource']!r}.",
        )
    for name in fields:
        if name not in FIELDS:
            raise bad("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: {name!r}.")
    where = match["where"] or ""
    try:
        if between := _BETWEEN_RE.search(where):
            start, end = date.fromisoformat(between[1]), date.fromisoformat(between[2])
        elif equals := _EQUALS_RE.search(where):
            start = end = date.fromisoformat(equals[1])
        else:
            start = end = None
            for op, value in _BOUND_RE.findall(where):
                day = date.fromisoformat(value)
                if op.startswith(">"):
                    start = day + timedelta(days=op == ">")
                else:
                    end = day - timedelta(days=op == "<")
    except ValueError:
        raise bad("INVALID_DATE_FORMAT", "Error in query: invalid date.") from None
    if "segments.date" in fields and (start is None or end is None):
        raise bad(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "Error in query: when segments.date is selected, a finite date range must be "
            "in the WHERE clause.",
        )
    if start and end and start > end:
        raise bad("INVALID_VALUE_WITH_BETWEEN_OPERATOR", "The date range is empty.")
    return fields, start, end


def _abort(context: grpc.ServicerContext, refused: _Refused, request_id: str) -> None:
    metadata: list[tuple[str, str | bytes]] = [("request-id", request_id)]
    if refused.error:
        failure = ads_errors.GoogleAdsFailure.pb()(request_id=request_id)
        error = failure.errors.add(message=refused.message)
        kind, name = refused.error
        enum = _ErrorCode.DESCRIPTOR.fields_by_name[kind].enum_type
        setattr(error.error_code, kind, enum.values_by_name[name].number)
        if refused.retry_delay is not None:
            delay = error.details.quota_error_details.retry_delay
            delay.seconds = int(refused.retry_delay)
            delay.nanos = round((refused.retry_delay % 1) * 1e9)
        metadata.append((FAILURE_KEY, failure.SerializeToString()))
    context.set_trailing_metadata(tuple(metadata))
    context.abort(refused.code, refused.message)


def _digits(customer_id: str) -> str:
    return customer_id.replace("-", "").strip()


# --- the self-signed certificate ---------------------------------------------------------

_cert_lock = threading.Lock()
_cert: tuple[bytes, bytes] | None = None


def trust_fake_certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of this process's fake, made once and trusted through
    `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` (with the usual public roots appended, so real
    Google endpoints still verify). One per process because gRPC reads the roots once."""
    global _cert
    with _cert_lock:
        if _cert is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callpath fake Google Ads")])
            now = datetime.now(UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1))
                .not_valid_after(now + timedelta(days=30))
                .add_extension(
                    x509.SubjectAlternativeName(
                        [
                            x509.DNSName("localhost"),
                            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        ]
                    ),
                    critical=False,
                )
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            folder = tempfile.mkdtemp(prefix="callpath-fake-google-ads-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            roots = os.path.join(folder, "roots.pem")
            with open(roots, "wb") as fh:
                fh.write(cert_pem)
                try:
                    import certifi

                    with open(certifi.where(), "rb") as public:
                        fh.write(b"\n" + public.read())
                except ImportError:
                    pass
            os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = roots
            _cert = (cert_pem, key_pem)
        return _cert
