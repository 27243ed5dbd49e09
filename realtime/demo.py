"""`callpath demo`: a deterministic synthetic week, driven through the real HTTP API.

Everything the demo does goes through the same doors production traffic uses: page
views hit `POST /v1/visits`, calls arrive as signed Mango form posts, spend and deals
are served by local fakes of Yandex.Direct, Google Ads, amoCRM and Bitrix24
(`serve_demo_sources`) and pulled by the real connectors over the real protocols, and
the days are built by the Airflow DAGs (`pipelines.orchestration.run_days`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

with warnings.catch_warnings():
    # Starlette nags about its httpx transport; the in-process client is all we need.
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from connectors.base import ContactRecord, DealRecord, SpendRecord
from connectors.fakes.mango_commands import FakeMangoCommands
from realtime.app import create_app
from realtime.auth.service import create_key
from realtime.clock import ManualClock
from realtime.domain import Company, CrmContact, RedirectConfig, Site
from realtime.mango.signing import sign
from realtime.pool import open_pool_store
from realtime.pool.geo import build_mmdb
from realtime.pool.models import InventoryNumber
from realtime.settings import Settings
from realtime.store import open_event_store
from realtime.webhooks.worker import WebhookWorker

COMPANY_ID = "demo"
SITE_KEY = "demo-site"
MANGO_KEY = "demo-vpbx-key"
MANGO_SALT = "demo-vpbx-salt"
TZ = "Europe/Moscow"

# (region, city code, how many dynamic numbers)
REGIONS = [("RU-MOW", "495", 10), ("RU-SPE", "812", 6), ("RU-NVS", "383", 4)]
STATIC_NUMBER = ("+74957770001", "offline/billboard-msk")


@dataclass(frozen=True)
class Campaign:
    platform: str
    utm_source: str
    campaign_id: str
    name: str
    cpc: int  # rubles per click


CAMPAIGNS = [
    Campaign("yandex_direct", "yandex", "70112233", "Brand MSK", 18),
    Campaign("yandex_direct", "yandex", "70112234", "Generic repairs", 42),
    Campaign("google_ads", "google", "2011223344", "Search RU", 35),
]
UNVISITED_CAMPAIGN = Campaign("yandex_direct", "yandex", "70112299", "Display retargeting", 9)

# Traffic mix: (weight, kind)
TRAFFIC = [
    (30, "yandex_cpc"),
    (15, "google_cpc"),
    (20, "organic"),
    (10, "referral"),
    (25, "direct"),
]


# The demo's ad accounts and CRM accounts, as the fakes serve them.
DIRECT_LOGIN = "demo-direct"
DIRECT_TOKEN = "demo-direct-token"
GOOGLE_CUSTOMER_ID = "1234567890"
GOOGLE_DEVELOPER_TOKEN = "demo-developer-token"
GOOGLE_ACCESS_TOKEN = "demo-access-token"
GOOGLE_URL_TEMPLATE = "{lpurl}?utm_source=google&utm_medium=cpc&utm_campaign={campaignid}"
AMOCRM_ACCOUNT = "demo-amocrm"
BITRIX24_ACCOUNT = "demo-bitrix24"
# The call's extension → the CRM user responsible for the deal and the contact.
RESPONSIBLE = {
    "amocrm": {"101": "501", "102": "502", "103": "503"},
    "bitrix24": {"101": "1", "102": "2", "103": "3"},
}


@dataclass
class DemoData:
    """What the ad platforms and CRMs know about the simulated days."""

    spend: list[SpendRecord] = field(default_factory=list)
    deals: list[DealRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)


@dataclass
class DemoResult:
    days: list[date]
    sessions: int
    calls: int
    deals: int
    warehouse_path: Path
    form_requests: int = 0
    data: DemoData = field(default_factory=DemoData)
    webhooks_delivered: int = 0
    webhooks_received: int = 0


PROXY_IP = "127.0.0.1"
# Synthetic GeoIP: (CIDR, region, share of visitors). The last range is in no region.
GEO = [
    ("10.77.0.0/16", "RU-MOW", 70),
    ("10.78.0.0/16", "RU-SPE", 20),
    ("10.79.0.0/16", "RU-NVS", 5),
    ("192.0.2.0/24", None, 5),
]


def demo_mmdb(settings: Settings) -> Path:
    return build_mmdb(
        settings.var_dir / "geo" / "demo-city.mmdb",
        {cidr: region for cidr, region, _ in GEO if region},
    )


def visitor_ip(rng: random.Random) -> str:
    cidr = rng.choices([g[0] for g in GEO], weights=[g[2] for g in GEO])[0]
    network = ipaddress.ip_network(cidr)
    return str(network[rng.randrange(1, network.num_addresses - 1)])


def inventory() -> list[InventoryNumber]:
    numbers = [
        InventoryNumber(number=f"+7{code}{5550100 + i:07d}", region=region, city_code=code)
        for region, code, count in REGIONS
        for i in range(count)
    ]
    numbers.append(
        InventoryNumber(
            number=STATIC_NUMBER[0],
            region="RU-MOW",
            city_code="495",
            kind="static",
            company_id=COMPANY_ID,
            channel=STATIC_NUMBER[1],
        )
    )
    return numbers


def redirect_config() -> RedirectConfig:
    """Smart redirect on every line: the last employee within 24 h, else the CRM
    manager. amoCRM user 503 has no extension on purpose, so some decisions show it."""
    users = [
        {"crm": crm, "user_id": user, "extension": extension}
        for crm, by_extension in RESPONSIBLE.items()
        for extension, user in by_extension.items()
        if user != "503"
    ]
    return RedirectConfig(
        company_id=COMPANY_ID,
        enabled=True,
        all_lines=True,
        last_employee=True,
        crm_users=users,
        working_hours=[
            {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "20:00"},
            {"days": [6], "start": "10:00", "end": "16:00"},
        ],
    )


def seed(settings: Settings) -> None:
    store = open_event_store(settings)
    try:
        store.create_company(
            Company(
                id=COMPANY_ID,
                name="Demo Repairs LLC",
                timezone=TZ,
                mango_api_key=MANGO_KEY,
                mango_api_salt=MANGO_SALT,
            )
        )
        store.save_redirect_config(redirect_config())
        store.create_site(
            Site(
                id="site_demo",
                company_id=COMPANY_ID,
                site_key=SITE_KEY,
                domain="shop.example",
                default_region="RU-MOW",
            )
        )
    finally:
        store.close()
    pool = open_pool_store(settings)
    try:
        pool.import_numbers(inventory())
    finally:
        pool.close()


def landing(kind: str, rng: random.Random) -> tuple[str, str | None, Campaign | None]:
    base = "https://shop.example/"
    if kind == "yandex_cpc":
        c = rng.choice(CAMPAIGNS[:2])
        url = (
            f"{base}?utm_source=yandex&utm_medium=cpc&utm_campaign={c.campaign_id}"
            f"&utm_term=repair&yclid={rng.randrange(10**9)}"
        )
        return url, "https://yandex.ru/", c
    if kind == "google_cpc":
        c = CAMPAIGNS[2]
        url = (
            f"{base}?utm_source=google&utm_medium=cpc&utm_campaign={c.campaign_id}"
            f"&gclid=Cj0K{rng.randrange(10**9)}"
        )
        return url, "https://www.google.com/", c
    if kind == "organic":
        return (
            base + "services",
            rng.choice(["https://yandex.ru/", "https://www.google.com/"]),
            None,
        )
    if kind == "referral":
        return base + "prices", "https://remont-blog.example/top-10", None
    return base, None, None


class MangoSender:
    """Posts signed Mango events the way the PBX does (form fields, numbers as strings)."""

    def __init__(self, client: TestClient, clock: ManualClock) -> None:
        self.client, self.clock = client, clock

    def post(self, path: str, payload: dict, at: datetime) -> None:
        self.clock.set(at)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        form = {"vpbx_api_key": MANGO_KEY, "sign": sign(MANGO_KEY, body, MANGO_SALT), "json": body}
        response = self.client.post(path, data=form)
        response.raise_for_status()

    def call(
        self,
        entry_id: str,
        caller: str,
        line: str,
        start: datetime,
        ring: int,
        talk: int,
        extension: str,
    ) -> None:
        """One inbound call: Appeared → (Connected →) Disconnected, then the summary."""
        ts = int(start.timestamp())
        base = {
            "entry_id": entry_id,
            "call_id": f"{entry_id}-1",
            "from": {"number": caller},
            "dct": {"number": line[1:], "type": "1"},
        }
        answered = talk > 0
        self.post(
            "/mango/events/call",
            {
                **base,
                "timestamp": str(ts),
                "seq": "1",
                "call_state": "Appeared",
                "location": "ivr",
                "to": {"line_number": line[1:], "extension": extension},
            },
            start,
        )
        if answered:
            self.post(
                "/mango/events/call",
                {
                    **base,
                    "timestamp": str(ts + ring),
                    "seq": "2",
                    "call_state": "Connected",
                    "location": "abonent",
                    "to": {"line_number": line[1:], "extension": extension},
                },
                start + timedelta(seconds=ring),
            )
        end = ts + ring + talk
        self.post(
            "/mango/events/call",
            {
                **base,
                "timestamp": str(end),
                "seq": "3",
                "call_state": "Disconnected",
                "location": "abonent",
                "to": {"line_number": line[1:], "extension": extension},
                "disconnect_reason": "1110",
            },
            start + timedelta(seconds=ring + talk),
        )
        # Summary with integers, as non-PHP clients send: both forms must be accepted.
        self.post(
            "/mango/events/summary",
            {
                "entry_id": entry_id,
                "call_direction": 1,
                "from": {"number": caller},
                "to": {"extension": extension},
                "line_number": line[1:],
                "create_time": ts,
                "forward_time": ts + 3 if answered else 0,
                "talk_time": ts + ring if answered else 0,
                "end_time": end,
                "entry_result": 1 if answered else 0,
                "disconnect_reason": 1110,
            },
            start + timedelta(seconds=ring + talk + 1),
        )


def simulate_week(settings: Settings, days: list[date], seed_value: int = 7) -> DemoResult:
    rng = random.Random(seed_value)
    tz = ZoneInfo(TZ)
    clock = ManualClock(datetime.combine(days[0], time(0), tz))
    store = open_event_store(settings)
    # Visitors reach the service through a local "proxy" that forwards their real IP,
    # so region lookup runs exactly as behind a production load balancer.
    # The demo's webhook receiver is on loopback, which production settings refuse, and
    # the demo drives deliveries itself (below) so they follow its simulated clock.
    # Smart redirect's route commands go to a local fake of Mango's command API. The
    # demo plays a week in seconds, so Mango's real-time limit (one route per 2 s) would
    # drop most of them: here it is off on both sides.
    mango_commands = FakeMangoCommands({MANGO_KEY: MANGO_SALT}, route_interval=0)
    fakes = ExitStack()
    mango_url = fakes.enter_context(mango_commands.serve())
    geo_settings = settings.model_copy(
        update={
            "geoip_path": demo_mmdb(settings),
            "trusted_proxies": [PROXY_IP],
            "webhooks_allow_private_targets": True,
            "webhooks_worker_enabled": False,
            "mango_api_url": mango_url,
            "mango_route_interval_seconds": 0.0,
        }
    )
    app = create_app(geo_settings, store=store, clock=clock)
    receiver = WebhookReceiver()
    data = DemoData()
    contacts: dict[tuple[str, str], ContactRecord] = {}  # (crm, phone) -> contact
    now = datetime.now(UTC) - timedelta(minutes=1)  # a CRM never reports the future
    callers: list[str] = []
    recent_calls: list[tuple[datetime, str]] = []  # (when, who): returning within a day
    redirect_rng = random.Random(seed_value + 1)  # keeps the main stream as it was
    # Visitors who come back on a later day, often through another channel: without them
    # every path has one touch and the six attribution models would all agree.
    returning_rng = random.Random(seed_value + 2)
    earlier_visitors: list[str] = []
    n_sessions = n_calls = n_leads = 0
    with fakes, TestClient(app, client=(PROXY_IP, 50000)) as client, receiver.serve() as hook_url:
        _, api_key = create_key(store, COMPANY_ID, label="demo")
        client.post(
            "/v1/webhooks/subscriptions",
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                "url": hook_url,
                "events": ["call.started", "call.ended", "call.missed", "lead.created"],
            },
        ).raise_for_status()
        mango = MangoSender(client, clock)
        for day in days:
            visits: dict[str, int] = {}
            todays_visitors: list[str] = []
            events: list[tuple[datetime, str, object]] = []
            for _ in range(rng.randint(90, 130)):
                hour = rng.choices(range(24), weights=[1] * 8 + [6] * 12 + [2] * 4)[0]
                at = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tz)
                events.append(
                    (
                        at,
                        "visit",
                        rng.choices([k for _, k in TRAFFIC], weights=[w for w, _ in TRAFFIC])[0],
                    )
                )
            for _ in range(rng.randint(1, 3)):  # offline: billboard callers
                at = datetime.combine(day, time(rng.randint(9, 19), rng.randrange(60)), tz)
                events.append((at, "static_call", None))
            events.sort(key=lambda e: (e[0], e[1]))
            for at, what, kind in events:
                if what == "static_call":
                    caller = f"+7916{rng.randrange(10**7):07d}"
                    n_calls += 1
                    mango.call(
                        f"e{n_calls:06d}",
                        caller,
                        STATIC_NUMBER[0],
                        at.astimezone(UTC),
                        ring=8,
                        talk=rng.randint(20, 200),
                        extension="101",
                    )
                    continue
                clock.set(at.astimezone(UTC))
                url, referrer, campaign = landing(kind, rng)
                if campaign:
                    visits[campaign.campaign_id] = visits.get(campaign.campaign_id, 0) + 1
                visit_body = {"site_key": SITE_KEY, "page_url": url, "referrer": referrer}
                if earlier_visitors and returning_rng.random() < 0.35:
                    visit_body["visitor_id"] = returning_rng.choice(earlier_visitors)
                r = client.post(
                    "/v1/visits", json=visit_body, headers={"X-Forwarded-For": visitor_ip(rng)}
                )
                r.raise_for_status()
                visit = r.json()
                todays_visitors.append(visit["visitor_id"])
                n_sessions += 1
                if rng.random() < 0.3:  # a second page view keeps the lease alive
                    clock.advance(timedelta(minutes=rng.randint(1, 9)))
                    client.post(
                        "/v1/visits",
                        json={
                            "site_key": SITE_KEY,
                            "session_id": visit["session_id"],
                            "visitor_id": visit["visitor_id"],
                            "page_url": url + "#contacts",
                        },
                    ).raise_for_status()
                if rng.random() < 0.06:  # a web form or a callback request
                    kind_of_lead = rng.choice(["form", "callback"])
                    # Some are people who already called: they stay one lead.
                    phone = (
                        rng.choice(callers)
                        if callers and rng.random() < 0.3
                        else f"+79{rng.randrange(10**9):09d}"
                    )
                    client.post(
                        "/v1/leads",
                        json={
                            "type": kind_of_lead,
                            "site_key": SITE_KEY,
                            "session_id": visit["session_id"],
                            "phone": phone,
                            "name": rng.choice(["Anna", "Ivan", "Olga", "Pavel"]),
                            "page": url,
                            "idempotency_key": f"demo-{day}-{n_sessions}",
                        },
                    ).raise_for_status()
                    n_leads += 1
                if rng.random() < 0.12 and visit["number"]:
                    if callers and rng.random() < 0.2:
                        caller = rng.choice(callers)  # a returning caller
                        # Half of them ring back within the day: smart redirect sends
                        # them to the employee they last spoke with.
                        since = clock.now() - timedelta(hours=20)
                        fresh = [c for t, c in recent_calls if t > since]
                        if fresh and redirect_rng.random() < 0.5:
                            caller = redirect_rng.choice(fresh)
                    else:
                        caller = f"+79{rng.randrange(10**9):09d}"
                        callers.append(caller)
                    n_calls += 1
                    missed = rng.random() < 0.15
                    talk = 0 if missed else rng.choice([12, 25, 45, 90, 180, 300])
                    call_at = clock.now() + timedelta(minutes=rng.randint(1, 10))
                    ring = rng.randint(5, 25)
                    extension = rng.choice(["101", "102", "103"])
                    mango.call(
                        f"e{n_calls:06d}",
                        caller,
                        visit["number"],
                        call_at,
                        ring=ring,
                        talk=talk,
                        extension=extension,
                    )
                    recent_calls.append((call_at, caller))
                    if talk >= 30 and rng.random() < 0.5:
                        created = call_at + timedelta(hours=1)
                        updated = max(created, min(created + timedelta(days=1), now))
                        status = rng.choices(["won", "lost", "open"], weights=[5, 2, 3])[0]
                        # Most deals live in amoCRM, every third in Bitrix24.
                        crm = "bitrix24" if len(data.deals) % 3 == 1 else "amocrm"
                        user = RESPONSIBLE[crm][extension]
                        contact = contacts.get((crm, caller))
                        if contact is None:
                            contact = contacts[(crm, caller)] = ContactRecord(
                                crm=crm,
                                contact_id=str(
                                    (9_000_000 if crm == "amocrm" else 700) + len(contacts)
                                ),
                                company_id=COMPANY_ID,
                                phones=[caller],
                                name=f"Caller {caller[-4:]}",
                                responsible_user_id=user,
                                updated_at=created,
                            )
                        data.deals.append(
                            DealRecord(
                                crm=crm,
                                deal_id=str(10_000 + len(data.deals)),
                                company_id=COMPANY_ID,
                                created_at=created,
                                updated_at=updated,
                                closed_at=updated if status != "open" else None,
                                status=status,
                                amount=Decimal(rng.randrange(5_000, 80_000, 500)),
                                currency="RUB",
                                contact_id=contact.contact_id,
                                contact_phone=caller,
                                responsible_user_id=user,
                            )
                        )
            earlier_visitors.extend(todays_visitors)
            # The day's CRM contacts reach the event store, as `callpath crm sync-contacts`
            # does: the next days' calls from them go to their responsible managers.
            store.save_crm_contacts([CrmContact(**c.model_dump()) for c in contacts.values()])
            for campaign in [*CAMPAIGNS, UNVISITED_CAMPAIGN]:
                clicks = round(visits.get(campaign.campaign_id, 0) * 1.1) or rng.randint(3, 9)
                google = campaign.platform == "google_ads"
                data.spend.append(
                    SpendRecord(
                        date_day=day,
                        platform=campaign.platform,
                        account_id=GOOGLE_CUSTOMER_ID if google else DIRECT_LOGIN,
                        campaign_id=campaign.campaign_id,
                        campaign_name=campaign.name,
                        clicks=clicks,
                        impressions=clicks * rng.randint(15, 40),
                        spend=Decimal(clicks * campaign.cpc),
                        currency="RUB",
                        url_template=GOOGLE_URL_TEMPLATE if google else None,
                    )
                )
        client.portal.call(app.state.mango_commands.drain)  # every route command sent
        worker = WebhookWorker(store, clock, None, geo_settings)
        delivered = asyncio.run(_deliver_all(worker))
    store.close()
    data.contacts = list(contacts.values())
    return DemoResult(
        days,
        n_sessions,
        n_calls,
        len(data.deals),
        settings.warehouse_path,
        n_leads,
        data,
        webhooks_delivered=delivered,
        webhooks_received=receiver.count,
    )


async def _deliver_all(worker: WebhookWorker) -> int:
    delivered = 0
    try:
        while (sent := await worker.run_once()) > 0:
            delivered += sent
    finally:
        await worker.aclose()
    return delivered


class WebhookReceiver:
    """A stand-in for a client's CRM endpoint: answers 200 and counts what arrives."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.count += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/callpath"
        finally:
            httpd.shutdown()
            httpd.server_close()


