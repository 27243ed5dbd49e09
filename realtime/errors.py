"""Typed errors, mapped to HTTP answers in one place (`install_error_handlers`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class CallpathError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(CallpathError):
    status_code = 400
    code = "bad_input"


class Unauthorized(CallpathError):
    status_code = 401
    code = "unauthorized"


class NotFound(CallpathError):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(CallpathError):
    status_code = 413
    code = "payload_too_large"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CallpathError)
    async def _handle(_: Request, exc: CallpathError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.code, "message": exc.message}
        )
