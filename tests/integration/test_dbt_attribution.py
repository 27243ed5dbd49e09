"""The attribution mart, built by dbt from realistic raw data and checked against
an independent computation of every model in plain Python over the same raw rows.

Two months of one company's traffic: 250 visitors with one to seven visits each
(Yandex.Direct and Google Ads clicks, organic search, e-mail, direct), about a
third of them converting by a tracked call (a number lease of their session), a
web form, an untracked call or a call to a static number; CRM deals won, lost or
open for most leads, and daily spend on the visited campaigns and on one nobody
visited. A second company has buyers of its own under the same visitor ids, so a
path that leaked across companies would change the numbers.

The reference below reads only the raw rows and the documented rules
(docs/attribution.md), never the dbt models, so the two can disagree.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.raw_schema import RAW_TABLES, create_raw_tables
from pipelines.transform import DbtBuildError, dbt_build

pytestmark = pytest.mark.slow

COMPANY = "acme"
OTHER_COMPANY = "globex"
START = datetime(2025, 3, 1)
DAYS = 60
LOOKBACK = timedelta(days=30)
HALF_LIFE_SECONDS = 7 * 86400
MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "position_based",
    "time_decay",
)
GOOGLE_SEARCH = "https://www.google.com/search?q=call+tracking"


@dataclass(frozen=True)
class Traffic:
    """A kind of visit: the tags a session carries and the channel they mean."""

    channel: str
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None
    weight: int = 1


TRAFFIC = (
    Traffic("paid_search", "yandex", "cpc", "70112233", weight=4),
    Traffic("paid_search", "yandex", "cpc", "70114455", weight=2),
    Traffic("paid_search", "google", "cpc", "555001", weight=3),
    Traffic("organic_search", referrer=GOOGLE_SEARCH, weight=3),
    Traffic("email", "mailchimp", "email", "spring_sale", weight=1),
    Traffic("direct", weight=4),
)

# (platform, account, campaign id, name); 999999 has spend but no visits
CAMPAIGNS = (
    ("yandex_direct", "ya-1", "70112233", "Brand"),
    ("yandex_direct", "ya-1", "70114455", "Generic"),
    ("google_ads", "g-1", "555001", "Search RU"),
    ("google_ads", "g-1", "999999", "Display, never clicked"),
)


@dataclass
class Session:
    company_id: str
    session_id: str
    visitor_id: str
    started_at: datetime
    traffic: Traffic


@dataclass
class Lead:
    """What the raw rows say about one conversion (one phone = one lead)."""

    phone: str
    created_at: datetime
    session: Session | None  # None: nobody knows which visit it came from
    channel: str  # the lead's own channel, used when it has no visits
    won_deals: int = 0
    revenue: Decimal = Decimal("0")
    path: list[tuple[str, datetime, date, str, tuple]] = field(default_factory=list)
    company_id: str = COMPANY


def _generate(seed: int = 20250301) -> tuple[dict[str, list[dict]], list[Session], list[Lead]]:
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = defaultdict(list)
    sessions: list[Session] = []
    leads: list[Lead] = []
    weights = [traffic.weight for traffic in TRAFFIC]

    def add_session(company_id: str, visitor_id: str, started_at: datetime) -> Session:
        session = Session(
            company_id,
            f"{company_id}-s{len(sessions):05d}",
            visitor_id,
            started_at,
            rng.choices(TRAFFIC, weights)[0],
        )
        sessions.append(session)
        rows["sessions"].append(
            {
                "company_id": company_id,
                "site_id": f"site_{company_id}",
                "session_id": session.session_id,
                "visitor_id": visitor_id,
                "started_at": started_at,
                "last_seen_at": started_at + timedelta(minutes=10),
                "landing_url": f"https://{company_id}.example/",
                "referrer": session.traffic.referrer,
                "utm_source": session.traffic.utm_source,
                "utm_medium": session.traffic.utm_medium,
                "utm_campaign": session.traffic.utm_campaign,
                "_day": started_at.date(),
            }
        )
        return session

    def add_call(entry_id, caller, started_at, *, reason, session_id=None, tracking_number):
        rows["calls"].append(
            {
                "company_id": COMPANY,
                "entry_id": entry_id,
                "tracking_number": tracking_number,
                "caller_number": caller,
                "direction": "inbound",
                "started_at": started_at,
                "talk_seconds": 90,
                "session_id": session_id,
                "attribution_reason": reason,
                "is_first_call": True,
                "is_target": True,
                "is_missed": False,
                "_day": started_at.date(),
            }
        )

    for visitor_number in range(250):
        visitor_id = f"v{visitor_number:03d}"
        # distinct minutes, so no two visits of a visitor tie on their start
        minutes = sorted(rng.sample(range(DAYS * 24 * 60), rng.randint(1, 7)))
        visits = [add_session(COMPANY, visitor_id, START + timedelta(minutes=m)) for m in minutes]
        if rng.random() < 0.3:
            # the same visitor id on another company's site: never part of acme's paths
            add_session(OTHER_COMPANY, visitor_id, visits[-1].started_at - timedelta(hours=1))
        if rng.random() >= 0.35:
            continue

        converting = rng.choice(visits)
        created_at = converting.started_at + timedelta(minutes=rng.randint(1, 20))
        phone = f"+7916{len(leads):07d}"
        how = rng.choices(
            ["tracked_call", "form", "untracked_call", "static_call"], [5, 3, 1, 1]
        )[0]
        if how == "tracked_call":
            number = f"+7495{len(leads):07d}"
            rows["number_leases"].append(
                {
                    "company_id": COMPANY,
                    "lease_id": f"l{len(leads)}",
                    "number": number,
                    "session_id": converting.session_id,
                    "leased_from": converting.started_at,
                    "last_seen_at": created_at,
                    "leased_until": created_at + timedelta(minutes=30),
                    "is_shared": False,
                    "_day": converting.started_at.date(),
                }
            )
            add_call(f"e{len(leads)}", phone, created_at, reason=f"lease:l{len(leads)}",
                     session_id=converting.session_id, tracking_number=number)  # fmt: skip
            lead = Lead(phone, created_at, converting, converting.traffic.channel)
        elif how == "form":
            rows["lead_touches"].append(
                {
                    "company_id": COMPANY,
                    "lead_id": f"rt{len(leads)}",
                    "touch_type": "form",
                    "touch_ref": f"f{len(leads)}",
                    "touched_at": created_at,
                    "session_id": converting.session_id,
                    "phone": phone,
                    "email": None,
                    "page": "/contacts",
                    "_day": created_at.date(),
                }
            )
            lead = Lead(phone, created_at, converting, converting.traffic.channel)
        elif how == "untracked_call":
            # a number nobody knows of: no session, channel unknown
            add_call(f"e{len(leads)}", phone, created_at, reason="no_lease",
                     tracking_number="+74950000000")  # fmt: skip
            lead = Lead(phone, created_at, None, "unknown")
        else:
            add_call(f"e{len(leads)}", phone, created_at, reason="static:offline/billboard",
                     tracking_number="+74951111111")  # fmt: skip
            lead = Lead(phone, created_at, None, "offline")
        leads.append(lead)

        if rng.random() < 0.6:
            status = rng.choice(["won", "won", "lost", "open"])
            amount = Decimal(rng.randrange(1_000, 90_000, 100))
            rows["crm_deals_amocrm"].append(_deal(len(leads), phone, status, amount, created_at))
            if status == "won":
                lead.won_deals += 1
                lead.revenue += amount

    # The other company's own buyers, under the same visitor ids as acme's (a cookie id
    # means nothing across sites): web forms, each credited to globex's visits only.
    for visitor_number in range(40):
        visitor_id = f"v{visitor_number:03d}"
        minutes = sorted(rng.sample(range(DAYS * 24 * 60), rng.randint(1, 4)))
        visits = [add_session(OTHER_COMPANY, visitor_id, START + timedelta(minutes=m))
                  for m in minutes]  # fmt: skip
        if rng.random() >= 0.5:
            continue
        converting = rng.choice(visits)
        created_at = converting.started_at + timedelta(minutes=rng.randint(1, 20))
        phone = f"+7917{len(leads):07d}"
        rows["lead_touches"].append(
            {
                "company_id": OTHER_COMPANY,
                "lead_id": f"rt{len(leads)}",
                "touch_type": "form",
                "touch_ref": f"f{len(leads)}",
                "touched_at": created_at,
                "session_id": converting.session_id,
                "phone": phone,
                "email": None,
                "page": "/order",
                "_day": created_at.date(),
            }
        )
        lead = Lead(phone, created_at, converting, converting.traffic.channel,
                    company_id=OTHER_COMPANY)  # fmt: skip
        leads.append(lead)
        amount = Decimal(rng.randrange(1_000, 90_000, 100))
        rows["crm_deals_amocrm"].append(
            _deal(len(leads), phone, "won", amount, created_at, company_id=OTHER_COMPANY)
        )
        lead.won_deals, lead.revenue = 1, amount

    # deals nobody's lead explains: counted nowhere
    for extra in range(3):
        rows["crm_deals_amocrm"].append(
            _deal(f"x{extra}", f"+7999000000{extra}", "won", Decimal("5000"), START)
        )

    for platform, account, campaign_id, name in CAMPAIGNS:
        for day in range(DAYS):
            rows[f"ad_spend_{platform}"].append(
                {
                    "date_day": (START + timedelta(days=day)).date(),
                    "platform": platform,
                    "account_id": account,
                    "campaign_id": campaign_id,
                    "campaign_name": name,
                    "clicks": rng.randint(5, 50),
                    "impressions": rng.randint(500, 5000),
                    "spend": Decimal(rng.randrange(10_000, 500_000)) / 100,
                    "currency": "RUB",
                    "_account": account,
                    "_loaded_at": START + timedelta(days=DAYS),
                }
            )
    return dict(rows), sessions, leads


def _deal(deal_id, phone: str, status: str, amount: Decimal, lead_created_at: datetime,
          company_id: str = COMPANY) -> dict:  # fmt: skip
    created_at = lead_created_at + timedelta(days=2)
    return {
        "crm": "amocrm",
        "deal_id": f"d{deal_id}",
        "company_id": company_id,
        "created_at": created_at,
        "updated_at": created_at + timedelta(days=1),
        "closed_at": None if status == "open" else created_at + timedelta(days=1),
        "status": status,
        "amount": amount,
        "currency": "RUB",
        "contact_phone": phone,
        "_account": "acme.amocrm.ru",
        "_loaded_at": START + timedelta(days=DAYS + 5),
    }


# --- the reference: the documented rules, over raw rows ---------------------------


def _paths(sessions: list[Session], leads: list[Lead]) -> None:
    """Fill each lead's path: (touch key, start, day, channel, utm tags), oldest first."""
    by_visitor: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for session in sessions:
        by_visitor[(session.company_id, session.visitor_id)].append(session)
    for lead in leads:
        touches = []
        if lead.session is not None:
            for session in by_visitor[(lead.company_id, lead.session.visitor_id)]:
                in_window = lead.created_at - LOOKBACK <= session.started_at <= lead.created_at
                if in_window or session is lead.session:
                    traffic = session.traffic
                    tags = (traffic.utm_source, traffic.utm_medium, traffic.utm_campaign)
                    touches.append((session.session_id, session.started_at,
                                    session.started_at.date(), traffic.channel, tags))  # fmt: skip
        if not touches:
            # no visit known: the lead is its own touch, on its own day and channel
            touches.append(("lead", lead.created_at, lead.created_at.date(), lead.channel,
                            (None, None, None)))  # fmt: skip
        lead.path = sorted(touches, key=lambda touch: touch[1])


