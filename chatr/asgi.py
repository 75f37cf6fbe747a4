"""ASGI entry point: ``chatr.asgi:application`` (daphne, uvicorn).

Every request first passes ``BodyLimit``, which reads no more than ``CHATR_MAX_BODY_BYTES`` of a body
and hands the rest of the chain the whole body with its Content-Length (chunked ones included).

Streams (``settings.CHATR_STREAM_PATHS``) go to a handler whose middleware chain is async from end
to end (``settings.CHATR_STREAM_MIDDLEWARE``). Everything else is sync Django code (DRF views, the
ORM, sync middleware such as whitenoise) and runs through Django's WSGI handler on a pool of
``CHATR_WSGI_THREADS`` threads (a2wsgi): one hop from the event loop to a thread per request.
Django's ASGI handler would start a thread per request (its thread-sensitive context) and cross
between the loop and threads three times around a sync view and a sync middleware: measured
0.54 ms per request through the WSGI handler against 2.26 ms through the ASGI one, in process.

What belongs to apps comes from settings by dotted path, so this package imports no app: the ASGI
applications mounted ahead of Django (``CHATR_ASGI_MOUNTS``: ``/mcp``), the hooks told of the running
loop (``CHATR_ASGI_LOOP_HOOKS``: the hub) and the ready-made answers' rules and versions
(``CHATR_RESPONSE_CACHE_RULES``, ``CHATR_RESPONSE_CACHE_VERSIONS``).
"""

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

django_application = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402 - after django.setup()
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from chatr.body_limit import BodyLimit  # noqa: E402
from chatr.errors import is_api_path  # noqa: E402
from chatr.response_cache import ResponseCache  # noqa: E402


class StreamHandler(ASGIHandler):
    """Serves long-lived streams without a thread: async middleware only, no per-request executor."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(settings.CHATR_STREAM_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise TypeError(f"{path} must be async-capable to serve streams")
            handler = convert_exception_to_response(middleware(handler))
        self._middleware_chain = handler

    async def send_response(self, response, send) -> None:
        serve = getattr(response, "serve", None)
        if serve is None:
            await super().send_response(response, send)
            return
        # An event stream writes itself (chat.stream.EventStreamResponse): the headers, then ``serve``
        # writes its frames to ``send`` until the stream ends.
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await serve(send)
        await send({"type": "http.response.body"})

    async def __call__(self, scope: dict, receive, send) -> None:
        # ASGIHandler wraps each request in a ThreadSensitiveContext whose worker thread lives as
        # long as the response; a stream's database work runs in the default thread pool instead.
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict, receive, send) -> None:
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
            await self.send_response(error_response, send)
            return

        async def process_request() -> HttpResponse:
            response = await self.run_get_response(request)
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
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task
            if answering.done() and not answering.cancelled() and answering.exception() is None:
                _close_quietly(answering.result())
            body_file.close()


def _close_quietly(response: HttpResponse) -> None:
    """``response.close()`` without ``request_finished`` (see ``StreamHandler.handle``)."""
    for closer in response._resource_closers:
        closer()
    response._resource_closers.clear()
    response.closed = True


class ApiHandler(WSGIHandler):
    """Django's WSGI handler with ``settings.CHATR_API_MIDDLEWARE``: the short chain of /api, /ai and /health."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.CHATR_API_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler


def _by_path(site: WSGIHandler, api: WSGIHandler):
    def dispatch(environ: dict, start_response):
        return (api if is_api_path(environ.get("PATH_INFO", "")) else site)(environ, start_response)

    return dispatch


def _mounts() -> dict[str, Callable[..., Awaitable[None]]]:
    mounts = {}
    for path, dotted in settings.CHATR_ASGI_MOUNTS.items():
        app = import_string(dotted)
        mounts[path.rstrip("/")] = mounts[path.rstrip("/") + "/"] = app
    return mounts


stream_application = StreamHandler()
wsgi_application = WSGIMiddleware(_by_path(get_wsgi_application(), ApiHandler()), workers=settings.CHATR_WSGI_THREADS)
_stream_paths = frozenset(settings.CHATR_STREAM_PATHS)
_mounted = _mounts()
_loop_hooks = tuple(import_string(path) for path in settings.CHATR_ASGI_LOOP_HOOKS)
response_cache = ResponseCache(
    import_string(settings.CHATR_RESPONSE_CACHE_RULES), import_string(settings.CHATR_RESPONSE_CACHE_VERSIONS)
)


async def route(scope: dict, receive, send) -> None:
    if scope["type"] != "http":
        await django_application(scope, receive, send)
        return
    loop = asyncio.get_running_loop()
    for hook in _loop_hooks:
        hook(loop)
    if mounted := _mounted.get(scope["path"]):
        await mounted(scope, receive, send)
    elif scope["path"] in _stream_paths:
        await stream_application(scope, receive, send)
    elif rule := response_cache.handles(scope):
        await response_cache.serve(scope, receive, send, rule, wsgi_application)
    else:
        await wsgi_application(scope, receive, send)  # BodyLimit gave it a Content-Length to read by


application = BodyLimit(route)
