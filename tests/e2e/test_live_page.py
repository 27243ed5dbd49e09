"""`GET /live` in real Chromium against the real service (uvicorn, the shared `api` app).

Calls arrive as signed Mango events; the page, given the company API key, must show
what `GET /v1/reports/live` answers for that key, refresh itself, and say clearly
when the key is wrong.
"""

from __future__ import annotations

import httpx
import pytest

from realtime.auth.service import create_key
from tests.e2e.conftest import open_tab
from tests.integration.test_calls_and_leads_api import mango_call, visit

pytestmark = pytest.mark.slow


@pytest.fixture
def acme_key(service) -> str:
    return create_key(service.store, "acme", "live view")[1]


@pytest.fixture
def calls_today(api) -> None:
    """Three acme calls (yandex answered, google missed, billboard) and one globex call."""
    client, _ = api
    mango_call(client, "E1", visit(client, "yandex")["number"].lstrip("+"), talk=45)
    mango_call(
        client, "E2", visit(client, "google")["number"].lstrip("+"), talk=0, caller="79160000002"
    )
    mango_call(client, "E3", "74955559999", caller="79160000003")
    mango_call(client, "G1", "78125559999", caller="79160000004", key="globex")


def _api_report(service, key: str) -> dict:
    response = httpx.get(
        f"{service.url}/v1/reports/live", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _enter_key(page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def _table(page) -> dict[str, list[int]]:
    rows = page.locator("#sources tr")
    table = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_text_contents()]
        table[cells[0]] = [int(c) for c in cells[1:]]
    return table


def _off_origin(requests: list[str], origin: str) -> list[str]:
    return [u for u in requests if not u.startswith((origin + "/", "data:"))]


def test_live_page_with_a_valid_key_shows_the_api_figures(
    service, calls_today, acme_key, new_context
):
    expected = _api_report(service, acme_key)
    assert expected["totals"]["calls"] == 3  # the page is checked against real figures

    tab = open_tab(new_context())
    requests: list[str] = []
    tab.page.on("request", lambda r: requests.append(r.url))
    response = tab.page.goto(f"{service.url}/live")
    assert response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert tab.page.locator("#report").is_hidden()  # nothing without a key

    _enter_key(tab.page, acme_key)
    tab.page.wait_for_selector("#report", state="visible")
    page = tab.page
    assert page.text_content("#total-calls") == str(expected["totals"]["calls"])
    assert page.text_content("#total-target") == str(expected["totals"]["target_calls"])
    assert page.text_content("#total-missed") == str(expected["totals"]["missed_calls"])
    assert page.text_content("#total-leads") == str(expected["totals"]["leads"])
    assert _table(page) == {
        row["source"]: [row["calls"], row["target_calls"], row["missed_calls"], row["leads"]]
        for row in expected["sources"]
    }
    assert "offline/radio" not in _table(page)  # globex's billboard stays globex's
    assert page.text_content("#day") == expected["date"]

    # The service accepted the key; the page keeps it for this tab only, not the field.
    assert {h.status for h in service.hits("GET", "/v1/reports/live")} == {200}
    assert page.evaluate("() => sessionStorage.getItem('callpath.apiKey')") == acme_key
    assert page.evaluate("() => localStorage.length") == 0
    assert page.input_value("#api-key") == ""

    assert tab.problems == [] and tab.failed_loads == []
    assert _off_origin(requests, service.url) == []


def test_live_page_refreshes_every_30_seconds(service, calls_today, acme_key, new_context, api):
    context = new_context()
    page = context.new_page()
    page.clock.install()
    page.goto(f"{service.url}/live")
    _enter_key(page, acme_key)
    page.wait_for_selector("#report", state="visible")
    before = len(service.hits("GET", "/v1/reports/live"))
    assert page.text_content("#total-calls") == "3"

    client, _ = api
    mango_call(client, "E4", "74955559999", caller="79160000005")  # a new call arrives
    page.clock.run_for(29_000)
    assert len(service.hits("GET", "/v1/reports/live")) == before
    page.clock.run_for(2_000)
    page.wait_for_function("() => document.getElementById('total-calls').textContent === '4'")
    assert len(service.hits("GET", "/v1/reports/live")) == before + 1


def test_live_page_with_a_wrong_key_says_so_and_forgets_it(service, calls_today, new_context):
    tab = open_tab(new_context())
    tab.page.goto(f"{service.url}/live")
    _enter_key(tab.page, "cp_000000000000_not-a-real-key")
    error = tab.page.wait_for_selector("#error", state="visible")
    assert "refused (401)" in error.text_content()
    assert "callpath keys create" in error.text_content()
    assert tab.page.locator("#report").is_hidden()
    assert tab.page.evaluate("() => sessionStorage.getItem('callpath.apiKey')") is None
    assert [h.status for h in service.hits("GET", "/v1/reports/live")] == [401]
    # Chromium logs the 401 itself ("Failed to load resource"); the page raised nothing.
    assert tab.problems == []
    assert all(url.endswith("/v1/reports/live") for url in tab.failed_loads)


def test_a_hostile_utm_source_is_shown_as_text_never_run(service, api, acme_key, new_context):
    """utm_source comes from the visitor's URL: anyone can put markup into it."""
    from urllib.parse import quote

    client, _ = api
    hostile = '<img src="x" onerror="window.__pwned = 1">'
    mango_call(client, "H1", visit(client, quote(hostile))["number"].lstrip("+"), talk=45)
    assert hostile in {row["source"] for row in _api_report(service, acme_key)["sources"]}

    tab = open_tab(new_context())
    tab.page.goto(f"{service.url}/live")
    _enter_key(tab.page, acme_key)
    tab.page.wait_for_selector("#report", state="visible")
    assert hostile in _table(tab.page)
    assert tab.page.locator("#sources img").count() == 0
    assert tab.page.evaluate("() => window.__pwned") is None
    assert tab.problems == [] and tab.failed_loads == []