def _credits(model: str, lead: Lead) -> list[float]:
    n = len(lead.path)
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "last_non_direct":
        chosen = max((i for i, t in enumerate(lead.path) if t[3] != "direct"), default=n - 1)
        return [1.0 if i == chosen else 0.0 for i in range(n)]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position_based":
        if n <= 2:
            return [1.0 / n] * n
        return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    ages = [max((lead.created_at - t[1]).total_seconds(), 0.0) for t in lead.path]
    weights = [2 ** (-age / HALF_LIFE_SECONDS) for age in ages]
    return [w / sum(weights) for w in weights]


def _expected_rows(model: str, leads: list[Lead]) -> dict[tuple, list[float]]:
    """(company, report_date, channel, utm_source, utm_medium, utm_campaign) -> leads,
    won deals, revenue."""
    rows: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for lead in leads:
        for touch, credit in zip(lead.path, _credits(model, lead), strict=True):
            if credit > 0:
                row = rows[(lead.company_id, touch[2], touch[3], *touch[4])]
                row[0] += credit
                row[1] += credit * lead.won_deals
                row[2] += credit * float(lead.revenue)
    return dict(rows)


def _expected_cost(raw: dict[str, list[dict]]) -> dict[tuple, Decimal]:
    """Spend on the row its campaign's visits carry: the company with the most visits
    of the campaign (acme: globex has only a few), none for a campaign nobody visited."""
    cost: dict[tuple, Decimal] = defaultdict(Decimal)
    source = {"yandex_direct": "yandex", "google_ads": "google"}
    visited = {traffic.utm_campaign for traffic in TRAFFIC}
    for platform in ("yandex_direct", "google_ads"):
        for row in raw[f"ad_spend_{platform}"]:
            company = COMPANY if row["campaign_id"] in visited else None
            key = (company, row["date_day"], "paid_search", source[platform], "cpc",
                   row["campaign_id"])  # fmt: skip
            cost[key] += row["spend"]
    return dict(cost)


