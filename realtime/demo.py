"""`callpath demo`: a deterministic synthetic week, driven through the real HTTP API.

Everything the demo does goes through the same doors production traffic uses: page
views hit `POST /v1/visits`, calls arrive as signed Mango form posts, spend and deals
come through the connector interface, and each day is built by the Airflow DAG.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import random
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

with warnings.catch_warnings():
    # Starlette nags about its httpx transport; the in-process client is all we need.
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from realtime.app import create_app
from realtime.clock import ManualClock
from realtime.domain import Company, Site
from realtime.mango.signing import sign
from realtime.pool import open_pool_store
from realtime.pool.geo import build_mmdb
from realtime.pool.models import InventoryNumber
from realtime.settings import Settings
from realtime.store import open_event_store

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


@dataclass
class DemoResult:
    days: list[date]
    sessions: int
    calls: int
    deals: int
    warehouse_path: Path
    form_requests: int = 0


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
    geo_settings = settings.model_copy(
        update={"geoip_path": demo_mmdb(settings), "trusted_proxies": [PROXY_IP]}
    )
    app = create_app(geo_settings, store=store, clock=clock)
    spend_rows: list[dict] = []
    deal_rows: list[dict] = []
    callers: list[str] = []
    n_sessions = n_calls = n_leads = 0
    with TestClient(app, client=(PROXY_IP, 50000)) as client:
        mango = MangoSender(client, clock)
        for day in days:
            visits: dict[str, int] = {}
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
                r = client.post(
                    "/v1/visits",
                    json={"site_key": SITE_KEY, "page_url": url, "referrer": referrer},
                    headers={"X-Forwarded-For": visitor_ip(rng)},
                )
                r.raise_for_status()
                visit = r.json()
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
                    else:
                        caller = f"+79{rng.randrange(10**9):09d}"
                        callers.append(caller)
                    n_calls += 1
                    missed = rng.random() < 0.15
                    talk = 0 if missed else rng.choice([12, 25, 45, 90, 180, 300])
                    call_at = clock.now() + timedelta(minutes=rng.randint(1, 10))
                    mango.call(
                        f"e{n_calls:06d}",
                        caller,
                        visit["number"],
                        call_at,
                        ring=rng.randint(5, 25),
                        talk=talk,
                        extension=rng.choice(["101", "102", "103"]),
                    )
                    if talk >= 30 and rng.random() < 0.5:
                        created = call_at + timedelta(hours=1)
                        status = rng.choices(["won", "lost", "open"], weights=[5, 2, 3])[0]
                        deal_rows.append(
                            {
                                "crm": "amocrm",
                                "deal_id": str(10_000 + len(deal_rows)),
                                "company_id": COMPANY_ID,
                                "created_at": created.isoformat(),
                                "updated_at": (created + timedelta(days=1)).isoformat(),
                                "closed_at": (created + timedelta(days=1)).isoformat()
                                if status != "open"
                                else "",
                                "status": status,
                                "amount": f"{rng.randrange(5_000, 80_000, 500)}.00",
                                "currency": "RUB",
                                "contact_phone": caller,
                                "session_id": "",
                                "utm_source": "",
                                "utm_medium": "",
                                "utm_campaign": "",
                            }
                        )
            for campaign in [*CAMPAIGNS, UNVISITED_CAMPAIGN]:
                clicks = round(visits.get(campaign.campaign_id, 0) * 1.1) or rng.randint(3, 9)
                spend_rows.append(
                    {
                        "date_day": day.isoformat(),
                        "platform": campaign.platform,
                        "account_id": "demo-direct"
                        if campaign.platform == "yandex_direct"
                        else "123-456-7890",
                        "campaign_id": campaign.campaign_id,
                        "campaign_name": campaign.name,
                        "clicks": clicks,
                        "impressions": clicks * rng.randint(15, 40),
                        "spend": f"{clicks * campaign.cpc}.00",
                        "currency": "RUB",
                    }
                )
    store.close()
    write_csv(settings.fixtures_dir / "ad_spend.csv", spend_rows)
    write_csv(settings.fixtures_dir / "crm_deals.csv", deal_rows)
    return DemoResult(days, n_sessions, n_calls, len(deal_rows), settings.warehouse_path, n_leads)


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def reset(settings: Settings) -> None:
    """The demo owns its var dir: start from nothing so every run gives the same week."""
    reset_event_store(settings)
    pool_path = Path(settings.pool_store_url.removeprefix("sqlite:///"))
    for path in (pool_path, settings.warehouse_path):
        for suffix in ("", "-wal", "-shm", ".wal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(settings.fixtures_dir, ignore_errors=True)


def reset_event_store(settings: Settings) -> None:
    """Forget every company, site, session and call (the warehouse is left alone)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.sqlite_path()}{suffix}").unlink(missing_ok=True)


def demo_days(today: date, count: int = 7) -> list[date]:
    return [today - timedelta(days=count - i) for i in range(count)]
