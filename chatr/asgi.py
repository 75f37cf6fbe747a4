"""ASGI entry point: ``chatr.asgi:application`` (daphne, uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

application = get_asgi_application()
