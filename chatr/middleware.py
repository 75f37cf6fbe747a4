"""Cross-cutting request plumbing: the client IP, body limits, the per-IP request limit, the request log.

Both middlewares work sync and async, so that the stream handler's chain (chatr.asgi) runs on the
event loop alone: a sync middleware in front of an async view costs a thread per open stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.deprecation import MiddlewareMixin

from chatr import metrics, ratelimits
from chatr.client_ip import client_ip
from chatr.errors import error_response, is_api_path, is_outage, outage_response

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
request_logger = logging.getLogger("chatr.request")


class DualModeMiddleware:
    """Base of middleware that runs in the sync chain and in the async stream chain alike.

    Subclasses dispatch on ``self.is_async`` in ``__call__``, so a stream never hops to a thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class ClientIpMiddleware(DualModeMiddleware):
    """Sets ``request.client_ip`` once, for every limit and log line after it."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.client_ip = client_ip(request)  # type: ignore[attr-defined]
        return self.get_response(request)  # in async mode: the awaitable, awaited by Django


class NulRefusalMiddleware(DualModeMiddleware):
    """400 for a request whose path or query string holds a NUL character, on every route.

    No id, name or parameter can contain one, and PostgreSQL refuses NUL in any text it is sent,
    so a lookup by such a path parameter (``/api/agents/%00``) would otherwise end in a 500.
    JSON bodies get the same treatment from ``chatr.parsers``.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self.__acall__(request)  # type: ignore[return-value]
        return _nul_refused(request) if _holds_nul(request) else self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return _nul_refused(request) if _holds_nul(request) else await self.get_response(request)  # type: ignore[misc]


def _holds_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    return "\x00" in request.path_info or "%00" in query or "\x00" in query


def _nul_refused(request: HttpRequest) -> HttpResponse:
    message = "The path or query string contains a NUL character."
    if is_api_path(request.path_info):
        return error_response(status=400, code="bad_request", message=message)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class ApiGuardMiddleware(DualModeMiddleware):
    """For /api and /ai: 413 for bodies over 16 KiB, 120 requests a minute per IP, limit headers."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self.__acall__(request)  # type: ignore[return-value]
        if not is_api_path(request.path_info):
            return self.get_response(request)
        token = ratelimits.begin_request()
        try:
            response = self._refusal(request) or self.get_response(request)
        finally:
            usages = ratelimits.end_request(token)
        return _with_limit_headers(response, usages)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return await self.get_response(request)
        token = ratelimits.begin_request()
        try:
            response = self._too_large(request)
            if response is None:
                try:
                    await ratelimits.aconsume("requests_per_ip", request.client_ip)  # type: ignore[attr-defined]
                except ratelimits.RateLimited as limited:
                    response = _limited_response(limited)
                except Exception as error:
                    if not is_outage(error):
                        raise
                    response = outage_response(error)
            response = response or await self.get_response(request)
        finally:
            usages = ratelimits.end_request(token)
        return _with_limit_headers(response, usages)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        """413 or 429 before the view runs, else ``None``."""
        response = self._too_large(request)
        if response is not None:
            return response
        try:
            ratelimits.consume("requests_per_ip", request.client_ip)  # type: ignore[attr-defined]
        except ratelimits.RateLimited as limited:
            return _limited_response(limited)
        except Exception as error:
            if not is_outage(error):
                raise
            return outage_response(error)  # the shared cache (Redis) is away
        return None

    def _too_large(self, request: HttpRequest) -> HttpResponse | None:
        if request.method in _BODY_METHODS and self._body_too_large(request):
            return error_response(
                status=413, code="payload_too_large", message="The request body is larger than 16 KiB."
            )
        return None

    @staticmethod
    def _body_too_large(request: HttpRequest) -> bool:
        limit = settings.CHATR_MAX_BODY_BYTES
        try:
            if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
                return True
            return len(request.body) > limit  # chunked bodies carry no Content-Length
        except (ValueError, RequestDataTooBig):
            return True


def _limited_response(limited: ratelimits.RateLimited) -> HttpResponse:
    body = limited.body()
    return error_response(
        status=429,
        headers=limited.headers(),
        code=body["code"],
        message=body["error"],
        retry_after=body["retry_after"],
    )


def _with_limit_headers(response: HttpResponse, usages: list[ratelimits.Usage]) -> HttpResponse:
    usage = ratelimits.tightest(usages)
    if usage is not None and "X-RateLimit-Limit" not in response:
        for name, value in usage.headers().items():
            response[name] = value
    return response


class StreamHostMiddleware:
    """For the stream handler's short chain (chatr.asgi), what the full chain's Common and Security
    middleware would do there: refuse a Host outside ALLOWED_HOSTS (400) and send ``nosniff``."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        request.get_host()  # DisallowedHost becomes Django's 400
        response = await self.get_response(request)  # type: ignore[misc]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Puts ``settings.CHATR_CONTENT_SECURITY_POLICY`` on every HTML response that has none yet.

    Pages keep their initial state in data attributes, never in inline script, so the policy can
    forbid inline script outright; JSON, Markdown and the event stream need no policy. (MiddlewareMixin
    makes it work in both sync and async chains, so it never forces a streaming view into a thread.)
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CHATR_CONTENT_SECURITY_POLICY
        return response


class RequestLogMiddleware(DualModeMiddleware):
    """One log line per request and the request metrics; outermost in both chains.

    The line holds the method, the path without its query string, the status, the time to the
    response's headers, the client address and, where ``agent_id`` names one, the agent that
    authenticated: never a header or a query string, so never a key. Plumbing knows no agents, so
    here ``agent_id`` names none; the settings use ``accounts.middleware.AgentRequestLogMiddleware``.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self.__acall__(request)  # type: ignore[return-value]
        started = time.perf_counter()
        response = self.get_response(request)
        self._record(request, response, time.perf_counter() - started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = await self.get_response(request)  # type: ignore[misc]
        self._record(request, response, time.perf_counter() - started)
        return response

    def agent_id(self, request: HttpRequest) -> object | None:
        """The id of the agent the request authenticated as, for the log line; ``None``: no agent."""
        return None

    def _record(self, request: HttpRequest, response: HttpResponse, seconds: float) -> None:
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        metrics.REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.REQUEST_SECONDS.labels(request.method, route).observe(seconds)
        agent_id = self.agent_id(request)
        request_logger.info(
            "%s %s %d %.1fms ip=%s%s",
            request.method,
            request.path,
            response.status_code,
            seconds * 1000,
            getattr(request, "client_ip", "-"),
            f" agent={agent_id}" if agent_id else "",
        )
