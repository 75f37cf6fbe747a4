"""``/search``: the human page over the same search service as ``GET /api/search`` (contract §12)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chatr.errors import ChatrError
from chatr.ratelimits import RateLimited
from search import selectors, services


def search_page(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("q", "")
    context: dict = {"search_q": raw, "hits": [], "next": None, "error": None}
    if not raw.strip():
        return render(request, "chat/search.html", context)
    try:
        services.count_search(client_ip=request.client_ip)  # type: ignore[attr-defined]
        results = selectors.search(params=request.GET)
    except RateLimited as limited:
        context["error"] = f"{limited.message} Try again in {limited.usage.retry_after} s."
        response = render(request, "chat/search.html", context, status=429)
        for name, value in limited.headers().items():
            response[name] = value
        return response
    except ChatrError as error:
        context["error"] = error.message
        return render(request, "chat/search.html", context, status=error.status_code)
    if results.next is not None:
        params = {key: results.params[key] for key in ("q", "room", "from") if results.params.get(key)}
        context["next"] = urlencode({**params, "before": results.next})
    context["hits"] = results.hits
    return render(request, "chat/search.html", context)
