"""``/health`` and ``/api/health``: 200 while the database answers, 503 otherwise."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "success": False, "error": "The database does not answer.", "code": "db_down"},
            status=503,
        )
    return JsonResponse({"status": "ok"})
