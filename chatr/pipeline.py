"""One request pipeline: the body limit, the edge, then the chain the request table names (``chatr.routes``).

    BodyLimit → edge (client IP, refusals, per-IP limit; log, metrics and headers at the response) → chain

- ``mount``: the app's ASGI application (``/mcp``);
- ``stream``: ``StreamChain``, Django's async handler without middleware: a stream never takes a thread;
- ``api`` / ``page``: a ready answer when the route has a rule and the answer is current (``ResponseCache``); a
  POST to a route with a command, the command (``chatr.commands.CommandChain``, falling through to ``SyncChain``
  for what it does not take); else ``SyncChain``: the request is built from the ASGI scope and the body
  ``BodyLimit`` read, and Django's sync handler (middleware, URL resolution, the DRF view) runs on one thread of a
  fixed pool — one hop from the event loop per request — whose answer the loop then sends.

Django's ASGI handler would start a thread per request and cross between the loop and threads three times
around a sync view and a sync middleware; a WSGI bridge adds a translation of the request and the response and
a hand-over of each. What belongs to apps is named in settings by dotted path, so this package imports no app.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, cast

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted, RequestDataTooBig
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

from chatr import edge
from chatr.body_limit import BodyLimit
from chatr.commands import CommandChain
from chatr.response_cache import ResponseCache
from chatr.routes import table

logger = logging.getLogger("django.request")
tasks_logger = logging.getLogger("chatr.pipeline")
Scope = dict[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
EXCHANGE = edge.EXCHANGE  # the scope key of the request's edge.Exchange


def _encoded_headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"set-cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


async def send_response(response: HttpResponseBase, body: bytes, send: Send, *, head: bool) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": _encoded_headers(response)})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _marked(request: HttpRequest, exchange: edge.Exchange) -> HttpRequest:
    request.META[edge.MARK] = True
    request.client_ip = exchange.ip  # type: ignore[attr-defined]
    exchange.request = request
    return request


class SyncChain(BaseHandler):
    """Django's sync handler with one middleware list, as an ASGI application that hops to a thread once."""

    def __init__(self, middleware: list[str], executor: ThreadPoolExecutor) -> None:
        super().__init__()
        self.middleware = middleware
        self.executor = executor
        self.load_middleware()

    # Django's handlers keep these private lists, which django-stubs does not declare.
    _view_middleware: list[Callable[..., Any]]
    _template_response_middleware: list[Callable[..., Any]]
    _exception_middleware: list[Callable[..., Any]]

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # not in the stubs
        for path in reversed(self.middleware):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        message = await receive()  # BodyLimit hands over the whole body in one message
        if message["type"] != "http.request":
            return  # the client left before its body arrived
        context = contextvars.copy_context()  # the edge's collection of limit usages goes along
        loop = asyncio.get_running_loop()
        response, body = await loop.run_in_executor(
            self.executor, context.run, self.respond, scope, message.get("body", b"")
        )
        await send_response(response, body, send, head=scope["method"] == "HEAD")

    def respond(self, scope: Scope, body: bytes) -> tuple[HttpResponseBase, bytes]:
        """On a request thread: what Django's WSGI handler does for one request, with the body in hand."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        try:
            request = ASGIRequest(scope, io.BytesIO(body))
        except UnicodeDecodeError:
            logger.warning("Bad Request (UnicodeDecodeError)", exc_info=True, extra={"status_code": 400})
            response: HttpResponseBase = HttpResponseBadRequest()
        except RequestDataTooBig:
            response = HttpResponse("413 Payload too large", status=413)
        else:
            response = self.get_response(_marked(request, scope[EXCHANGE]))
            response._resource_closers.append(request.close)  # type: ignore[attr-defined]  # not in the stubs
        try:
            content = b"".join(response) if response.streaming else cast(HttpResponse, response).content
        finally:
            response.close()  # request_finished: Django gives back the database connection
        return response, content


class StreamChain(ASGIHandler):
    """Long-lived streams on the event loop: Django's async handler, no middleware, no per-request thread."""

    # Django's handlers keep these private lists, which django-stubs does not declare.
    _view_middleware: list[Callable[..., Any]]
    _template_response_middleware: list[Callable[..., Any]]
    _exception_middleware: list[Callable[..., Any]]

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response_async  # type: ignore[attr-defined]  # not in the stubs
        )

    def create_request(
        self, scope: Mapping[str, Any], body_file: IO[bytes]
    ) -> tuple[ASGIRequest, None] | tuple[None, HttpResponseBase]:
        created = super().create_request(scope, body_file)
        if created[0] is not None:
            _marked(created[0], scope[EXCHANGE])
        return created

    async def send_response(self, response: HttpResponseBase, send: Send) -> None:
        serve = getattr(response, "serve", None)
        if serve is None:
            await super().send_response(response, send)
            return
        # An event stream writes itself: the headers, then ``serve`` writes its frames to ``send`` until it ends.
        headers = _encoded_headers(response)
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await serve(send)
        await send({"type": "http.response.body"})

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        # ASGIHandler wraps each request in a ThreadSensitiveContext whose worker thread lives as
        # long as the response; a stream's database work runs in the default thread pool instead.
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Any, send: Send) -> None:
        """Django's ``ASGIHandler.handle`` less the request signals and the closing thread hop.

        The signals' receivers (closing database connections, resetting caches) run sync code, which
        ASGIHandler sends to asgiref's one process-wide sync thread: twice per stream, so a crowd of
        viewers arriving at once queued on that one thread. A stream uses no database connection in
        the event loop's thread, so there is nothing for them to do.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            assert error_response is not None  # Django's create_request answers a request or an error
            await self.send_response(error_response, send)
            return

        async def process_request() -> HttpResponseBase:
            # The edge's refusals run here, while the disconnect is already listened for: a client that leaves
            # during them (a count on Redis takes a thread) still ends the stream.
            response = await edge.arefusal(scope[EXCHANGE], scope) or await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left while it was answered
                await self.send_response(response, send)
            return response

        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        answering = asyncio.create_task(process_request())
        try:
            await asyncio.wait([listening, answering], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Also when the server cancels us (daphne kills an application some time after its
            # client left): ``asyncio.wait`` leaves the tasks running, and a stream would live on.
            for task in (listening, answering):
                await ended(task)
            for task in (listening, answering):
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task  # done: its error, if any, is the request's
            if answering.done() and not answering.cancelled() and answering.exception() is None:
                _close_quietly(answering.result())
            body_file.close()


RECANCEL_SECONDS = 1.0


async def ended(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` until it has ended.

    Once is not always enough: Python 3.11's ``asyncio.wait_for`` returns its future's result when the future
    completes in the turn its caller is cancelled, and redis-py writes every command through it (with a
    socket timeout): a stream whose client left while its process subscribed through Redis went on, serving
    the closed connection for ever (uvicorn's ``send`` is silent after a disconnect) and keeping the address's
    stream slot.
    """
    task.cancel()
    await asyncio.wait([task], timeout=RECANCEL_SECONDS)
    while not task.done():
        tasks_logger.info("a request's task went on after its cancel (some code swallowed it): cancelled again")
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_SECONDS)


