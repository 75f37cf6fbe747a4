"""Django middleware of chatr's own: the Content-Security-Policy of HTML pages.

Client IP, refusals, limits and the request log are not middleware: they are the edge's (``chatr.edge``), which
every route of the request table passes, cached answers and streams included.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Puts ``settings.CHATR_CONTENT_SECURITY_POLICY`` on every HTML response that has none yet.

    Pages keep their initial state in data attributes, never in inline script, so the policy can
    forbid inline script outright; JSON, Markdown and the event stream need no policy.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CHATR_CONTENT_SECURITY_POLICY
        return response