# --- the build --------------------------------------------------------------------


def _insert_rows(conn, schema: str, raw: dict[str, list[dict]], placeholder: str) -> None:
    for table, rows in raw.items():
        for row in rows:
            columns = ", ".join(row)
            values = ", ".join([placeholder] * len(row))
            conn.execute(
                f"insert into {schema}.{table} ({columns}) values ({values})", list(row.values())
            )


@pytest.fixture(scope="module")
def generated():
    raw, sessions, leads = _generate()
    _paths(sessions, leads)
    return raw, leads


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, generated) -> Path:
    raw, _ = generated
    path = tmp_path_factory.mktemp("dbt_attribution") / "warehouse.duckdb"
    conn = duckdb.connect(str(path))
    try:
        create_raw_tables(conn)
        _insert_rows(conn, "raw", raw, "?")
    finally:
        conn.close()  # dbt opens the file itself; one writer process at a time
    assert dbt_build(path).failures == ()
    return path


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


MART_COLUMNS = (
    "company_id, attribution_model, report_date, channel, utm_source, utm_medium,"
    " utm_campaign, attributed_leads, attributed_won_deals, attributed_revenue, cost, roas"
)
MODEL, LEADS, COST = 1, 7, 10  # positions in MART_COLUMNS


def _grain(row: tuple) -> tuple:
    """(company_id, report_date, channel, utm_source, utm_medium, utm_campaign)."""
    return (row[0], *row[2:7])


