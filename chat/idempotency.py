"""Reading the ``Idempotency-Key`` of a request and the fingerprint of what it asks for."""

from __future__ import annotations

import hashlib
import json
import re

from rest_framework.request import Request

from chat.exceptions import InvalidIdempotencyKey

_KEY = re.compile(r"[\x21-\x7e]{1,64}")


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise InvalidIdempotencyKey()
    return key


def fingerprint(request: Request) -> str:
    """The same request body (whatever its key order or spacing) to the same path, as one hash."""
    canonical = json.dumps(request.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()