def _close_quietly(response: HttpResponseBase) -> None:
    """``response.close()`` without ``request_finished`` (see ``StreamChain.handle``)."""
    closers = response._resource_closers  # type: ignore[attr-defined]  # not in the stubs
    for closer in closers:
        closer()
    closers.clear()
    response.closed = True


def request_threads() -> int:
    return settings.CHATR_REQUEST_THREADS


class Pipeline:
    """The ASGI application of HTTP requests, behind ``BodyLimit``."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=request_threads(), thread_name_prefix="chatr-request")
        self.api = SyncChain(settings.CHATR_API_MIDDLEWARE, self.executor)
        self.page = SyncChain(settings.MIDDLEWARE, self.executor)
        self.stream = StreamChain()
        self.routes = routes = table()
        every = routes.every
        # A mount's part names its application.
        self.mounts = {route.part: import_string(cast(str, route.part)) for route in every if route.chain == "mount"}
        rules = {
            route.pattern: import_string(route.part) for route in every if route.chain in ("api", "page") and route.part
        }
        self.cache = ResponseCache(rules, import_string(settings.CHATR_RESPONSE_CACHE_VERSIONS))
        # A command's part names it; it answers the route's POSTs (chatr.commands), the api chain the rest.
        self.commands = {
            route.pattern: CommandChain(route.pattern, import_string(route.command), self.executor, self.api)
            for route in every
            if route.command
        }
        self.loop_hooks = tuple(import_string(path) for path in settings.CHATR_ASGI_LOOP_HOOKS)

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        loop = asyncio.get_running_loop()
        for hook in self.loop_hooks:
            hook(loop)
        exchange = edge.exchange_of(scope, self.routes.route_for(scope["path"]))
        scope[EXCHANGE] = exchange
        send = edge.watching(exchange, send)
        edge.begin(exchange)
        try:
            refusal = None if exchange.route.chain == "stream" else await edge.arefusal(exchange, scope)
            if refusal is not None:
                await send_response(refusal, refusal.content, send, head=scope["method"] == "HEAD")
                return
            route = exchange.route
            if route.chain == "mount":
                await self.mounts[route.part](scope, receive, send)
            elif route.chain == "stream":
                await self.stream(scope, receive, send)
            else:
                chain = self.api if route.chain == "api" else self.page
                rule = self.cache.handles(scope) if route.part else None
                if route.command is not None and scope["method"] == "POST" and settings.CHATR_COMMANDS:
                    await self.commands[route.pattern](scope, receive, send)
                elif rule is not None:
                    await self.cache.serve(scope, receive, send, rule, chain)
                else:
                    await chain(scope, receive, send)
        finally:
            if exchange.token is not None:
                edge.end(exchange)


def build(fallback: Callable[..., Awaitable[None]]) -> BodyLimit:
    """The server's application: HTTP through the pipeline, anything else (websockets) to ``fallback``."""
    pipeline = Pipeline()

    async def application(scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await fallback(scope, receive, send)
            return
        await pipeline(scope, receive, send)

    application.pipeline = pipeline  # type: ignore[attr-defined]
    return BodyLimit(application)