def _credited_rows(mart_rows, model: str) -> dict[tuple, list[float]]:
    return {
        _grain(row): list(row[LEADS : LEADS + 3])
        for row in mart_rows
        if row[MODEL] == model and row[LEADS] > 0
    }


def _assert_rows_equal(actual: dict[tuple, list[float]], expected: dict[tuple, list[float]]):
    assert set(actual) == set(expected)
    for key, values in expected.items():
        assert actual[key] == pytest.approx(values, rel=1e-9, abs=1e-6), key


def test_generated_data_has_the_paths_the_rules_are_about(generated):
    """Guards the test itself: the data must exercise what the models differ on."""
    _, leads = generated
    lengths = [len(lead.path) for lead in leads]
    assert len(leads) >= 60
    assert max(lengths) >= 5 and sum(1 for n in lengths if n >= 3) >= 10
    assert any(lead.path[-1][3] == "direct" and len(lead.path) > 1 for lead in leads)
    assert any(lead.path[0][0] == "lead" for lead in leads)  # leads without visits
    assert any(lead.won_deals for lead in leads)
    # one visitor id converting in both companies: the paths must stay apart
    visitors = defaultdict(set)
    for lead in leads:
        if lead.session is not None:
            visitors[lead.company_id].add(lead.session.visitor_id)
    assert visitors[COMPANY] & visitors[OTHER_COMPANY]


@pytest.mark.parametrize("model", MODELS)
def test_each_model_credits_channels_and_days_as_the_documented_rules_do(
    warehouse, generated, model
):
    _, leads = generated
    mart = _query(warehouse, f"select {MART_COLUMNS} from main.attribution")
    _assert_rows_equal(_credited_rows(mart, model), _expected_rows(model, leads))


def test_every_model_shares_out_exactly_the_leads_won_deals_and_revenue(warehouse, generated):
    _, leads = generated
    totals = _query(
        warehouse,
        "select attribution_model, sum(attributed_leads), sum(attributed_won_deals),"
        " sum(attributed_revenue) from main.attribution group by 1",
    )
    expected = (
        len(leads),
        sum(lead.won_deals for lead in leads),
        float(sum(lead.revenue for lead in leads)),
    )
    assert {row[0] for row in totals} == set(MODELS)
    for model, *measures in totals:
        assert measures == pytest.approx(expected, rel=1e-12), model


def test_each_model_carries_the_whole_ad_spend_once(warehouse, generated):
    raw, _ = generated
    expected = _expected_cost(raw)
    mart = _query(warehouse, f"select {MART_COLUMNS} from main.attribution")
    for model in MODELS:
        cost = {_grain(row): row[COST] for row in mart if row[MODEL] == model and row[COST] > 0}
        assert cost == expected, model
    [(total,)] = _query(warehouse, "select sum(cost) from main.e2e_daily")
    for model in MODELS:
        assert sum(row[COST] for row in mart if row[MODEL] == model) == total


def test_roas_is_attributed_revenue_over_cost_and_null_without_cost(warehouse):
    rows = _query(
        warehouse, "select attributed_revenue, cost, roas from main.attribution"
    )
    assert any(cost == 0 for _, cost, _ in rows)
    for revenue, cost, roas in rows:
        if cost == 0:
            assert roas is None
        else:
            assert roas == pytest.approx(revenue / float(cost))


