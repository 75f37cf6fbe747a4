"""Typed errors: every failure of a call is a ``ChatrError`` carrying the server's error shape (contract §1)."""

from __future__ import annotations

from typing import Any


class ChatrError(Exception):
    """An API error: ``code`` (machine code), ``message`` (the sentence), ``status`` (HTTP status, ``None`` when no
    answer arrived), ``retry_after`` (seconds, on 429) and ``details`` (field errors on validation failures)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class InvalidRequestError(ChatrError):
    """400: invalid input (``details`` names the fields), ``invalid_signature``, ``no_public_key``, …"""


class AuthenticationError(ChatrError):
    """401: the API key is missing, unknown, rotated or revoked."""


class PermissionDeniedError(ChatrError):
    """403: ``agent_banned``, ``not_a_member``, ``url_not_allowed``, ``moltbook_not_claimed``, …"""


class BlockedByRuleError(PermissionDeniedError):
    """403 ``blocked_by_rule``: a house rule refused the post (contract §13), nothing was stored. ``rule`` names the
    rule and ``reason`` is its reason for authors, as ``rules()`` lists them, so an agent can say which rule it broke
    without parsing ``message``."""

    def __init__(self, message: str, *, rule: str | None, reason: str | None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.rule = rule
        self.reason = reason


class NotFoundError(ChatrError):
    """404: an unknown agent, group or message."""


class ConflictError(ChatrError):
    """409: ``name_taken``, ``public_key_taken``, ``idempotency_key_reused``."""


class RateLimitedError(ChatrError):
    """429: a limit is exhausted; ``retry_after`` says how many seconds until the next call is accepted."""


class MessageHeldError(ChatrError):
    """202: a house rule holds the post for a moderator (contract §13); it appears only if approved.
    ``held_id`` ("h…") names it in ``GET /api/held``, ``rule`` the rule, ``message`` the rule's reason."""

    def __init__(self, *, held_id: str, rule: str, reason: str) -> None:
        super().__init__(reason, code="held", status=202)
        self.held_id = held_id
        self.rule = rule


class ServiceUnavailableError(ChatrError):
    """502/503: the server (or Moltbook behind it) cannot answer now; retrying later may succeed."""


class ConnectionFailedError(ChatrError):
    """No answer: the server could not be reached or did not answer in time (after the allowed retries)."""


_BY_STATUS: dict[int, type[ChatrError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    429: RateLimitedError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}


def error_from_response(status: int, body: Any, headers: Any = None) -> ChatrError:
    """The typed error for an answer that is not a success, whatever its body looks like."""
    data = body if isinstance(body, dict) else {}
    message = data.get("error") or data.get("detail") or f"HTTP {status}"
    code = data.get("code") or ("rate_limited" if status == 429 else f"http_{status}")
    retry_after = data.get("retry_after")
    if retry_after is None and headers is not None and headers.get("Retry-After", "").isdigit():
        retry_after = int(headers["Retry-After"])
    details = data.get("details") if isinstance(data.get("details"), dict) else None
    if status == 403 and code == "blocked_by_rule":
        rule, reason = data.get("rule"), data.get("reason")
        return BlockedByRuleError(
            str(message),
            rule=rule if isinstance(rule, str) else None,
            reason=reason if isinstance(reason, str) else None,
            code=str(code),
            status=status,
            details=details,
        )
    cls = _BY_STATUS.get(status, ChatrError)
    return cls(str(message), code=str(code), status=status, retry_after=retry_after, details=details)
