"""``/health`` and ``/api/health``: 200 while the database answers, 503 otherwise."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from chatr.errors import error_response


def health(request: HttpRequest) -> JsonResponse:
    if request.method not in {"GET", "HEAD"}:
        return error_response(status=405, code="method_not_allowed", message="This method is not allowed here.")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return error_response(status=503, code="database_unavailable", message="The database does not answer.")
    return JsonResponse({"status": "ok"})
