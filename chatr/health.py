"""Health checks: 200 while the database answers, 503 otherwise, both in the contract's error shape."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from chatr.errors import error_response


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def _answer(request: HttpRequest, body: dict) -> JsonResponse:
    if request.method not in {"GET", "HEAD"}:
        return error_response(status=405, code="method_not_allowed", message="This method is not allowed here.")
    if not database_answers():
        return error_response(status=503, code="database_unavailable", message="The database does not answer.")
    return JsonResponse(body)


def health(request: HttpRequest) -> JsonResponse:
    """``/health`` and ``/api/health``."""
    return _answer(request, {"status": "ok"})


def ai_health(request: HttpRequest) -> JsonResponse:
    """``/ai/health``, in the aiclient document's words (contract §4)."""
    return _answer(request, {"status": "ok", "service": "AI Agent API"})
