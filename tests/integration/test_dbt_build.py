"""The dbt project, built end to end on a small hand-made raw dataset.

Two days of one company: Yandex.Direct and Google Ads clicks with spend, organic
and direct visits, a static (offline) number, a caller who calls again within the
lead dedupe window, CRM deals matched by phone, session and UTMs, and spend on a
campaign nobody visited. Every number asserted below is computed by hand from
that data, so a changed number means changed report semantics.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.raw_schema import RAW_TABLES, create_raw_tables
from pipelines.transform import DbtBuildError, dbt_build

pytestmark = pytest.mark.slow

D1 = date(2025, 3, 3)
D2 = date(2025, 3, 4)
COMPANY = "acme"


def _at(day: date, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(day.year, day.month, day.day, int(hours), int(minutes))


def _session(session_id, day, hhmm, *, source=None, medium=None, campaign=None, referrer=None):
    return {
        "company_id": COMPANY,
        "site_id": "site_acme",
        "session_id": session_id,
        "visitor_id": f"v_{session_id}",
        "started_at": _at(day, hhmm),
        "last_seen_at": _at(day, hhmm),
        "landing_url": "https://acme.example/",
        "referrer": referrer,
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": campaign,
        "_day": day,
    }


def _call(entry_id, day, hhmm, caller, *, session_id=None, reason=None, missed=False,
          direction="inbound", number="+74955550001"):  # fmt: skip
    return {
        "company_id": COMPANY,
        "entry_id": entry_id,
        "tracking_number": number,
        "caller_number": caller,
        "direction": direction,
        "started_at": _at(day, hhmm),
        "talk_seconds": 0 if missed else 120,
        "session_id": session_id,
        "attribution_reason": reason or ("lease" if session_id else "no_lease"),
        "is_first_call": False,
        "is_target": not missed,
        "is_missed": missed,
        "_day": day,
    }


def _lease(session_id, number, start: datetime, end: datetime, shared=False):
    return {
        "company_id": COMPANY,
        "lease_id": f"l_{session_id}",
        "number": number,
        "session_id": session_id,
        "leased_from": start,
        "last_seen_at": start,
        "leased_until": end,
        "is_shared": shared,
        "_day": start.date(),
    }


def _number(number, kind="dynamic", channel=None):
    return {
        "company_id": COMPANY,
        "number": number,
        "region": "RU-MOW",
        "kind": kind,
        "channel": channel,
        "is_former": False,
        "_day": D2,
    }


def _touch(kind, ref, day, hhmm, *, session_id=None, phone=None, email=None):
    return {
        "company_id": COMPANY,
        "lead_id": f"rt_{ref}",
        "touch_type": kind,
        "touch_ref": ref,
        "touched_at": _at(day, hhmm),
        "session_id": session_id,
        "phone": phone,
        "email": email,
        "_day": day,
    }


def _spend(day, platform, account_id, campaign_id, campaign_name, spend):
    return {
        "date_day": day,
        "platform": platform,
        "account_id": account_id,
        "campaign_id": campaign_id,
        "campaign_name": campaign_name,
        "clicks": 10,
        "impressions": 1000,
        "spend": Decimal(spend),
        "currency": "RUB",
        "_account": account_id,
        "_loaded_at": _at(D2, "23:00"),
    }


def _deal(deal_id, status, amount, *, phone=None, session_id=None, utm=(None, None, None),
          crm="amocrm", contact_id=None):  # fmt: skip
    return {
        "crm": crm,
        "deal_id": deal_id,
        "company_id": COMPANY,
        "created_at": _at(D2, "15:00"),
        "updated_at": _at(D2, "16:00"),
        "closed_at": _at(D2, "16:00") if status != "open" else None,
        "status": status,
        "amount": Decimal(amount),
        "currency": "RUB",
        "contact_id": contact_id,
        "contact_phone": phone,
        "session_id": session_id,
        "utm_source": utm[0],
        "utm_medium": utm[1],
        "utm_campaign": utm[2],
        "_account": f"acme.{crm}.ru",
        "_loaded_at": _at(D2, "23:00"),
    }


def _contact(crm, contact_id, phone, name=None):
    return {
        "crm": crm,
        "contact_id": contact_id,
        "company_id": COMPANY,
        "phone": phone,
        "name": name,
        "updated_at": _at(D2, "16:00"),
        "_account": f"acme.{crm}.ru",
        "_loaded_at": _at(D2, "23:00"),
    }


GOOGLE_SEARCH = "https://www.google.com/search?q=call+tracking"
YANDEX_SEARCH = "https://yandex.ru/search/?text=call+tracking"

RAW_ROWS: dict[str, list[dict]] = {
    "sessions": [
        _session("s_ya1", D1, "07:00", source="yandex", medium="cpc", campaign="70112233"),
        _session("s_ya2", D1, "08:00", source="yandex", medium="cpc", campaign="70112233"),
        _session("s_g1", D1, "09:00", source="google", medium="cpc", campaign="555001"),
        _session("s_org1", D1, "10:00", referrer=GOOGLE_SEARCH),
        _session("s_dir1", D1, "11:00"),
        _session("s_ya3", D2, "08:00", source="yandex", medium="cpc", campaign="70112233"),
        # tagged with the campaign name instead of its id
        _session("s_ret", D2, "08:30", source="yandex", medium="cpc", campaign="Retargeting"),
        _session("s_org2", D2, "09:00", referrer=YANDEX_SEARCH),
        _session("s_dir2", D2, "10:00"),
    ],
    "number_leases": [
        _lease("s_ya1", "+74955550001", _at(D1, "07:00"), _at(D1, "07:20")),
        _lease("s_org1", "+74955550001", _at(D1, "10:00"), _at(D1, "10:20")),
        _lease("s_ya3", "+74955550001", _at(D2, "08:00"), _at(D2, "08:20")),
        # kept alive until the next day, and the call comes exactly at its end
        _lease("s_g1", "+74955550002", _at(D1, "09:00"), _at(D2, "10:00")),
    ],
    "tracking_numbers": [
        _number("+74955550001"),
        _number("+74955550002"),
        _number("+74955550099", kind="static", channel="offline/billboard-msk"),
    ],
    "calls": [
        _call("e1", D1, "07:05", "+79161111111", session_id="s_ya1"),
        _call("e2", D1, "10:05", "+79162222222", session_id="s_org1", missed=True),
        _call(
            "e3",
            D1,
            "13:00",
            "+79163333333",
            reason="static:offline/billboard-msk",
            number="+74955550099",
        ),
        # the yandex caller again, next day: same lead
        _call("e4", D2, "08:05", "+79161111111", session_id="s_ya3"),
        # a D1 google visitor calls on D2
        _call("e5", D2, "10:00", "+79164444444", session_id="s_g1", number="+74955550002"),
        # nobody held the number then
        _call("e6", D2, "11:00", "+79165555555"),
        # outbound: neither a call in the report nor a lead
        _call("e7", D2, "12:00", "+79161111111", direction="outbound"),
    ],
    "lead_touches": [
        # a callback request from the organic caller, after the call: the same lead
        _touch("callback", "cb1", D1, "12:00", session_id="s_org1", phone="+79162222222"),
        # a form half an hour before the e6 call from the same phone: the form opens the
        # lead, so it is a direct lead, and the call that follows is not a new one
        _touch("form", "f1", D2, "10:30", session_id="s_dir2", phone="8 916 555-55-55"),
        # an email-only form from a yandex visit: a lead of its own
        _touch("form", "f2", D2, "08:10", session_id="s_ya3", email="Buyer@Example.com"),
        # realtime's own record of a call touch: int_leads takes calls from raw.calls
        _touch("call", "e1", D1, "07:05", session_id="s_ya1", phone="+79161111111"),
    ],
    "ad_spend_yandex_direct": [
        _spend(D1, "yandex_direct", "ya-1", "70112233", "Brand Moscow", "1500.00"),
        _spend(D2, "yandex_direct", "ya-1", "70112233", "Brand Moscow", "900.50"),
        _spend(D2, "yandex_direct", "ya-1", "70119999", "Retargeting", "120.00"),
    ],
    "ad_spend_google_ads": [
        _spend(D1, "google_ads", "g-1", "555001", "Search RU", "700.00"),
        _spend(D2, "google_ads", "g-1", "555001", "Search RU", "300.00"),
        _spend(D1, "google_ads", "g-1", "999999", "Unvisited Campaign", "250.00"),
    ],
    "crm_deals_amocrm": [
        # typed by a manager; normalises to the yandex caller's number
        _deal("d1", "won", "50000.00", phone="8 (916) 111-11-11"),
        _deal("d2", "lost", "10000.00", session_id="s_g1", phone="+79990000001"),
        _deal("d3", "open", "20000.00", phone="+79990000002", utm=("google", "cpc", "555001")),
        # matches no lead: not in the report
        _deal("d4", "won", "7000.00", phone="+79998887766"),
    ],
    "crm_deals_bitrix24": [
        # same deal id in another CRM: another deal; matches no lead either
        _deal("d4", "won", "3000.00", phone="+79998887700", crm="bitrix24", contact_id="42"),
    ],
    "crm_contacts_amocrm": [
        _contact("amocrm", "7", "+79161111111", "Ivan"),
        _contact("amocrm", "7", "+79990000001", "Ivan"),
    ],
    "crm_contacts_bitrix24": [
        _contact("bitrix24", "42", "+79998887700"),
    ],
}

TOTAL_SPEND = Decimal("3770.50")

# (report_date, channel, utm_source, utm_medium, utm_campaign)
#   -> (sessions, calls, forms, callbacks, leads, deals, won_deals, revenue, cost, cpl, roi)
EXPECTED_E2E = {
    (D1, "paid_search", "yandex", "cpc", "70112233"):
        (2, 1, 0, 0, 1, 1, 1, Decimal("50000.00"), Decimal("1500.00"), 1500.0, 48500 / 1500),
    (D1, "paid_search", "google", "cpc", "555001"):
        (1, 0, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("700.00"), None, -1.0),
    (D1, "paid_search", "google", "cpc", "999999"):
        (0, 0, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("250.00"), None, -1.0),
    (D1, "organic_search", None, None, None):
        (1, 1, 0, 1, 1, 0, 0, Decimal("0.00"), Decimal("0.00"), 0.0, None),
    (D1, "direct", None, None, None):
        (1, 0, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("0.00"), None, None),
    (D1, "offline", None, None, None):
        (0, 1, 0, 0, 1, 0, 0, Decimal("0.00"), Decimal("0.00"), 0.0, None),
    (D2, "paid_search", "yandex", "cpc", "70112233"):
        (1, 1, 1, 0, 1, 0, 0, Decimal("0.00"), Decimal("900.50"), 900.5, -1.0),
    (D2, "paid_search", "yandex", "cpc", "Retargeting"):
        (1, 0, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("120.00"), None, -1.0),
    (D2, "paid_search", "google", "cpc", "555001"):
        (0, 1, 0, 0, 1, 2, 0, Decimal("0.00"), Decimal("300.00"), 300.0, -1.0),
    (D2, "organic_search", None, None, None):
        (1, 0, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("0.00"), None, None),
    (D2, "direct", None, None, None):
        (1, 0, 1, 0, 1, 0, 0, Decimal("0.00"), Decimal("0.00"), 0.0, None),
    (D2, "unknown", None, None, None):
        (0, 1, 0, 0, 0, 0, 0, Decimal("0.00"), Decimal("0.00"), None, None),
}  # fmt: skip

E2E_COLUMNS = (
    "report_date, channel, utm_source, utm_medium, utm_campaign,"
    " sessions, calls, forms, callbacks, leads, deals, won_deals, revenue, cost, cpl, roi"
)


def _insert_rows(conn, schema: str, rows_by_table: dict[str, list[dict]], placeholder: str):
    for table, rows in rows_by_table.items():
        for row in rows:
            columns = ", ".join(row)
            values = ", ".join([placeholder] * len(row))
            conn.execute(
                f"insert into {schema}.{table} ({columns}) values ({values})", list(row.values())
            )


def _load_duckdb(path: Path, rows_by_table: dict[str, list[dict]]) -> None:
    conn = duckdb.connect(str(path))
    try:
        create_raw_tables(conn)
        _insert_rows(conn, "raw", rows_by_table, "?")
    finally:
        # dbt opens the file itself; DuckDB allows one writer process at a time
        conn.close()


def _by_grain(rows) -> dict[tuple, tuple]:
    return {tuple(row[:5]): tuple(row[5:]) for row in rows}


def _assert_matches_expected(actual: dict[tuple, tuple]) -> None:
    assert set(actual) == set(EXPECTED_E2E)
    for grain, expected in EXPECTED_E2E.items():
        *counts, cpl, roi = actual[grain]
        *expected_counts, expected_cpl, expected_roi = expected
        assert counts == expected_counts, grain
        assert cpl == (None if expected_cpl is None else pytest.approx(expected_cpl)), grain
        assert roi == (None if expected_roi is None else pytest.approx(expected_roi)), grain


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dbt_build") / "warehouse.duckdb"
    _load_duckdb(path, RAW_ROWS)
    result = dbt_build(path)
    assert result.failures == ()
    return path


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_mart_not_null_constraints_are_enforced_by_the_database(warehouse):
    # Mart columns that must not be null are contract constraints (dbt/README.md), not
    # data tests: the tables carry NOT NULL, so a null row can never be written.
    nullable = dict(
        _query(
            warehouse,
            "select column_name, is_nullable from information_schema.columns"
            " where table_schema = 'main' and table_name = 'fct_deals'"
            " and column_name in ('deal_key', 'amount', 'lead_id')",
        )
    )
    assert nullable == {"deal_key": "NO", "amount": "NO", "lead_id": "YES"}
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("begin")
        with pytest.raises(duckdb.ConstraintException):
            conn.execute("insert into main.fct_deals (deal_key, amount) values ('d', null)")
        conn.execute("rollback")


def test_e2e_daily_reports_hand_computed_funnel_per_day_channel_and_campaign(warehouse):
    rows = _query(warehouse, f"select {E2E_COLUMNS} from main.e2e_daily")
    _assert_matches_expected(_by_grain(rows))


def test_spend_on_a_campaign_nobody_visited_keeps_its_own_row(warehouse):
    rows = _query(
        warehouse,
        "select channel, utm_source, utm_medium, sessions, cost from main.e2e_daily"
        " where utm_campaign = '999999'",
    )
    assert rows == [("paid_search", "google", "cpc", 0, Decimal("250.00"))]


def test_report_cost_equals_total_ad_spend(warehouse):
    [(cost,)] = _query(warehouse, "select sum(cost) from main.e2e_daily")
    assert cost == TOTAL_SPEND


def test_repeat_caller_within_dedupe_window_makes_one_lead_but_two_calls(warehouse):
    [(leads, calls)] = _query(
        warehouse,
        "select count(*), max(call_count) from main.int_leads where phone = '+79161111111'",
    )
    assert (leads, calls) == (1, 2)


def test_deals_match_leads_by_phone_session_and_utm_and_unmatched_deals_stay_out(warehouse):
    rows = _query(
        warehouse,
        "select deal_id, lead_id, match_method from main.int_deals__matched order by deal_id, crm",
    )
    assert rows == [
        ("d1", "acme:call:e1", "phone"),
        ("d2", "acme:call:e5", "session_id"),
        ("d3", "acme:call:e5", "utm"),
        ("d4", None, "no_lead"),
        ("d4", None, "no_lead"),  # the bitrix24 one
    ]
    [(revenue,)] = _query(warehouse, "select sum(revenue) from main.e2e_daily")
    assert revenue == Decimal("50000.00")


def test_every_crm_and_platform_is_stacked_into_the_intermediate_models(warehouse):
    assert _query(
        warehouse,
        "select platform, count(*), sum(spend) from main.int_ad_reporting__campaign_daily"
        " group by 1 order by 1",
    ) == [("google_ads", 3, Decimal("1250.00")), ("yandex_direct", 3, Decimal("2520.50"))]
    assert _query(
        warehouse, "select deal_key, contact_key from main.int_crm__deals order by 1"
    ) == [
        ("amocrm:acme.amocrm.ru:d1", None),
        ("amocrm:acme.amocrm.ru:d2", None),
        ("amocrm:acme.amocrm.ru:d3", None),
        ("amocrm:acme.amocrm.ru:d4", None),
        ("bitrix24:acme.bitrix24.ru:d4", "bitrix24:acme.bitrix24.ru:42"),
    ]
    assert _query(
        warehouse,
        "select contact_key, phone, contact_name from main.int_crm__contacts order by 1, 2",
    ) == [
        ("amocrm:acme.amocrm.ru:7", "+79161111111", "Ivan"),
        ("amocrm:acme.amocrm.ru:7", "+79990000001", "Ivan"),
        ("bitrix24:acme.bitrix24.ru:42", "+79998887700", None),
    ]


def test_empty_raw_tables_build_an_empty_report(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    _load_duckdb(path, {})
    assert dbt_build(path).failures == ()
    assert _query(path, "select count(*) from main.e2e_daily") == [(0,)]


def test_e2e_daily_lands_in_main_with_its_contracted_columns(warehouse):
    columns = _query(
        warehouse,
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'main' and table_name = 'e2e_daily' order by ordinal_position",
    )
    counts = [
        "sessions", "visitors", "calls", "unique_calls", "target_calls", "missed_calls",
        "forms", "callbacks", "leads", "deals", "won_deals",
    ]  # fmt: skip
    ratios = ["cpl", "cac", "roi", "roas", "lead_conversion", "deal_conversion"]
    assert columns == [
        ("company_id", "VARCHAR"),
        ("report_date", "DATE"),
        ("channel", "VARCHAR"),
        ("utm_source", "VARCHAR"),
        ("utm_medium", "VARCHAR"),
        ("utm_campaign", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("platform", "VARCHAR"),
        *[(name, "BIGINT") for name in counts],
        ("revenue", "DECIMAL(18,2)"),
        ("cost", "DECIMAL(18,2)"),
        *[(name, "DOUBLE") for name in ratios],
    ]


def test_ratios_divide_the_rows_own_measures_and_are_null_without_a_denominator(warehouse):
    rows = _query(
        warehouse,
        "select utm_campaign, campaign_id, platform, cac, roas, lead_conversion,"
        " deal_conversion, visitors, missed_calls, target_calls"
        " from main.e2e_daily where report_date = '2025-03-03' and channel <> 'direct'"
        " order by channel, utm_campaign",
    )
    assert rows == [
        # the billboard call: no sessions, no cost
        (None, None, None, None, None, None, 0.0, 0, 0, 1),
        # the organic caller missed: a lead, a missed call, no target call
        (None, None, None, None, None, 1.0, 0.0, 1, 1, 0),
        ("555001", "555001", "google_ads", None, 0.0, 0.0, None, 1, 0, 0),
        # 50 000 of revenue on 1 500 of cost from 2 sessions, 1 lead, 1 won deal
        ("70112233", "70112233", "yandex_direct", 1500.0, 50000 / 1500, 0.5, 1.0, 2, 0, 1),
        ("999999", "999999", "google_ads", None, 0.0, None, None, 0, 0, 0),
    ]


def test_a_form_before_a_call_opens_the_lead_and_the_call_joins_it(warehouse):
    rows = _query(
        warehouse,
        "select lead_id, first_touch_kind, channel, call_count, form_count, callback_count"
        " from main.fct_leads where phone in ('+79165555555', '+79162222222') order by 1",
    )
    assert rows == [
        ("acme:call:e2", "call", "organic_search", 1, 0, 1),
        ("acme:form:f1", "form", "direct", 1, 1, 0),
    ]
    [(email_lead,)] = _query(
        warehouse, "select channel from main.fct_leads where email = 'buyer@example.com'"
    )
    assert email_lead == "paid_search"


def test_every_column_of_every_mart_is_defined_in_docs_metrics(warehouse):
    metrics = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    columns = _query(
        warehouse,
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'main'"
        " and (table_name like 'fct\\_%' escape '\\'"
        " or table_name in ('e2e_daily', 'pool_daily'))",
    )
    assert {table for table, _ in columns} >= {
        "fct_sessions", "fct_calls", "fct_leads", "fct_deals", "fct_ad_spend",
        "e2e_daily", "pool_daily",
    }  # fmt: skip
    sections = {
        table: metrics.split(f"## {table}\n", 1)[1].split("\n## ", 1)[0]
        for table in {table for table, _ in columns}
        if f"## {table}\n" in metrics
    }
    undocumented = [
        (table, column)
        for table, column in columns
        if f"`{column}`" not in sections.get(table, "")
    ]
    assert undocumented == []


def test_duplicate_session_id_fails_the_build_naming_the_failing_test(tmp_path):
    sessions = RAW_ROWS["sessions"]
    path = tmp_path / "warehouse.duckdb"
    _load_duckdb(path, {**RAW_ROWS, "sessions": [*sessions, sessions[0]]})

    with pytest.raises(DbtBuildError) as raised:
        dbt_build(path)

    # Session uniqueness is tested once, where sessions are stored (fct_sessions),
    # and the marts built on it are skipped, so nothing reaches publish.
    failing_test = "unique_combination_of_columns_fct_sessions_company_id__session_id"
    assert failing_test in str(raised.value)
    assert any(failing_test in node.unique_id for node in raised.value.failures)


# --- PostgreSQL -----------------------------------------------------------------

POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN):
            return True
    except Exception:
        return False


@pytest.mark.skipif(not _postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_project_builds_on_postgres_with_the_same_numbers(tmp_path, monkeypatch):
    import psycopg

    # One schema pair per run: concurrent runs on one server never share tables.
    suffix = uuid.uuid4().hex[:8]
    raw_schema, build_schema = f"raw_{suffix}", f"analytics_{suffix}"
    monkeypatch.setenv("CALLPATH_POSTGRES_SCHEMA", build_schema)

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        try:
            conn.execute(f"create schema {raw_schema}")
            for table, columns in RAW_TABLES.items():
                conn.execute(f"create table {raw_schema}.{table} ({columns})")
            _insert_rows(conn, raw_schema, RAW_ROWS, "%s")

            result = dbt_build(
                tmp_path / "unused.duckdb", target="postgres", vars={"raw_schema": raw_schema}
            )

            assert result.failures == ()
            rows = conn.execute(f"select {E2E_COLUMNS} from {build_schema}.e2e_daily").fetchall()
            _assert_matches_expected(_by_grain(rows))
        finally:
            conn.execute(f"drop schema if exists {build_schema} cascade")
            conn.execute(f"drop schema if exists {raw_schema} cascade")
