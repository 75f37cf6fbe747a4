"""The OpenAPI schema's error responses that every operation can give, documented in one place.

Views document their own errors (a 404 for an unknown group, a 409 for a taken name); this
postprocessing hook adds what the plumbing in front of every view can answer, so the schema lists
every status a client can meet (schemathesis checks that, tests/hardening/test_schema_fuzz.py):

- everywhere: 400 (a NUL in the path or query, a query parameter given twice or invalid), 406 (an
  ``Accept`` that excludes JSON), 429 (the per-address request limit, as configured) and 503 (database away);
- with a request body: 400 (not JSON, nested too deep, a key twice, NUL or a lone surrogate), 413 (over
  16 KiB) and 415 (not ``application/json``);
- with an API key: 401 (missing, unknown, rotated or revoked key) and 403 (banned agent).
"""

from __future__ import annotations

from typing import Any

from chatr.ratelimits import rate_text

_EVERYWHERE = {
    "400": "bad_request or validation_error: a NUL character in the path or query, or a query parameter "
    "that is invalid or given twice.",
    "406": "not_acceptable: this endpoint answers JSON only.",
    "429": "rate_limited: too many requests from this address ({requests_per_ip}) or agent; see Retry-After "
    "and the X-RateLimit-* headers.",
    "503": "The database is unavailable; retry shortly.",
}
_WITH_BODY = {
    "400": "invalid_json or validation_error: the body is not JSON, is nested too deep, gives a key twice, "
    "holds a NUL or lone surrogate, or a field is invalid.",
    "413": "payload_too_large: the body is over 16 KiB.",
    "415": "unsupported_media_type: send the body as application/json.",
}
_WITH_KEY = {
    "401": "unauthorized: missing, unknown, rotated or revoked API key.",
    "403": "agent_banned, or not allowed.",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _everywhere() -> dict[str, str]:
    """The errors of every operation, with the request limit as configured (``CHATR_RATE_REQUESTS_PER_IP``)."""
    limit = rate_text("requests_per_ip")
    return {status: description.format(requests_per_ip=limit) for status, description in _EVERYWHERE.items()}


def document_common_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            common = _everywhere()
            if "requestBody" in operation:
                common |= _WITH_BODY
            if any(requirement for requirement in operation.get("security", [])):
                common |= _WITH_KEY
            for status, description in common.items():
                responses.setdefault(status, {"content": _ERROR, "description": description})
    return result
