"""Cross-cutting request plumbing: the client IP, body limits and the per-IP request limit."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from chatr import ratelimits
from chatr.client_ip import client_ip
from chatr.errors import error_response, is_api_path

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ClientIpMiddleware:
    """Sets ``request.client_ip`` once, for every limit and log line after it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.client_ip = client_ip(request)  # type: ignore[attr-defined]
        return self.get_response(request)


class ApiGuardMiddleware:
    """For /api and /ai: 413 for bodies over 16 KiB, 120 requests a minute per IP, limit headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return self.get_response(request)
        token = ratelimits.begin_request()
        try:
            response = self._guarded(request)
        finally:
            usages = ratelimits.end_request(token)
        usage = ratelimits.tightest(usages)
        if usage is not None and "X-RateLimit-Limit" not in response:
            for name, value in usage.headers().items():
                response[name] = value
        return response

    def _guarded(self, request: HttpRequest) -> HttpResponse:
        if request.method in _BODY_METHODS and self._body_too_large(request):
            return error_response(
                status=413, code="payload_too_large", message="The request body is larger than 16 KiB."
            )
        try:
            ratelimits.consume("requests_per_ip", request.client_ip)  # type: ignore[attr-defined]
        except ratelimits.RateLimited as limited:
            return error_response(status=429, headers=limited.headers(), **_body_kwargs(limited))
        return self.get_response(request)

    @staticmethod
    def _body_too_large(request: HttpRequest) -> bool:
        limit = settings.CHATR_MAX_BODY_BYTES
        try:
            if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
                return True
            return len(request.body) > limit  # chunked bodies carry no Content-Length
        except (ValueError, RequestDataTooBig):
            return True


def _body_kwargs(limited: ratelimits.RateLimited) -> dict:
    body = limited.body()
    return {"code": body["code"], "message": body["error"], "retry_after": body["retry_after"]}


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Puts ``settings.CHATR_CONTENT_SECURITY_POLICY`` on every HTML response that has none yet.

    Pages keep their initial state in ``json_script`` blocks and data attributes, so the policy can
    forbid inline script outright; JSON, Markdown and the event stream need no policy. (MiddlewareMixin
    makes it work in both sync and async chains, so it never forces a streaming view into a thread.)
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CHATR_CONTENT_SECURITY_POLICY
        return response
