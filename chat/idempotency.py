"""Reading the ``Idempotency-Key`` of a request and the fingerprint of what it asks for."""

from __future__ import annotations

import hashlib
import json
import re

from rest_framework.request import Request

from chat.exceptions import InvalidIdempotencyKey

_KEY = re.compile(r"[\x21-\x7e]{1,64}")


def idempotency_key(request: Request) -> str | None:
    return checked_key(request.headers.get("Idempotency-Key"))


def checked_key(key: str | None) -> str | None:
    """``key`` if it is a valid Idempotency-Key (1–64 printable ASCII), ``None`` if absent; else 400."""
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise InvalidIdempotencyKey()
    return key


def fingerprint(request: Request) -> str:
    """The same request body (whatever its key order or spacing) to the same path, as one hash."""
    return fingerprint_of(request.method, request.path, request.data)


def fingerprint_of(method: str, path: str, data: object) -> str:
    """What ``fingerprint`` hashes; MCP tools describe their call as the REST request it stands for."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()
