"""The dashboard file in real Chromium: built from a real dbt build, opened from disk.

The warehouse is the hand-made raw dataset of tests/integration/test_dbt_build.py,
built by the real `dbt build` and published by `publish_marts`, exactly as the daily
job does. The figures the page shows are compared with the published marts queried
here, so a dashboard that mis-sums, drops rows or fails to escape shows up.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.dashboard import SECTIONS, write_dashboard
from pipelines.publish import publish_marts
from pipelines.transform import dbt_build
from realtime.settings import Settings
from tests.e2e.conftest import open_tab
from tests.integration.test_dbt_build import D1, D2, RAW_ROWS, _load_duckdb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, var_dir=path.parent, warehouse_path=path)


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "warehouse.duckdb"
    _load_duckdb(path, RAW_ROWS)
    result = dbt_build(path)
    assert result.failures == ()
    with warehouse.connect(_settings(path)) as wh:
        publish_marts(wh, warehouse.dbt_build_schema(_settings(path)), D2)
    return path


def _published(path: Path, sql: str) -> tuple:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchone()


def _open(new_context, page_path: Path):
    context = new_context()
    tab = open_tab(context)
    requests: list[str] = []
    tab.page.on("request", lambda request: requests.append(request.url))
    tab.page.goto(page_path.as_uri())
    tab.page.wait_for_load_state("load")
    return tab, requests


def _cell_texts(page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_text_contents()]


def test_dashboard_renders_every_section_offline_with_the_published_figures(
    built_warehouse, new_context, tmp_path
):
    out = write_dashboard(_settings(built_warehouse), out=tmp_path / "reports" / "dashboard.html")
    assert out.is_file()

    tab, requests = _open(new_context, out)
    page = tab.page

    # Every section is on the page with its heading, none failed.
    for section in SECTIONS:
        assert page.locator(f"section#{section} h2").is_visible(), section
    assert page.locator(".error").count() == 0, page.locator(".error").all_text_contents()
    # The sections whose mart is built show data, not a placeholder.
    for section in ("e2e", "trend", "funnel", "heatmap"):
        assert page.locator(f"section#{section} .not-built").count() == 0, section

    # Self-contained: nothing but the file itself and its embedded data: URIs.
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == []
    assert tab.problems == [] and tab.failed_loads == []

    # Charts are real images that decoded in the browser.
    images = page.locator("img.chart")
    assert images.count() >= 3
    for i in range(images.count()):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")

    # The e2e table's total row equals the published mart summed here.
    sessions, leads, cost, revenue = _published(
        built_warehouse,
        "select sum(sessions), sum(leads), sum(cost), sum(revenue) from published.e2e_daily",
    )
    headers = _cell_texts(page, "section#e2e thead th")
    total = _cell_texts(page, "section#e2e tbody tr:last-child td")
    assert total[0] == "total"
    row = dict(zip(headers, total, strict=True))
    number = lambda text: Decimal(text.replace("\u202f", ""))  # noqa: E731
    assert number(row["sessions"]) == sessions
    assert number(row["leads"]) == leads
    assert number(row["cost"]) == round(cost)
    assert number(row["revenue"]) == round(revenue)
    assert number(row["CPL"]) == round(cost / leads)

    # The funnel's first stage is every session; the heat map counts inbound calls.
    funnel = _cell_texts(page, "section#funnel tbody tr:first-child td")
    assert funnel[:2] == ["sessions", str(sessions)]
    [inbound] = _published(
        built_warehouse, "select count(*) from raw.calls where direction = 'inbound'"
    )
    assert f"{inbound} inbound calls" in page.locator("section#heatmap").inner_text()

    page.set_viewport_size({"width": 1280, "height": 900})
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # Refresh the picture in the docs on request (it is committed, not rewritten per run).
    if os.environ.get("CALLPATH_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_date_range_limits_every_figure_to_those_days(built_warehouse, new_context, tmp_path):
    out = write_dashboard(_settings(built_warehouse), D1, D1, tmp_path / "d1.html")
    [sessions] = _published(
        built_warehouse, f"select sum(sessions) from published.e2e_daily where report_date = '{D1}'"
    )
    tab, _ = _open(new_context, out)
    funnel = _cell_texts(tab.page, "section#funnel tbody tr:first-child td")
    assert funnel[:2] == ["sessions", str(sessions)]
    assert f"period {D1} … {D1}" in tab.page.locator("header").inner_text()


def test_missing_marts_render_as_not_built_yet_instead_of_failing(new_context, tmp_path):
    settings = _settings(tmp_path / "empty.duckdb")  # only the raw schema, nothing built
    out = write_dashboard(settings, out=tmp_path / "empty.html")
    tab, requests = _open(new_context, out)
    for section in ("e2e", "trend", "funnel", "attribution", "pool"):
        text = tab.page.locator(f"section#{section}").inner_text()
        assert "Not built yet" in text, section
    assert "No calls in this period" in tab.page.locator("section#heatmap").inner_text()
    assert tab.problems == []
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []


HOSTILE_CAMPAIGN = '<img src="http://127.0.0.1:9/x" onerror="window.__pwned = 1">'
HOSTILE_SOURCE = "<script>window.__pwned = 2</script>"


def test_hostile_utm_values_are_shown_as_text_never_run(new_context, tmp_path):
    """utm_* come from visitors' URLs: anyone can put markup into them."""
    path = tmp_path / "hostile.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema published")
        conn.execute(
            "create table published.e2e_daily (report_date date, channel varchar,"
            " utm_source varchar, utm_medium varchar, utm_campaign varchar, sessions bigint,"
            " calls bigint, leads bigint, deals bigint, won_deals bigint,"
            " revenue decimal(18,2), cost decimal(18,2))"
        )
        conn.execute(
            "insert into published.e2e_daily values (?, 'paid_search', ?, 'cpc', ?,"
            " 10, 3, 2, 1, 1, 5000, 1000)",
            [date(2025, 3, 3), HOSTILE_SOURCE, HOSTILE_CAMPAIGN],
        )
    out = write_dashboard(_settings(path), out=tmp_path / "hostile.html")
    assert HOSTILE_CAMPAIGN not in out.read_text()

    tab, requests = _open(new_context, out)
    table = tab.page.locator("section#e2e tbody").inner_text()
    assert HOSTILE_CAMPAIGN in table and HOSTILE_SOURCE in table
    assert tab.page.evaluate("() => window.__pwned") is None
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    # won_deals is there, so CAC = cost / won_deals and ROAS = revenue / cost.
    headers = _cell_texts(tab.page, "section#e2e thead th")
    first = dict(zip(headers, _cell_texts(tab.page, "section#e2e tbody tr:first-child td"),
                     strict=True))  # fmt: skip
    assert (first["CPL"], first["CAC"], first["ROI"], first["ROAS"]) == (
        "500", "1\u202f000", "+400%", "5.00×",
    )  # fmt: skip


