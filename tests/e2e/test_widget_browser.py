"""The widget in a real browser against the real service: a page from one origin, the
service on another, as on a client's site."""

from __future__ import annotations

import gzip
import re
import time
from datetime import datetime, timedelta

import httpx
import pytest

from realtime.widget.router import WIDGET_PATH
from tests.e2e.conftest import SLOW_SECONDS, open_tab

ORIGINAL = "+7 (495) 123-45-67"  # the site's own number, hard-coded in its pages
ORIGINAL_TEL = "tel:+74951234567"
PLACEHOLDER = f'<span class="callpath-phone" id="phone">{ORIGINAL}</span>'
TEL_LINK = f'<a id="call" href="{ORIGINAL_TEL}">Call us</a>'
NUMBER_JS = "() => window.callpath && window.callpath.getNumber()"


def snippet(api_url: str, asynchronous: bool = True, **data: str) -> str:
    attrs = "".join(f' data-{name.replace("_", "-")}="{value}"' for name, value in data.items())
    flag = " async" if asynchronous else ""
    return f'<script src="{api_url}/widget.js" data-site="acme-site"{attrs}{flag}></script>'


def html(body: str, head: str = "") -> str:
    # The data: icon keeps Chromium from asking for /favicon.ico (a 404 is a console error).
    return (
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>Shop</title>{head}</head><body>{body}</body></html>"
    )


def path_for(request: pytest.FixtureRequest) -> str:
    return "/" + re.sub(r"\W+", "_", request.node.name) + ".html"


def wait_for_number(page) -> dict:
    return page.wait_for_function(NUMBER_JS, timeout=5000).json_value()


