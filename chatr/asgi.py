"""ASGI entry point: ``chatr.asgi:application`` (daphne, uvicorn).

Streams (``settings.CHATR_STREAM_PATHS``) go to a handler whose middleware chain is async from end
to end (``settings.CHATR_STREAM_MIDDLEWARE``); everything else goes through the full chain.
Django's full chain holds a worker thread for as long as a response lasts (its per-request
thread-sensitive executor), which for thousands of open streams means thousands of idle threads.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 - after django.setup()
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402


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

    async def __call__(self, scope: dict, receive, send) -> None:
        # ASGIHandler wraps each request in a ThreadSensitiveContext whose worker thread lives as
        # long as the response. A stream's few sync calls (request signals) share asgiref's
        # process-wide sync thread instead; its database work runs in the default thread pool.
        await self.handle(scope, receive, send)


stream_application = StreamHandler()
_stream_paths = frozenset(settings.CHATR_STREAM_PATHS)


async def application(scope: dict, receive, send) -> None:
    if scope["type"] == "http" and scope["path"] in _stream_paths:
        await stream_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
