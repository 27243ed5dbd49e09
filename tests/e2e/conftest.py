"""Browser fixtures: the real service under uvicorn, a separate page server, Chromium.

The service is the app of the shared `api` fixture (tmp stores seeded with
`seed_tenants`, a `ManualClock`), served by a real uvicorn on a free port in a
background thread. Test pages come from another local HTTP server on another port, so
every widget call is a real cross-origin request. Chromium is Debian's, driven by
Playwright; only the browser tests skip when it is absent.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers import bound_socket, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Headless Chromium announces itself as HeadlessChrome, which the service rightly treats as
# a bot (fallback number). The tests play real visitors, so they look like desktop Chrome.
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
# How long the fake slow service keeps the widget waiting: well past its 1.5 s budget.
SLOW_SECONDS = 2.5


# --- the service ---------------------------------------------------------------------------
@dataclass
class Hit:
    method: str
    path: str
    status: int | None = None
    body: bytes = b""

    def json(self) -> dict:
        return json.loads(self.body)


class RecordingApp:
    """ASGI wrapper that records every HTTP request the service answered."""

    def __init__(self, app) -> None:
        self.app = app
        self.hits: list[Hit] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        hit = Hit(scope["method"], scope["path"])

        async def recording_send(message):
            if message["type"] == "http.response.start":
                hit.status = message["status"]
            elif message["type"] == "http.response.body":
                hit.body += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, recording_send)
        self.hits.append(hit)


@dataclass
class Service:
    url: str
    store: object
    recorder: RecordingApp

    def hits(self, method: str = "POST", path_end: str = "") -> list[Hit]:
        return [
            h for h in list(self.recorder.hits) if h.method == method and h.path.endswith(path_end)
        ]

    def visits(self) -> list[Hit]:
        return [h for h in self.hits("POST") if h.path == "/v1/visits"]

    def pings(self) -> list[Hit]:
        return self.hits("POST", "/ping")


@pytest.fixture
def service(api) -> Iterator[Service]:
    client, store = api  # the TestClient has run the app's startup; uvicorn only serves it
    recorder = RecordingApp(client.app)
    with serve_in_thread(recorder, lifespan="off") as url:
        yield Service(url, store, recorder)


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: connections are refused at once."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# --- the site ------------------------------------------------------------------------------
@dataclass
class PageServer:
    """A local web server holding test pages, plus fake services that misbehave."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.url + path


def _handler(site: PageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            html = site.pages.get(self.path.split("?", 1)[0])
            if html is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, html.encode(), "text/html; charset=utf-8")

        def do_OPTIONS(self) -> None:  # CORS preflight for the fake services
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = {
                "session_id": "s_fake",
                "visitor_id": "v_fake",
                "number": "+74955551234",
                "number_display": "+7 (495) 555-12-34",
                "lease_expires_at": None,
            }
            if self.path.startswith("/slow/"):  # a valid number, but far too late
                time.sleep(SLOW_SECONDS)
            elif self.path.startswith("/error/"):
                self._send(500, b'{"error": "internal"}', "application/json")
                return
            elif self.path.startswith("/no-number/"):
                answer.update(number=None, number_display=None)
            self._send(200, json.dumps(answer).encode(), "application/json")

    return Handler


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    server = PageServer("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    httpd.block_on_close = False  # a sleeping /slow/ answer must not hold up teardown
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


# --- the browser ---------------------------------------------------------------------------
# Module, not session: Playwright's sync API keeps an event loop running in this thread
# until it stops, and later tests that call asyncio.run() would find it.
@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`"
        # CI sets CALLPATH_REQUIRE_SYSTEM_TOOLS: there a missing browser is a failure, not a skip.
        if os.environ.get("CALLPATH_REQUIRE_SYSTEM_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser) -> Iterator[Callable]:
    """Fresh browser profiles (cookies, storage) that look like a desktop visitor."""
    contexts = []

    def make():
        context = browser.new_context(user_agent=DESKTOP_UA)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@dataclass
class Tab:
    page: object
    problems: list[str]  # uncaught errors, console errors and warnings: must stay empty
    failed_loads: list[str]  # URLs the browser itself logged as "Failed to load resource"


def open_tab(context) -> Tab:
    """A page that collects what the widget must never cause.

    Chromium logs every failed request (refused, aborted, 4xx, 5xx) to the console on its
    own, as "Failed to load resource"; no script can prevent that, and it is no JS error.
    Those lines are kept apart, by URL, so tests can check they concern only the service.
    """
    page = context.new_page()
    tab = Tab(page, [], [])

    def on_console(msg) -> None:
        if msg.type not in ("error", "warning"):
            return
        if msg.type == "error" and msg.text.startswith("Failed to load resource:"):
            tab.failed_loads.append(msg.location.get("url", ""))
        else:
            tab.problems.append(f"console.{msg.type}: {msg.text}")

    page.on("pageerror", lambda exc: tab.problems.append(f"pageerror: {exc}"))
    page.on("console", on_console)
    return tab
