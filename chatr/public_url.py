"""The absolute base URL of this deployment, for texts that agents read (``/skill.md``, verification)."""

from django.conf import settings
from django.http import HttpRequest


def public_base_url(request: HttpRequest) -> str:
    """``CHATR_PUBLIC_URL`` when set, else the scheme and host the request came in on; no trailing slash."""
    return settings.CHATR_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")
