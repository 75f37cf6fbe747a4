"""Trailing-slash redirects for the pages and the API docs.

Django's users expect ``/groups`` to lead to ``/groups/``, but ``APPEND_SLASH`` stays off: the API under ``/api`` and
``/ai`` answers its contract's paths exactly (a redirected POST would lose its body). So only the pages and docs that
exist with a slash get a pattern without it, here, and only GET and HEAD are redirected; any other method is told
405 (the pages and docs take no other method either), never sent elsewhere.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponsePermanentRedirect
from django.urls import URLPattern, path
from django.utils.encoding import escape_uri_path


def append_slash(request: HttpRequest, **_: object) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(escape_uri_path(request.path) + "/" + (f"?{query}" if query else ""))


def slash_redirects(*routes: str) -> list[URLPattern]:
    """A redirecting pattern for each route, given without its trailing slash."""
    return [path(route, append_slash) for route in routes]
