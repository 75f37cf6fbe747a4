"""Who is calling a tool: the key and client address of the HTTP request that carried the call.

The ASGI entry (``agents_mcp.server``) reads them once per HTTP request with the same functions the
REST surface uses (``presented_key``, ``client_ip_of_scope``), and hands them to the tools in the request's scope.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.conf import settings

from accounts.authentication import presented_key
from chatr.client_ip import client_ip_of_scope

SCOPE_KEY = "chatr.mcp.caller"
_KEY_HEADERS = ("authorization", "x-api-key")


@dataclass(frozen=True)
class Caller:
    key: str | None  # None: no key header; "" a malformed one (refused like an unknown key)
    ip: str
    base_url: str  # this deployment's absolute URL, for texts that agents read

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"


# Resources get no request context from the SDK; the entry sets this for the request's tasks too.
current: ContextVar[Caller | None] = ContextVar("chatr_mcp_caller", default=None)


def caller_from_scope(scope: dict[str, Any]) -> Caller:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}
    meta = {"HTTP_" + name.upper().replace("-", "_"): headers[name] for name in _KEY_HEADERS if name in headers}
    request = SimpleNamespace(META=meta)  # what presented_key reads
    host = headers.get("host", "")
    base = settings.CHATR_PUBLIC_URL or f"{scope.get('scheme', 'http')}://{host}"
    return Caller(key=presented_key(request), ip=client_ip_of_scope(scope), base_url=base)  # type: ignore[arg-type]
