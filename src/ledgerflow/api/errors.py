"""Errors as `application/problem+json` (RFC 9457), mapped from the error tree through one table.

The status of an error is found by walking its class's MRO to the first class in `STATUS`, so a new
subclass answers like its parent until it is given a row of its own. The body carries the same `rule` the
CLI prints, and the error's details as extension members.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerflow.api.responses import JsonResponse
from ledgerflow.domain.errors import (
    AttachmentRefused,
    AttachmentTooLarge,
    AttachmentType,
    Conflict,
    EnvironmentProblem,
    Forbidden,
    InvalidInput,
    LedgerflowError,
    LimitExceeded,
    NotFound,
    Refused,
    SchemaViolation,
)
from ledgerflow.engine.idempotency import KeyReused
from ledgerflow.engine.tokens import AuthenticationFailed
from ledgerflow.ops import telemetry

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An error (RFC 9457). `rule` is the rule name the CLI prints; other members carry the details."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["urn:ledgerflow:problem:separation-of-duties"])
    title: str
    status: int
    detail: str
    rule: str


class BodyTooLarge(LimitExceeded):
    """Raised when a request body is larger than the API accepts (HTTP 413)."""

    default_rule = "input-too-large"


class UnsupportedMediaType(InvalidInput):
    """Raised when a request body is not in a media type the route reads (HTTP 415)."""

    default_rule = "unsupported-media-type"


STATUS: dict[type[Exception], int] = {
    AuthenticationFailed: 401,
    BodyTooLarge: 413,
    AttachmentTooLarge: 413,
    UnsupportedMediaType: 415,
    AttachmentType: 415,
    AttachmentRefused: 422,
    SchemaViolation: 422,
    KeyReused: 422,
    NotFound: 404,
    InvalidInput: 400,
    Forbidden: 403,
    Conflict: 409,  # InvalidTransition too
    Refused: 409,
    EnvironmentProblem: 503,
    LedgerflowError: 500,
}
"""The one error -> HTTP status table (STYLE §6); anything not derived from LedgerflowError is a 500."""

TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
          500: "Internal server error", 503: "Service unavailable"}


def status_of(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def problem_body(status: int, rule: str, detail: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"urn:ledgerflow:problem:{rule}", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "rule": rule}
    for key, value in jsonable_encoder(extra or {}).items():
        body.setdefault(key, value)
    current = telemetry.request_id.get()
    if current is not None:  # the request's log line carries the same id
        body.setdefault("request_id", current)
    return body


def problem_of(exc: LedgerflowError) -> tuple[int, dict[str, Any]]:
    """The status and problem document of a ledgerflow error."""
    status = status_of(exc)
    return status, problem_body(status, exc.rule, exc.message, exc.details)


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JsonResponse:
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="ledgerflow"', **(headers or {})}
    return JsonResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def error_response(exc: LedgerflowError) -> JSONResponse:
    return problem_response(*problem_of(exc))


def request_error(exc: RequestValidationError) -> LedgerflowError:
    """FastAPI's validation of a request as a ledgerflow error: malformed JSON is a 400, anything else a
    schema violation listing every failing path (like the engine's SchemaViolation)."""
    errors = list(exc.errors())
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        return InvalidInput(f"the request body is not valid JSON: {broken.get('ctx', {}).get('error', '')}".strip(),
                            rule="malformed-json")
    violations = [{"path": "/" + "/".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
                  for e in errors]
    listed = "; ".join(f"{v['path']}: {v['message']}" for v in violations)
    return SchemaViolation(f"the request violates its schema: {listed}", details={"violations": violations})


def install(app: FastAPI) -> None:
    """Register the handlers that turn every expected error into a problem document (anything else is
    answered by `app.Contained`)."""

    async def ledgerflow_error(_request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, LedgerflowError):
            raise TypeError(f"not a ledgerflow error: {exc!r}")
        return error_response(exc)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, RequestValidationError):
            raise TypeError(f"not a validation error: {exc!r}")
        return error_response(request_error(exc))

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):
            raise TypeError(f"not an HTTP error: {exc!r}")
        rule = {404: "unknown-route", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(exc.status_code, problem_body(exc.status_code, rule, str(exc.detail)),
                                dict(exc.headers or {}))

    app.add_exception_handler(LedgerflowError, ledgerflow_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


DESCRIPTIONS = {
    400: "What was sent is wrong: malformed JSON or YAML, a bad parameter, or input past a limit "
         "(`input-too-deep`, `not-canonical`, `yaml-aliases`, `duration-too-large`; the `rule` names it).",
    401: "The bearer token is missing, unknown, revoked or expired.",
    403: "Refused by the rights: not the assignee, separation of duties, not an owner, a missing rationale.",
    404: "Unknown, or not visible to the caller (the two are answered alike).",
    409: "Refused by the state: wrong status, a paused or stopped playbook, lint errors, a request in flight.",
    413: "The body is larger than the API accepts (`input-too-large`).",
    415: "The body is not in a media type this route reads.",
    422: "Data violating its schema (every failing path in `violations`), or a reused Idempotency-Key.",
    503: "The database is unavailable, or the server is busy (`server-busy`) or past its time limit "
         "(`time-limit`) with an expensive request.",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents a route may answer."""
    return {code: {"model": Problem, "description": DESCRIPTIONS[code]} for code in codes}