def _two_company_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema published")
        conn.execute(
            "create table published.e2e_daily (company_id varchar, report_date date,"
            " channel varchar, utm_source varchar, utm_medium varchar, utm_campaign varchar,"
            " sessions bigint, calls bigint, leads bigint, deals bigint, won_deals bigint,"
            " revenue decimal(18,2), cost decimal(18,2))"
        )
        conn.execute(
            "insert into published.e2e_daily values"
            " ('acme', '2025-03-03', 'paid_search', 'yandex', 'cpc', 'acme-brand',"
            "  10, 2, 2, 1, 1, 3000, 500),"
            " ('globex', '2025-03-03', 'paid_search', 'google', 'cpc', 'globex-secret',"
            "  99, 9, 9, 0, 0, 0, 900)"
        )
        # A mart without a company column cannot be cut per company.
        conn.execute(
            "create table published.attribution as select 'linear' as attribution_model,"
            " date '2025-03-03' as report_date, 'paid_search' as channel,"
            " 11.0 as attributed_leads, 0.0 as attributed_revenue"
        )


def test_one_company_sees_only_its_own_figures(new_context, tmp_path):
    path = tmp_path / "two.duckdb"
    _two_company_warehouse(path)
    out = write_dashboard(_settings(path), out=tmp_path / "acme.html", company_id="acme")
    text = out.read_text()
    assert "globex" not in text

    tab, _ = _open(new_context, out)
    funnel = _cell_texts(tab.page, "section#funnel tbody tr:first-child td")
    assert funnel[:2] == ["sessions", "10"]
    # lead_conversion = leads / sessions, deal_conversion = won_deals / leads
    stages = {r[0]: r[1:] for r in (
        _cell_texts(tab.page.locator("section#funnel tbody tr").nth(i), "td")
        for i in range(tab.page.locator("section#funnel tbody tr").count()))}  # fmt: skip
    assert stages["leads"] == ["2", "20.0% of sessions"]
    assert stages["won deals"] == ["1", "50.0% of leads"]
    assert "cannot show one company" in tab.page.locator("section#attribution").inner_text()
    assert "company acme" in tab.page.locator("header").inner_text()


