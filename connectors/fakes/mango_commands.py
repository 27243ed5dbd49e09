"""A local Mango VPBX command API for tests, the benchmark and the demo.

    fake = FakeMangoCommands({"acme-key": "acme-salt"})
    with fake.serve() as base_url:   # point CALLPATH_MANGO_API_URL here
        ...
    fake.commands  # what was accepted, in order

What it speaks, as Mango does:
- `POST /commands/route` `{command_id, call_id, to_number, sip_headers?}` and
  `POST /commands/callback` `{command_id, from: {extension, number?}, to_number,
  line_number?}`, as form fields `vpbx_api_key`, `sign`, `json` with
  `sign = sha256_hex(vpbx_api_key + json + vpbx_api_salt)`. An unknown key or a wrong
  signature gets 401; a body that is not such a form, or a command without its required
  fields, gets 400; an accepted command gets 200 `{"result": 1000}`.
- The route limit: one `commands/route` per `route_interval` seconds per product (API
  key). A faster one gets 429 "Rate limit exceeded" and is not performed.
- `fail_next(status, times)` scripts answers (e.g. 429) for the next commands.
- With `result_url` set, each accepted route is followed by a signed
  `POST {result_url}/result/route` `{command_id, result}`, as Mango reports back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.fakes.serving import serve_in_thread

SUCCESS = 1000
INVALID_PARAMETERS = 3102  # Mango's code for a malformed command
RATE_LIMITED = 4003


def mango_sign(api_key: str, json_text: str, salt: str) -> str:
    return hashlib.sha256((api_key + json_text + salt).encode("utf-8")).hexdigest()


@dataclass
class Command:
    name: str  # "route" | "callback"
    api_key: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Refused:
    name: str
    api_key: str | None
    status: int
    reason: str
    at: float = field(default_factory=time.monotonic)


class FakeMangoCommands:
    def __init__(
        self,
        products: dict[str, str],
        *,
        route_interval: float = 2.0,
        result_url: str | None = None,
        route_result: int = SUCCESS,
        on_command: Callable[[Command], None] | None = None,
    ) -> None:
        self.products = dict(products)  # vpbx_api_key -> salt
        self.route_interval = route_interval
        self.result_url = result_url
        self.route_result = route_result
        self.on_command = on_command
        self.commands: list[Command] = []
        self.refused: list[Refused] = []
        self.results_posted: list[tuple[str, int]] = []  # (command_id, HTTP status)
        self._last_route: dict[str, float] = {}
        self._scripted: deque[int] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/commands/route", self._route, methods=["POST"]),
                Route("/commands/callback", self._callback, methods=["POST"]),
            ]
        )

    def fail_next(self, status: int = 429, times: int = 1) -> None:
        with self._lock:
            self._scripted.extend([status] * times)

    def serve(self) -> AbstractContextManager[str]:
        return serve_in_thread(self.app, lifespan="off", name="the fake Mango command API")

    def routes(self) -> list[Command]:
        return [c for c in self.commands if c.name == "route"]

    def callbacks(self) -> list[Command]:
        return [c for c in self.commands if c.name == "callback"]

    # ---- the API ---------------------------------------------------------------------

    async def _read(self, name: str, request: Request) -> tuple[str, dict] | JSONResponse:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._refuse(name, None, 400, "expected a form")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        api_key, signature, body = form.get("vpbx_api_key"), form.get("sign"), form.get("json")
        if not api_key or not signature or body is None:
            return self._refuse(name, api_key, 400, "vpbx_api_key, sign and json are required")
        salt = self.products.get(api_key)
        if salt is None:
            return self._refuse(name, api_key, 401, "unknown vpbx_api_key")
        if not hmac.compare_digest(mango_sign(api_key, body, salt), signature):
            return self._refuse(name, api_key, 401, "wrong sign")
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            return self._refuse(name, api_key, 400, "json is not JSON")
        if not isinstance(payload, dict) or not payload.get("command_id"):
            return self._refuse(name, api_key, 400, "command_id is required")
        with self._lock:
            scripted = self._scripted.popleft() if self._scripted else None
        if scripted is not None:
            return self._refuse(name, api_key, scripted, "scripted")
        return api_key, payload

    def _refuse(self, name: str, api_key: str | None, status: int, reason: str) -> JSONResponse:
        with self._lock:
            self.refused.append(Refused(name, api_key, status, reason))
        code = RATE_LIMITED if status == 429 else INVALID_PARAMETERS
        message = "Rate limit exceeded" if status == 429 else reason
        return JSONResponse({"result": code, "message": message}, status_code=status)

    def _accept(self, command: Command) -> JSONResponse:
        with self._lock:
            self.commands.append(command)
        if self.on_command is not None:
            self.on_command(command)
        return JSONResponse({"result": SUCCESS})

    async def _route(self, request: Request) -> JSONResponse:
        read = await self._read("route", request)
        if isinstance(read, JSONResponse):
            return read
        api_key, payload = read
        if not payload.get("call_id") or not payload.get("to_number"):
            return self._refuse("route", api_key, 400, "call_id and to_number are required")
        now = time.monotonic()
        with self._lock:
            last = self._last_route.get(api_key)
            too_soon = last is not None and now - last < self.route_interval
            if not too_soon:
                self._last_route[api_key] = now
        if too_soon:
            return self._refuse("route", api_key, 429, "route limit")
        response = self._accept(Command("route", api_key, payload, now))
        if self.result_url:
            asyncio.get_running_loop().create_task(
                self._post_result(api_key, str(payload["command_id"]))
            )
        return response

    async def _callback(self, request: Request) -> JSONResponse:
        read = await self._read("callback", request)
        if isinstance(read, JSONResponse):
            return read
        api_key, payload = read
        caller = payload.get("from")
        if not isinstance(caller, dict) or not caller.get("extension"):
            return self._refuse("callback", api_key, 400, "from.extension is required")
        if not payload.get("to_number"):
            return self._refuse("callback", api_key, 400, "to_number is required")
        return self._accept(Command("callback", api_key, payload))

    async def _post_result(self, api_key: str, command_id: str) -> None:
        body = json.dumps({"command_id": command_id, "result": self.route_result})
        form = {"vpbx_api_key": api_key, "sign": mango_sign(api_key, body, self.products[api_key])}
        form["json"] = body
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                response = await client.post(f"{self.result_url}/result/route", data=form)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
        with self._lock:
            self.results_posted.append((command_id, status))
