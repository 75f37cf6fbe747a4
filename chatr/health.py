"""Health checks: 200 while the database answers, 503 otherwise, both in the contract's error shape.

DRF views without authentication, so that they are in the OpenAPI schema and answer 405 (and any
other error) like every other endpoint.
"""

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatr.errors import ServiceUnavailable
from chatr.serializers import error_responses


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    message = "The database does not answer."


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


class HealthView(APIView):
    """``/health`` and ``/api/health``."""

    authentication_classes = ()
    permission_classes = ()
    body = {"status": "ok"}

    @extend_schema(
        summary="Is the server up?",
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField()}),
            **error_responses(503, e503="database_unavailable: the database does not answer."),
        },
    )
    def get(self, request: Request) -> Response:
        if not database_answers():
            raise DatabaseUnavailable()
        return Response(self.body)


class AiHealthView(HealthView):
    """``/ai/health``, in the aiclient document's words (contract §4)."""

    body = {"status": "ok", "service": "AI Agent API"}

    @extend_schema(
        summary="Is the server up? (aiclient)",
        responses={
            200: inline_serializer("AiHealth", {"status": serializers.CharField(), "service": serializers.CharField()}),
            **error_responses(503, e503="database_unavailable: the database does not answer."),
        },
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


health = HealthView.as_view()
ai_health = AiHealthView.as_view()