def test_without_a_company_several_companies_are_labelled_as_all_together(new_context, tmp_path):
    path = tmp_path / "two.duckdb"
    _two_company_warehouse(path)
    out = write_dashboard(_settings(path), out=tmp_path / "all.html")
    tab, _ = _open(new_context, out)
    assert "all 2 companies together" in tab.page.locator("header").inner_text()
    funnel = _cell_texts(tab.page, "section#funnel tbody tr:first-child td")
    assert funnel[:2] == ["sessions", "109"]


def test_pool_health_shows_utilisation_unattributed_rate_and_the_advice(new_context, tmp_path):
    path = tmp_path / "pool.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema published")
        # pool_daily as dbt builds it: one row per company and day.
        conn.execute(
            "create table published.pool_daily (company_id varchar, report_date date,"
            " pool_size integer, recommended_size integer, exhaustion_events bigint,"
            " shared_leases bigint, utilisation double, stray_calls bigint,"
            " unattributed_calls bigint, calls bigint, unattributed_call_rate double)"
        )
        conn.execute(
            "insert into published.pool_daily values"
            " ('acme', '2025-03-03', 10, 10, 0, 0, 0.41, 0, 1, 20, 0.05),"
            " ('acme', '2025-03-04', 10, 13, 4, 6, 0.87, 1, 5, 25, 0.2)"
        )
    out = write_dashboard(_settings(path), out=tmp_path / "pool.html")
    tab, requests = _open(new_context, out)
    section = tab.page.locator("section#pool")
    headers = _cell_texts(tab.page, "section#pool > table thead th")
    latest = dict(zip(headers, _cell_texts(
        tab.page, "section#pool > table tbody tr:first-child td"), strict=True))
    assert latest["day"] == "2025-03-04"
    assert latest["utilisation"] == "87.0%"
    assert latest["unattributed calls"] == "20.0%"
    assert (latest["numbers"], latest["advisor's size"]) == ("10", "13")
    assert latest["recommendation"] == "add 3 number(s)"
    assert section.locator("img.chart").evaluate("img => img.naturalWidth > 100")
    assert tab.problems == []
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []


POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_settings(tmp_path) -> Settings:
    """A throwaway database on the local server, dropped afterwards."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"cp_dash_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"create database {name}")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({exc}): start it with `make services`")
    try:
        yield Settings(
            _env_file=None,
            var_dir=tmp_path,
            warehouse="postgres",
            warehouse_postgres_dsn=make_conninfo(POSTGRES_SERVER, dbname=name),
        )
    finally:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


def test_the_dashboard_reads_a_postgres_warehouse_too(postgres_settings, new_context, tmp_path):
    from datetime import datetime

    with warehouse.connect(postgres_settings) as wh:  # creates the raw schema
        wh.execute("create schema published")
        wh.execute(
            "create table published.e2e_daily (company_id varchar, report_date date,"
            " channel varchar, utm_source varchar, utm_medium varchar, utm_campaign varchar,"
            " sessions bigint, calls bigint, leads bigint, deals bigint, won_deals bigint,"
            " revenue numeric(18,2), cost numeric(18,2))"
        )
        wh.execute(
            "insert into published.e2e_daily values"
            " ('acme', '2025-03-03', 'paid_search', 'yandex', 'cpc', '701', 40, 6, 5, 2, 1,"
            "  12000, 2500),"
            " ('acme', '2025-03-04', 'direct', null, null, null, 20, 2, 2, 0, 0, 0, 0)"
        )
        # Two calls on Monday 2025-03-03 at 09:xx Moscow time (06:xx UTC), one outbound.
        for entry, direction, minute in (("e1", "inbound", 5), ("e2", "inbound", 40),
                                         ("e3", "outbound", 50)):
            wh.execute(
                "insert into raw.calls (company_id, entry_id, direction, started_at,"
                " attribution_reason, is_first_call, is_target, is_missed, _day)"
                " values ('acme', %s, %s, %s, 'no_lease', true, true, false, '2025-03-03')",
                [entry, direction, datetime(2025, 3, 3, 6, minute)],
            )  # fmt: skip
    out = write_dashboard(postgres_settings, out=tmp_path / "pg.html")
    tab, _ = _open(new_context, out)
    page = tab.page
    assert "PostgreSQL warehouse" in page.locator("header").inner_text()
    assert page.locator(".error").count() == 0
    funnel = _cell_texts(page, "section#funnel tbody tr:first-child td")
    assert funnel[:2] == ["sessions", "60"]
    heatmap = page.locator("section#heatmap").inner_text()
    assert "2 inbound calls; the busiest hour is Mon 09:00 (2)" in heatmap
    assert tab.problems == []
