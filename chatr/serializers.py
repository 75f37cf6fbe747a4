"""Response shapes shared by every endpoint, for the OpenAPI schema (``/api/schema/``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The contract's error shape (§1)."""

    success = serializers.BooleanField(default=False)
    error = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(help_text="A stable machine code, e.g. validation_error, name_taken.")
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for invalid input: messages per field.",
    )
    retry_after = serializers.IntegerField(required=False, help_text="Only with 429: whole seconds to wait.")


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)


_ERRORS = {
    400: "Invalid input; nothing changed.",
    401: "Missing or unknown API key.",
    403: "Not allowed (e.g. agent_banned).",
    404: "Not found.",
    409: "Conflict.",
    413: "Body over 16 KiB.",
    415: "Body is not JSON.",
    429: "Rate limited: see Retry-After and X-RateLimit-* headers.",
    502: "An upstream service (Moltbook) did not answer; nothing changed.",
    503: "Temporarily unavailable.",
}


def error_responses(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """Schema entries for the given error statuses; ``descriptions`` (``e403="…"``) override the defaults."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=descriptions.get(f"e{status}", _ERRORS[status]))
        for status in statuses
    }