def test_first_touch_lands_on_the_earliest_visit_of_the_leads_visitor_in_the_window(
    warehouse, generated
):
    _, leads = generated
    by_phone = {lead.phone: lead for lead in leads}
    rows = _query(
        warehouse,
        "select leads.phone, coalesce(credits.session_id, 'lead')"
        " from main.int_attribution__credits as credits"
        " inner join main.int_leads as leads on credits.lead_id = leads.lead_id"
        " where credits.attribution_model = 'first_touch'",
    )
    assert len(rows) == len(leads)
    for phone, touch in rows:
        assert touch == by_phone[phone].path[0][0], phone


def test_no_path_reaches_another_companys_sessions(warehouse):
    touches = _query(
        warehouse,
        "select company_id, session_id from main.int_attribution__touches"
        " where session_id is not null",
    )
    assert {company for company, _ in touches} == {COMPANY, OTHER_COMPANY}
    # session ids are '<company>-s<n>' in the generated data
    assert all(session_id.startswith(f"{company}-") for company, session_id in touches)


def test_time_decay_credit_halves_per_half_life_of_age(warehouse):
    """Within one lead, two touches' credits relate as 2^(-(age difference) / 7 days)."""
    rows = _query(
        warehouse,
        "select lead_id, age_days, credit from main.int_attribution__credits"
        " where attribution_model = 'time_decay' and age_days >= 0"
        " order by lead_id, touch_number",
    )
    by_lead: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for lead_id, age_days, credit in rows:
        by_lead[lead_id].append((age_days, credit))
    compared = 0
    for touches in by_lead.values():
        (age_a, credit_a), *rest = touches
        for age_b, credit_b in rest:
            assert credit_b / credit_a == pytest.approx(math.pow(2, (age_b - age_a) / -7))
            compared += 1
    assert compared > 0


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("attribution_time_decay_half_life_days", 0, "must be a number > 0, got 0"),
        ("attribution_lookback_days", -1, "must be a number >= 0, got -1"),
        ("attribution_lookback_days", "30", 'must be a number >= 0, got "30"'),
    ],
)
def test_an_unusable_attribution_var_fails_the_build_naming_it(tmp_path, var, value, message):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        create_raw_tables(conn)

    with pytest.raises(DbtBuildError) as raised:
        dbt_build(path, select="int_attribution__credits", vars={var: value})

    assert f"var {var} {message}" in str(raised.value)


# --- PostgreSQL -------------------------------------------------------------------

POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN):
            return True
    except Exception:
        return False


@pytest.mark.skipif(not _postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_postgres_builds_the_same_attribution_as_duckdb(
    warehouse, generated, tmp_path, monkeypatch
):
    import psycopg

    raw, _ = generated
    # one schema pair per run: concurrent runs on one server never share tables
    suffix = uuid.uuid4().hex[:8]
    raw_schema, build_schema = f"raw_attr_{suffix}", f"analytics_attr_{suffix}"
    monkeypatch.setenv("CALLPATH_POSTGRES_SCHEMA", build_schema)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        try:
            conn.execute(f"create schema {raw_schema}")
            for table, columns in RAW_TABLES.items():
                conn.execute(f"create table {raw_schema}.{table} ({columns})")
            _insert_rows(conn, raw_schema, raw, "%s")

            result = dbt_build(
                tmp_path / "unused.duckdb", target="postgres", vars={"raw_schema": raw_schema}
            )

            assert result.failures == ()
            on_postgres = conn.execute(
                f"select {MART_COLUMNS} from {build_schema}.attribution"
            ).fetchall()
        finally:
            conn.execute(f"drop schema if exists {build_schema} cascade")
            conn.execute(f"drop schema if exists {raw_schema} cascade")

    on_duckdb = _query(warehouse, f"select {MART_COLUMNS} from main.attribution")
    assert len(on_postgres) == len(on_duckdb)
    grain = {tuple(row[:LEADS]): row[LEADS:] for row in on_duckdb}
    for row in on_postgres:
        *measures, cost, roas = row[LEADS:]
        *expected, expected_cost, expected_roas = grain[tuple(row[:LEADS])]
        assert measures == pytest.approx(expected, rel=1e-9, abs=1e-9), row[:LEADS]
        assert cost == expected_cost, row[:LEADS]
        assert (roas is None) == (expected_roas is None)
        if roas is not None:
            assert roas == pytest.approx(expected_roas, rel=1e-9)
