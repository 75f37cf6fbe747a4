"""What every request gets once, whatever serves it: the one home of each cross-cutting concern.

- client IP: ``chatr.client_ip`` from the socket peer and every ``X-Forwarded-For`` line;
- refusals before anything runs: a NUL in the path or query (400), a Host outside ``ALLOWED_HOSTS`` (400),
  the per-IP request limit of contract §8 (429, or 503 while the shared cache is away);
- the ``X-RateLimit-*`` headers of the tightest limit the request met (the view's own limits included) and
  ``X-Content-Type-Options: nosniff``;
- one request log line and the request metrics, labelled by the URL pattern, at the response's headers.

``chatr.pipeline`` runs these around every route of the table (ready answers, streams and mounts included).
Django's own handlers (the test client, ``manage.py runserver``) reach them through ``EdgeMiddleware``, which
steps aside for requests that already came through the pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import lru_cache
from logging import INFO
from time import perf_counter
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from chatr import metrics, ratelimits, request_log, request_settings
from chatr.body_limit import too_large
from chatr.client_ip import client_ip, client_ip_of_scope
from chatr.errors import error_response, handler400, is_outage, outage_response
from chatr.routes import Route, route_for

Scope = dict[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
MARK = "chatr.edge"  # in a request's META: the pipeline has done the edge's work for it
EXCHANGE = "chatr.exchange"  # the scope key of the request's Exchange (chatr.pipeline sets it)


class Exchange:
    """One request at the edge: what the concerns need of it, and the Django request once one is built."""

    __slots__ = ("agent_id", "ip", "method", "path", "request", "route", "started", "status", "token", "usages")

    def __init__(self, method: str, path: str, route: Route, ip: str) -> None:
        self.method = method
        self.path = path
        self.route = route
        self.ip = ip
        self.started = perf_counter()
        self.request: HttpRequest | None = None
        self.agent_id: object | None = None  # the agent a command authenticated (no Django request to ask)
        self.usages: Sequence[ratelimits.Usage] = ()  # the list ``begin`` collects into, when limits are on
        self.token: object | None = None
        self.status = 0


def exchange_of(scope: Scope, route: Route | None = None) -> Exchange:
    """The request's exchange; ``route`` when the caller already found it in the table."""
    path = scope["path"]
    return Exchange(scope["method"], path, route_for(path) if route is None else route, client_ip_of_scope(scope))


# --- Refusals -------------------------------------------------------------------------------------------------


def _refused_request(exchange: Exchange) -> HttpRequest:
    request = HttpRequest()
    request.path = request.path_info = exchange.path
    request.method = exchange.method
    return request


def nul_refusal(exchange: Exchange, query: str) -> HttpResponse | None:
    """No id, name or parameter holds a NUL, and PostgreSQL refuses NUL in any text it is sent: 400 at once."""
    if "\x00" not in exchange.path and "%00" not in query and "\x00" not in query:
        return None
    message = "The path or query string contains a NUL character."
    if exchange.route.speaks_json:
        return error_response(status=400, code="bad_request", message=message)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


_hosts: dict[bytes, bool] = {}  # a Host header's bytes → allowed
request_settings.on_change("ALLOWED_HOSTS", _hosts.clear)


def host_allowed(host: bytes) -> bool:
    allowed = _hosts.get(host)
    if allowed is None:
        domain, _ = split_domain_port(host.decode("latin-1"))
        allowed = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
        if len(_hosts) < 1024:
            _hosts[host] = allowed
    return allowed


def host_refusal(exchange: Exchange, host: bytes) -> HttpResponse | None:
    if exchange.route.chain == "mount" or host_allowed(host):
        return None  # a mount checks its own Host (the MCP SDK)
    return handler400(_refused_request(exchange))


def limit_refusal(error: Exception) -> HttpResponse:
    """The answer to a failed count of a limit: 429 in the contract's shape, or 503 while Redis is away."""
    if isinstance(error, ratelimits.RateLimited):
        body = error.body()
        code, message, retry_after = body["code"], body["error"], body["retry_after"]
        return error_response(status=429, headers=error.headers(), code=code, message=message, retry_after=retry_after)
    if is_outage(error):
        return outage_response(error)  # the shared cache (Redis) is away
    raise error


async def arefusal(exchange: Exchange, scope: Scope) -> HttpResponse | None:
    """A refusal before any chain runs, else ``None`` (the per-IP request counted once, after ``begin``)."""
    query = scope["query_string"]
    if b"%00" in query or b"\x00" in query or "\x00" in exchange.path:  # as nul_refusal reads them
        refusal = nul_refusal(exchange, query.decode("latin-1"))
        if refusal is not None:
            return refusal
    host = b""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    if not _hosts.get(host):  # not known to be allowed: check (and remember) it
        refusal = host_refusal(exchange, host)
        if refusal is not None:
            return refusal
    if request_settings.current().ratelimits and exchange.route.counts_per_ip:
        try:
            await ratelimits.aconsume("requests_per_ip", exchange.ip)
        except Exception as error:
            return limit_refusal(error)
    return None


# --- The response's headers, the log line and the metrics ----------------------------------------------------


def begin(exchange: Exchange) -> None:
    """Collect every limit the request meets from here on (the view's own too, in the request's thread) for the
    headers; ``end`` in the same context. With the limits off no limit is ever met: nothing to collect."""
    if request_settings.current().ratelimits:
        exchange.token, exchange.usages = ratelimits.collect_usages()


def end(exchange: Exchange) -> None:
    if exchange.token is not None:
        ratelimits.end_request(exchange.token)
        exchange.token = None