def wait_until(condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def text(page, selector: str) -> str:
    return page.locator(selector).text_content()


def session_id(page) -> str:
    return page.evaluate("() => sessionStorage.getItem('_cp_sid')")


def visitor_cookie(context) -> dict:
    [cookie] = [c for c in context.cookies() if c["name"] == "_cp_vid"]
    return cookie


def national_format(number: str, template: str) -> str:
    digits = iter(number[-template.count("X") :])
    return "".join(next(digits) if ch == "X" else ch for ch in template)


def last_answer(service) -> dict:
    answers = [h.json() for h in service.visits() + service.pings() if h.status == 200]
    return answers[-1]


# --- size ----------------------------------------------------------------------------------
def test_widget_is_under_10_kb_gzipped_and_served_as_javascript(service):
    source = WIDGET_PATH.read_bytes()
    assert len(gzip.compress(source, compresslevel=9)) <= 10 * 1024
    r = httpx.get(f"{service.url}/widget.js", headers={"Origin": "https://shop.example"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.content == source


# --- placement -----------------------------------------------------------------------------
INJECT_AFTER_LOAD = """<script>
window.addEventListener('load', function () {
  var s = document.createElement('script');
  s.src = '%s/widget.js';
  s.setAttribute('data-site', 'acme-site');
  document.body.appendChild(s);
});
</script>"""


@pytest.mark.parametrize("placement", ["head", "body-start", "body-end", "injected-after-load"])
def test_the_number_replaces_the_placeholder_wherever_the_snippet_is(
    placement, service, pages, new_context, request
):
    tag = snippet(service.url)
    content = f"<h1>Shop</h1><p>Call {PLACEHOLDER} today</p><footer>{TEL_LINK}</footer>"
    page_html = {
        "head": html(content, head=tag),
        "body-start": html(tag + content),
        "body-end": html(content + tag),
        "injected-after-load": html(content + INJECT_AFTER_LOAD % service.url),
    }[placement]
    tab = open_tab(new_context())
    tab.page.goto(pages.add(path_for(request), page_html))

    shown = wait_for_number(tab.page)
    answer = last_answer(service)
    assert answer["number"] and answer["number_display"] != ORIGINAL
    assert shown["number"] == answer["number"]
    assert shown["display"] == answer["number_display"]  # no data-format: the server's display
    assert text(tab.page, "#phone") == answer["number_display"]
    # Without data-replace every tel: link dials the tracking number.
    assert tab.page.get_attribute("#call", "href") == "tel:" + answer["number"]
    assert tab.problems == []


# --- formatting and replacement ------------------------------------------------------------
def test_format_template_tel_links_and_the_sites_own_number_in_text_are_replaced(
    service, pages, new_context, request
):
    template = "8 (XXX) XXX-XX-XX"
    body = f"""
      <header>{PLACEHOLDER} {TEL_LINK} <a id="fax" href="tel:+78125550000">Fax</a></header>
      <p id="prose">Звоните: 8 (495) 123-45-67 или +7 495 123 45 67, пн–пт.</p>
      <footer><b id="bold">+7(495)123-45-67</b> <span id="longer">+7 (495) 123-45-678</span>
      <a id="call-8" href="tel:84951234567">8 495 123-45-67</a></footer>
      <textarea id="form">{ORIGINAL}</textarea>
    """
    tag = snippet(service.url, format=template, replace=ORIGINAL)
    tab = open_tab(new_context())
    tab.page.goto(pages.add(path_for(request), html(body + tag)))

    shown = wait_for_number(tab.page)
    expected = national_format(shown["number"], template)
    assert expected.startswith("8 (")
    assert shown["display"] == expected
    page = tab.page
    assert text(page, "#phone") == expected
    assert text(page, "#prose") == f"Звоните: {expected} или {expected}, пн–пт."
    assert text(page, "#bold") == expected
    assert text(page, "#call-8") == expected
    assert page.get_attribute("#call", "href") == "tel:" + shown["number"]
    assert page.get_attribute("#call-8", "href") == "tel:" + shown["number"]
    # Other numbers, longer digit runs and form fields stay as they are.
    assert page.get_attribute("#fax", "href") == "tel:+78125550000"
    assert text(page, "#longer") == "+7 (495) 123-45-678"
    assert page.input_value("#form") == ORIGINAL

    # Content that arrives later (a popup, a SPA view) is handled too.
    page.evaluate(
        """() => document.body.insertAdjacentHTML('beforeend',
        '<div id="late"><p id="late-text">Or call +7 (495) 123-45-67</p>' +
        '<span class="callpath-phone" id="late-phone">…</span>' +
        '<a id="late-tel" href="tel:+74951234567">call</a></div>')"""
    )
    page.wait_for_function(
        "e => document.querySelector('#late-text').textContent === 'Or call ' + e", arg=expected
    )
    assert text(page, "#late-phone") == expected
    assert page.get_attribute("#late-tel", "href") == "tel:" + shown["number"]
    assert tab.problems == []


# --- JS API --------------------------------------------------------------------------------
def test_on_number_fires_before_and_after_arrival_and_get_number_returns_it(
    service, pages, new_context, request
):
    head = (
        # queued before the widget even loads
        "<script>window.seen = [];"
        "window.callpath = window.callpath || [];"
        "callpath.push(['on', 'number', function (n) { seen.push(['queued', n]); }]);</script>"
        + snippet(service.url, asynchronous=False)
        # registered once the widget runs, while its request is still out
        + "<script>window.beforeArrival = callpath.getNumber();"
        "callpath.on('number', function (n) { seen.push(['early', n]); });</script>"
    )
    context = new_context()
    tab = open_tab(context)
    tab.page.goto(pages.add(path_for(request), html(PLACEHOLDER, head=head)))

    shown = wait_for_number(tab.page)
    assert tab.page.evaluate("() => window.beforeArrival") is None
    late = tab.page.evaluate(
        """() => { const got = [];
                   callpath.on('number', n => got.push(n));
                   return got; }"""
    )
    seen = tab.page.evaluate("() => window.seen")
    answer = last_answer(service)
    expected = {
        "number": answer["number"],
        "display": answer["number_display"],
        "sessionId": answer["session_id"],
        "visitorId": answer["visitor_id"],
    }
    assert shown == expected
    assert late == [expected]  # fired at once, synchronously, for a late subscriber
    assert seen == [["queued", expected], ["early", expected]]
    assert expected["sessionId"] == session_id(tab.page)
    assert expected["visitorId"] == visitor_cookie(context)["value"]
    assert tab.problems == []


# --- heartbeats ----------------------------------------------------------------------------
def test_heartbeats_extend_the_lease_only_while_the_page_is_visible(
    service, pages, new_context, clock, request
):
    tab = open_tab(new_context())
    tab.page.goto(
        pages.add(path_for(request), html(PLACEHOLDER + snippet(service.url, heartbeat="1")))
    )
    shown = wait_for_number(tab.page)
    first_lease = datetime.fromisoformat(service.visits()[-1].json()["lease_expires_at"])

    wait_until(lambda: service.pings())
    clock.advance(timedelta(minutes=5))
    seen = len(service.pings())
    wait_until(lambda: len(service.pings()) >= seen + 2)
    pings = service.pings()
    assert {p.status for p in pings} == {200}
    assert {p.path for p in pings} == {f"/v1/visits/{shown['sessionId']}/ping"}
    last = pings[-1].json()
    assert last["number"] == shown["number"]
    assert datetime.fromisoformat(last["lease_expires_at"]) >= first_lease + timedelta(minutes=5)

    # A hidden tab (another tab in front, a minimised window) stops beating...
    tab.page.evaluate(
        """() => { Object.defineProperty(document, 'visibilityState',
                     {configurable: true, get: () => 'hidden'});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    time.sleep(0.3)  # let a beat already on the wire land
    hidden_from = len(service.pings())
    time.sleep(2.2)
    assert len(service.pings()) == hidden_from
    # ...and beats again as soon as it is visible.
    tab.page.evaluate(
        """() => { Object.defineProperty(document, 'visibilityState',
                     {configurable: true, get: () => 'visible'});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    wait_until(lambda: len(service.pings()) > hidden_from, timeout=1.0)
    assert tab.problems == []


def test_a_ping_for_an_ended_session_posts_a_new_visit(
    service, pages, new_context, clock, settings, request
):
    context = new_context()
    tab = open_tab(context)
    tab.page.goto(
        pages.add(path_for(request), html(PLACEHOLDER + snippet(service.url, heartbeat="1")))
    )
    first = wait_for_number(tab.page)

    clock.advance(timedelta(minutes=settings.session_timeout_minutes + 1))
    wait_until(lambda: any(p.status == 404 for p in service.pings()))
    tab.page.wait_for_function(
        "old => ![null, old].includes(sessionStorage.getItem('_cp_sid'))", arg=first["sessionId"]
    )
    new_sid = session_id(tab.page)
    assert len(service.visits()) == 2
    new_session = service.store.get_session("acme", new_sid)
    assert new_session.visitor_id == first["visitorId"] == visitor_cookie(context)["value"]
    now_shown = tab.page.wait_for_function(
        "old => { const n = callpath.getNumber(); return n.sessionId !== old && n; }",
        arg=first["sessionId"],
    ).json_value()
    assert text(tab.page, "#phone") == now_shown["display"]
    assert now_shown["display"] == last_answer(service)["number_display"]
    assert tab.problems == []
    # The 404 that ended the old session is in Chromium's network log, and only that.
    assert set(tab.failed_loads) == {f"{service.url}/v1/visits/{first['sessionId']}/ping"}


# --- failure safety ------------------------------------------------------------------------
@pytest.mark.parametrize("failure", ["refused", "slow", "error", "no-number"])
def test_when_the_service_fails_the_page_keeps_its_number_and_has_no_errors(
    failure, service, pages, new_context, closed_port_url, request
):
    api = closed_port_url if failure == "refused" else f"{pages.url}/{failure}"
    body = f'{PLACEHOLDER} {TEL_LINK} <p id="prose">Call {ORIGINAL}</p>' + snippet(
        service.url, api=api, replace=ORIGINAL, format="8 (XXX) XXX-XX-XX"
    )
    url = pages.add(path_for(request), html(body))
    tab = open_tab(new_context())
    outcome = "requestfailed" if failure in ("refused", "slow") else "response"
    started = time.monotonic()
    with tab.page.expect_event(
        outcome, predicate=lambda r: r.url.endswith("/v1/visits"), timeout=5000
    ):
        tab.page.goto(url)
    elapsed = time.monotonic() - started
    if failure == "slow":
        assert 1.3 <= elapsed < SLOW_SECONDS  # given up at 1.5 s, before the answer came
        time.sleep(SLOW_SECONDS + 0.3 - elapsed)  # the late answer changes nothing either
    else:
        time.sleep(0.3)

    page = tab.page
    assert page.evaluate("() => callpath.getNumber()") is None
    assert text(page, "#phone") == ORIGINAL
    assert text(page, "#prose") == f"Call {ORIGINAL}"
    assert page.get_attribute("#call", "href") == ORIGINAL_TEL
    assert tab.problems == []
    # Chromium's own network log may name the failed call (refused, 500); nothing else.
    assert set(tab.failed_loads) <= {f"{api}/v1/visits"}


# --- attribution ---------------------------------------------------------------------------
def test_the_utm_landing_url_and_referrer_reach_the_server(service, pages, new_context, request):
    url = pages.add(path_for(request), html(PLACEHOLDER + snippet(service.url)))
    landing = url + "?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=4242"
    tab = open_tab(new_context())
    tab.page.goto(landing, referer="https://yandex.ru/")
    shown = wait_for_number(tab.page)

    session = service.store.get_session("acme", shown["sessionId"])
    assert session.landing_url == landing
    assert (session.utm_source, session.utm_medium, session.utm_campaign, session.yclid) == (
        "yandex",
        "cpc",
        "spring_sale",
        "4242",
    )
    assert session.referrer == "https://yandex.ru/"
    assert tab.problems == []


def test_a_returning_visitor_keeps_the_same_visitor_id(service, pages, new_context, request):
    url = pages.add(path_for(request), html(PLACEHOLDER + snippet(service.url)))
    context = new_context()
    first_tab = open_tab(context)
    first_tab.page.goto(url)
    first = wait_for_number(first_tab.page)
    cookie = visitor_cookie(context)
    assert re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", cookie["value"])
    assert cookie["path"] == "/" and cookie["sameSite"] == "Lax"
    assert 364 * 86400 < cookie["expires"] - time.time() <= 365 * 86400
    first_tab.page.close()

    # A new tab has no sessionStorage: only the cookie says who this is.
    again_tab = open_tab(context)
    again_tab.page.goto(url)
    again = wait_for_number(again_tab.page)
    assert again["visitorId"] == first["visitorId"] == cookie["value"]
    assert again["sessionId"] == first["sessionId"]  # within the session timeout
    assert service.store.get_session("acme", again["sessionId"]).visitor_id == cookie["value"]

    # A visitor whose cookie was set long ago keeps that id as well.
    old_friend = new_context()
    old_friend.add_cookies([{"name": "_cp_vid", "value": "v_returning42", "url": pages.url}])
    tab = open_tab(old_friend)
    tab.page.goto(url)
    shown = wait_for_number(tab.page)
    assert shown["visitorId"] == "v_returning42"
    assert service.store.get_session("acme", shown["sessionId"]).visitor_id == "v_returning42"
    assert first_tab.problems == again_tab.problems == tab.problems == []
