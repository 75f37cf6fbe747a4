"""The contract's error shape (§1), for every failure on /api/* and /ai/*.

``ChatrError`` subclasses carry a stable ``code``; ``exception_handler`` turns them, DRF's own
exceptions and Django's into ``{"success": false, "error", "code", "details"?}``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from chatr.routes import speaks_json

logger = logging.getLogger("chatr.errors")


class ChatrError(Exception):
    """A domain error with an HTTP status, a stable machine code and a sentence for people."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.extra = extra or {}


class InvalidInput(ChatrError):
    code = "validation_error"
    message = "Invalid input."

    def __init__(self, details: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(message or _first_detail(details) or self.message)
        self.details = details


class InvalidJson(ChatrError):
    code = "invalid_json"
    message = "The request body is not valid JSON."


class NotAuthenticated(ChatrError):
    status_code = 401
    code = "unauthorized"
    message = "Missing or invalid API key. Send it as 'Authorization: Bearer <apiKey>'."


class Forbidden(ChatrError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do that."


class NotFound(ChatrError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(ChatrError):
    status_code = 409
    code = "conflict"
    message = "Conflict."


class PayloadTooLarge(ChatrError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is larger than 16 KiB."


class ServiceUnavailable(ChatrError):
    """PostgreSQL or Redis does not answer: nothing was changed, the client may retry."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is unavailable, try again shortly."
    headers = {"Retry-After": "5"}


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database or Redis went away (or timed out), rather than a bug."""
    import redis.exceptions
    from django.db import InterfaceError, OperationalError

    return isinstance(
        exc, (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    )


def log_outage(exc: BaseException) -> None:
    first_line = (str(exc).splitlines() or [""])[0]
    logger.warning("service unavailable: %s: %s", type(exc).__name__, first_line)


def outage_response(exc: BaseException) -> JsonResponse:
    """The 503 in the error shape, with one log line (no traceback: the cause is outside)."""
    log_outage(exc)
    error = ServiceUnavailable()
    return error_response(status=503, code=error.code, message=error.message, headers=error.headers)


def _first_detail(details: dict[str, list[str]]) -> str:
    for field, messages in details.items():
        if messages:
            prefix = "" if field == "non_field_errors" else f"{field}: "
            return f"{prefix}{messages[0]}"
    return ""


def error_body(*, status: int, code: str, message: str, details: dict | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    body.update(extra)
    return body


def error_response(
    *, status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None, **extra: Any
) -> JsonResponse:
    """A plain Django response in the error shape, for middleware and Django's own handlers."""
    body = error_body(status=status, code=code, message=message, details=details, **extra)
    response = JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def method_not_allowed(*allowed: str) -> JsonResponse:
    """405 in the error shape, for plain Django views (DRF views get theirs from the handler)."""
    return error_response(
        status=405,
        code="method_not_allowed",
        message="This method is not allowed here.",
        headers={"Allow": ", ".join(allowed)},
    )


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    flat[f"{field}.{sub}"] = messages
            elif isinstance(value, list):
                flat[str(field)] = [str(item) for item in value]
            else:
                flat[str(field)] = [str(value)]
        return flat
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def _simple(status: int, code: str, message: str) -> ChatrError:
    error = ChatrError(message)
    error.status_code, error.code = status, code
    return error


def _translate(exc: Exception) -> Exception | None:
    """Map DRF's and Django's exceptions onto our domain errors (``None``: a real bug)."""
    from chatr.ratelimits import RateLimited

    if isinstance(exc, (ChatrError, RateLimited)):
        return exc
    if is_outage(exc):
        log_outage(exc)
        return ServiceUnavailable()
    if isinstance(exc, drf.ValidationError):
        return InvalidInput(_flatten(exc.detail))
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return NotAuthenticated()
    if isinstance(exc, drf.ParseError):
        return InvalidJson()
    if isinstance(exc, drf.UnsupportedMediaType):
        return _simple(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.")
    if isinstance(exc, drf.MethodNotAllowed):
        return _simple(405, "method_not_allowed", "This method is not allowed here.")
    if isinstance(exc, (drf.NotFound, Http404)):
        return NotFound()
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return Forbidden()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, drf.NotAcceptable):
        return _simple(406, "not_acceptable", "This endpoint answers JSON only.")
    if isinstance(exc, drf.APIException):
        return _simple(exc.status_code, str(exc.default_code), str(exc.detail))
    return None


def error_for(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """``(status, body in the contract's shape)`` for ``exc``; ``None`` for a real bug. MCP tool errors use it."""
    from chatr.ratelimits import RateLimited

    error = _translate(exc)
    if error is None:
        return None
    if isinstance(error, RateLimited):
        return 429, error.body()
    assert isinstance(error, ChatrError)
    details = getattr(error, "details", None)
    return error.status_code, error_body(
        status=error.status_code, code=error.code, message=error.message, details=details, **error.extra
    )


def error_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """``(status, body, headers)`` of the answer to ``exc`` in the contract's shape; ``None`` for a real bug.

    The one mapping of exceptions to answers: DRF's exception handler (below) and the request table's commands
    (``chatr.commands``) both answer with it.
    """
    from chatr.ratelimits import RateLimited

    error = _translate(exc)
    if error is None:
        return None
    if isinstance(error, RateLimited):
        return 429, error.body(), error.headers()
    assert isinstance(error, ChatrError)
    details = getattr(error, "details", None)
    body = error_body(status=error.status_code, code=error.code, message=error.message, details=details, **error.extra)
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="chatr"'
    return error.status_code, body, headers


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error in the contract's shape."""
    answer = error_answer(exc)
    if answer is None:
        return None  # a real bug: Django's 500 handler answers, still in our shape
    status, body, headers = answer
    return Response(body, status=status, headers=headers or None)


def is_api_path(path: str) -> bool:
    """Whether errors on ``path`` take the contract's JSON shape: the request table says (``chatr.routes``)."""
    return speaks_json(path)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(status=404, code="not_found", message="Not found.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, so it is still the current one.
    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        if is_api_path(request.path):
            return outage_response(exc)
        return HttpResponse("The service is unavailable, try again shortly.", status=503, content_type="text/plain")
    if is_api_path(request.path):
        return error_response(status=500, code="server_error", message="Internal server error.")
    from django.views.defaults import server_error

    return server_error(request)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(status=403, code="forbidden", message="You are not allowed to do that.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception or DjangoPermissionDenied())


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(status=400, code="bad_request", message="Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception or Exception())