class Finished(list):
    """Response headers the edge needs to add nothing to but the limit headers (``nosniff`` in, no
    ``X-RateLimit-Limit``): a ready answer's, checked once when it is kept, so that its requests add the limit
    headers only when they met a limit, and copy nothing otherwise."""


def finished(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` as ``Finished`` when ``response_headers`` would add nothing but limit headers to them (they hold
    ``nosniff`` and no ``X-RateLimit-Limit``, as Django's answers do), else as they are: the plain path then."""
    names = {name.lower() for name, _ in headers}
    if b"x-content-type-options" in names and b"x-ratelimit-limit" not in names:
        return Finished(headers)
    return list(headers)


def _limit_headers(usage: ratelimits.Usage) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in usage.headers().items()]


def response_headers(exchange: Exchange, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the tightest limit's ``X-RateLimit-*`` (unless a 429 set its own) and ``nosniff``;
    ``headers`` itself when there is nothing to add."""
    if type(headers) is Finished:
        usage = ratelimits.tightest(exchange.usages) if exchange.usages else None
        return headers if usage is None else [*headers, *_limit_headers(usage)]
    usage = ratelimits.tightest(exchange.usages) if exchange.usages else None
    has_limit = has_nosniff = False
    for name, _ in headers:  # one pass, no set: this runs for every answer, ready ones included
        size = len(name)
        if size == 17:
            has_limit = has_limit or name.lower() == b"x-ratelimit-limit"
        elif size == 22:
            has_nosniff = has_nosniff or name.lower() == b"x-content-type-options"
    extra = []
    if usage is not None and not has_limit:
        extra += _limit_headers(usage)
    if not has_nosniff:
        extra.append((b"x-content-type-options", b"nosniff"))
    return [*headers, *extra] if extra else headers


@lru_cache(maxsize=1024)
def _pattern_of(path: str) -> str:
    try:
        return resolve(path).route
    except Resolver404:
        return "unmatched"


def route_label(exchange: Exchange) -> str:
    """The URL pattern the request matched: the same label whether a view or a ready answer served it."""
    if exchange.route.chain == "mount":
        return exchange.route.pattern
    match = exchange.request.resolver_match if exchange.request is not None else None
    return match.route if match is not None else _pattern_of(exchange.path)


@lru_cache(maxsize=1)
def _agent_of() -> Callable[[HttpRequest], object | None]:
    return import_string(settings.CHATR_REQUEST_AGENT)


def record(exchange: Exchange, status: int) -> None:
    """The request log line and the metrics, once per request, at its response's headers.

    The line holds the method, the path without its query string, the status, the time to the headers, the
    client address and, for a request by key, the agent (``CHATR_REQUEST_AGENT``): never a header or a query
    string, so never a key.
    """
    exchange.status = status
    seconds = perf_counter() - exchange.started
    if request_settings.current().metrics:
        counted, timed = _metric_children(exchange.method, route_label(exchange), status)
        counted.inc()
        timed.observe(seconds)
    if request_log.logger.isEnabledFor(INFO):
        agent_id = exchange.agent_id
        if agent_id is None and exchange.request is not None:
            agent_id = _agent_of()(exchange.request)
        agent = f" agent={agent_id}" if agent_id else ""
        request_log.write(exchange.method, exchange.path, status, seconds * 1000, exchange.ip, agent)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _metric_children(method: str, label: str, status: int) -> tuple[Any, Any]:
    """The two request metrics' children for these labels (``labels()`` takes a lock and builds a tuple each call);
    at most 1,024 kept, since the method is the client's to choose."""
    key = (method, label, status)
    children = _children.get(key)
    if children is None:
        children = (metrics.REQUESTS.labels(method, label, str(status)), metrics.REQUEST_SECONDS.labels(method, label))
        if len(_children) < 1024:
            _children[key] = children
    return children


def watching(exchange: Exchange, send: Send) -> Send:
    """``send`` that completes the response's headers and records the request when they go out."""

    async def send_and_record(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and not exchange.status:
            headers = message.get("headers", ())
            completed = response_headers(exchange, headers if isinstance(headers, list) else list(headers))
            if completed is not headers:
                message = {**message, "headers": completed}
            record(exchange, message["status"])
        await send(message)

    send_and_record.body_send = send  # type: ignore[attr-defined]  # the same for bodies: a stream's frames skip this
    return send_and_record


# --- Django's own handlers ------------------------------------------------------------------------------------


class EdgeMiddleware:
    """The edge for requests that did not come through ``chatr.pipeline``: Django's test client, ``runserver``.

    First in ``MIDDLEWARE``; it does nothing for a request the pipeline marked.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get(MARK):
            return self.get_response(request)
        exchange = Exchange(
            method=request.method or "GET", path=request.path_info, route=route_for(request.path_info), ip=""
        )
        exchange.ip = request.client_ip = client_ip(request)  # type: ignore[attr-defined]
        exchange.request = request
        begin(exchange)
        try:
            response = nul_refusal(exchange, request.META.get("QUERY_STRING", "")) or too_large(request)
            if response is None and exchange.route.counts_per_ip:
                try:
                    ratelimits.consume("requests_per_ip", exchange.ip)
                except Exception as error:
                    response = limit_refusal(error)
            response = response or self.get_response(request)
        finally:
            end(exchange)
        usage = ratelimits.tightest(exchange.usages)
        if usage is not None and "X-RateLimit-Limit" not in response:
            for name, value in usage.headers().items():
                response[name] = value
        record(exchange, response.status_code)
        return response
