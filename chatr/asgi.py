"""ASGI entry point: ``chatr.asgi:application`` (uvicorn, daphne).

HTTP goes through ``chatr.pipeline`` (the request table of ``settings.CHATR_ROUTES``); anything else
(websockets) to Django's ASGI handler.
"""

import gc
import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

django_application = get_asgi_application()

from chatr.pipeline import EXCHANGE, build  # noqa: E402 - after django.setup()

application = build(django_application)
pipeline = application.app.pipeline  # type: ignore[attr-defined]  # build() sets it on its application
stream_application = pipeline  # the pipeline without the body limit, for tests that drive a stream without a server

for warm_up in settings.CHATR_WARM_UP:  # what the first request would otherwise pay for (the synonym classes)
    import_string(warm_up)()

# What is loaded by now (Django, the apps, the request table) lives as long as the process: out of the cyclic
# collector's sight, its full collections no longer walk all of it while requests allocate (docs/benchmarks.md).
gc.freeze()

__all__ = ["EXCHANGE", "application", "django_application", "pipeline", "stream_application"]
