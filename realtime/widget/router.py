"""Serves the JS widget. It changes only on deploy, so it is cached with an ETag and
revalidated after a few minutes: clients pick up a fix the same hour."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["widget"])
WIDGET_PATH = Path(__file__).parent / "static" / "widget.js"


@lru_cache(maxsize=1)
def _widget() -> tuple[bytes, str]:
    body = WIDGET_PATH.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@router.get("/widget.js", summary="The call-tracking widget", response_class=Response)
def widget_js(request: Request) -> Response:
    body, etag = _widget()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300, stale-while-revalidate=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)
