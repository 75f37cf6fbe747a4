"""WSGI entry point, for tools that need one; streams require ASGI (chatr.asgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

application = get_wsgi_application()