@dataclass
class DemoSources:
    """The running fakes (tests script faults on them) and the env they were given."""

    yandex_direct: Any
    google_ads: Any
    amocrm: Any
    bitrix24: Any
    env: dict[str, str]


@contextmanager
def serve_demo_sources(settings: Settings, result: DemoResult | DemoData) -> Iterator[DemoSources]:
    """Serve the demo's spend and deals from local fakes of Yandex.Direct (the yandex
    campaigns), Google Ads (the google campaign, TLS gRPC), amoCRM and Bitrix24 (the
    deals and their contacts), and point the connectors at them through their
    `CALLPATH_*` variables until the block ends (the variables are restored then).
    The daily job's tasks, run in this process, then pull over the real protocols."""
    from connectors.fakes.amocrm import FakeAmoCrm
    from connectors.fakes.bitrix24 import from_records
    from connectors.fakes.google_ads import FakeGoogleAds
    from connectors.fakes.yandex_direct import FakeYandexDirect

    data = result.data if isinstance(result, DemoResult) else result
    yandex_rows = [r.model_dump() for r in data.spend if r.platform == "yandex_direct"]
    google_rows = [r.model_dump() for r in data.spend if r.platform == "google_ads"]
    yandex = FakeYandexDirect.demo_dataset(DIRECT_TOKEN, yandex_rows)
    if DIRECT_LOGIN not in yandex.tokens[DIRECT_TOKEN]:  # readable even without rows
        yandex.tokens[DIRECT_TOKEN].append(DIRECT_LOGIN)
    google = FakeGoogleAds.demo_dataset(
        google_rows,
        customers={GOOGLE_CUSTOMER_ID: {"currency": "RUB", "time_zone": TZ}},
        developer_token=GOOGLE_DEVELOPER_TOKEN,
        access_tokens=[GOOGLE_ACCESS_TOKEN],
    )
    amocrm = FakeAmoCrm()
    for c in data.contacts:
        if c.crm == "amocrm":
            amocrm.add_contact(
                int(c.contact_id),
                phones=c.phones,
                name=c.name,
                responsible_user_id=int(c.responsible_user_id or 501),
                updated_at=c.updated_at,
            )
    for d in data.deals:
        if d.crm == "amocrm":
            amocrm.add_lead(
                int(d.deal_id),
                created_at=d.created_at,
                updated_at=d.updated_at,
                closed_at=d.closed_at,
                status=d.status,
                price=int(d.amount),  # amoCRM prices are whole units
                contacts=[int(d.contact_id)] if d.contact_id else [],
                utm={k: v for k in ("utm_source", "utm_medium", "utm_campaign")
                     if (v := getattr(d, k))},
                session_id=d.session_id,
                responsible_user_id=int(d.responsible_user_id or 501),
            )  # fmt: skip
    bitrix24 = from_records(
        [d for d in data.deals if d.crm == "bitrix24"],
        [c for c in data.contacts if c.crm == "bitrix24"],
    )
    token_path = settings.var_dir / "demo-amocrm-tokens.json"
    token_path.unlink(missing_ok=True)
    with ExitStack() as stack:
        # Google's fake first: gRPC reads its trusted roots at the first TLS channel.
        google_endpoint = stack.enter_context(google.serve())
        yandex_url = stack.enter_context(yandex.serve())
        amocrm_url = stack.enter_context(amocrm.serve())
        bitrix24_webhook = stack.enter_context(bitrix24.start())
        env = {
            "CALLPATH_YANDEX_DIRECT_TOKEN": DIRECT_TOKEN,
            "CALLPATH_YANDEX_DIRECT_CLIENT_LOGINS": DIRECT_LOGIN,
            "CALLPATH_YANDEX_DIRECT_BASE_URL": yandex_url,
            "CALLPATH_YANDEX_DIRECT_PROCESSING_MODE": "online",
            "CALLPATH_GOOGLE_ADS_DEVELOPER_TOKEN": GOOGLE_DEVELOPER_TOKEN,
            "CALLPATH_GOOGLE_ADS_CUSTOMER_IDS": GOOGLE_CUSTOMER_ID,
            "CALLPATH_GOOGLE_ADS_ACCESS_TOKEN": GOOGLE_ACCESS_TOKEN,
            "CALLPATH_GOOGLE_ADS_ENDPOINT": google_endpoint,
            "CALLPATH_AMOCRM_BASE_URL": amocrm_url,
            "CALLPATH_AMOCRM_COMPANY_ID": COMPANY_ID,
            "CALLPATH_AMOCRM_ACCOUNT": AMOCRM_ACCOUNT,
            "CALLPATH_AMOCRM_LONG_LIVED_TOKEN": amocrm.long_lived_token,
            "CALLPATH_AMOCRM_TOKEN_PATH": str(token_path),
            "CALLPATH_BITRIX24_WEBHOOK_URL": bitrix24_webhook,
            "CALLPATH_BITRIX24_COMPANY_ID": COMPANY_ID,
            "CALLPATH_BITRIX24_ACCOUNT": BITRIX24_ACCOUNT,
        }
        stack.enter_context(_environment(env))
        yield DemoSources(yandex, google, amocrm, bitrix24, env)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reset(settings: Settings) -> None:
    """The demo owns its var dir: start from nothing so every run gives the same week."""
    reset_event_store(settings)
    pool_path = Path(settings.pool_store_url.removeprefix("sqlite:///"))
    for path in (pool_path, settings.warehouse_path):
        for suffix in ("", "-wal", "-shm", ".wal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def reset_event_store(settings: Settings) -> None:
    """Forget every company, site, session and call (the warehouse is left alone)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.sqlite_path()}{suffix}").unlink(missing_ok=True)


def demo_days(today: date, count: int = 7) -> list[date]:
    return [today - timedelta(days=count - i) for i in range(count)]
