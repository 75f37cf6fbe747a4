"""``Authorization: Bearer <apiKey>``, or the legacy ``X-API-Key`` header (contract §1)."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts import selectors, services
from accounts.exceptions import AgentBanned
from accounts.keys import hash_api_key
from accounts.models import Agent
from chatr import ratelimits
from chatr.errors import NotAuthenticated
from realtime.api import versions


def presented_key(request: HttpRequest) -> str | None:
    """The key the client sent, ``""`` for a malformed header, ``None`` for no header at all."""
    return key_of(request.META.get("HTTP_AUTHORIZATION"), request.META.get("HTTP_X_API_KEY"))


def key_of(authorization: str | None, legacy: str | None) -> str | None:
    """``presented_key`` from the two headers' values (``None``: absent), for callers without a Django request."""
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    return legacy.strip() if legacy is not None else None


class KeyCache:
    """Key hash → agent, in this process, each entry valid while its agent's version is unchanged.

    Every write to an agent (rotation, revocation, ban, profile, presence) bumps ``agent:<id>`` after
    commit and before it answers (``realtime.api.versions``), on every process through Redis when there are
    several: a key stops working at once everywhere. An entry is filled by reading the version
    *between* finding the agent and fetching it again by id and key hash, so a rotation that commits
    around the fill either shows in the fetch (no entry) or bumps the version after it (a stale entry).

    A burst of requests that all began before it (a command's drain) may check its keys against one read of
    their versions (``read_once``) instead of one read each: a change that returned before any of them began
    bumped its version before that read, so it is seen, as a read of each request's own would see it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[str, tuple[versions.Version, Agent]] = {}
        self.lock = threading.Lock()
        self.burst = threading.local()  # .read: key hash → its agent's version as the burst's one read saw it

    def agent(self, api_key: str) -> Agent | None:
        key_hash = hash_api_key(api_key)
        agent: Agent | None
        entry = self.entries.get(key_hash)
        read: dict[str, versions.Version] | None = getattr(self.burst, "read", None)
        if entry is not None:
            version, agent = entry
            seen = read.get(key_hash) if read is not None else None
            if (seen if seen is not None else versions.current([versions.agent(agent.pk)])) == version:
                return copy.copy(agent)  # the caller may change its copy (presence); ours stays as read
        found = Agent.objects.filter(key_hash=key_hash).values_list("pk", flat=True).first()
        if found is None:
            return None
        version = versions.current([versions.agent(found)])
        agent = Agent.objects.filter(pk=found, key_hash=key_hash).first()
        if agent is None:
            return None
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[key_hash] = (version, agent)
        if read is not None:
            read[key_hash] = version  # read after the burst's requests began, like the burst's own read
        return copy.copy(agent)

    @contextlib.contextmanager
    def read_once(self, api_keys: Iterable[str | None]) -> Iterator[None]:
        """Inside, this thread checks the cached entries of ``api_keys`` against one read of their versions.

        Only for requests that all began before the call: the read is then later than each one's start, as its
        own read would be. Keys without an entry are looked up as usual; ``forget`` drops an agent whose version
        the burst itself changed, so its next request reads it again.
        """
        hashes = {hash_api_key(key) for key in api_keys if key}
        cached = [(key_hash, entry[1].pk) for key_hash in hashes if (entry := self.entries.get(key_hash)) is not None]
        values = versions.current([versions.agent(pk) for _, pk in cached]) if cached else ()
        self.burst.read = {key_hash: (value,) for (key_hash, _), value in zip(cached, values, strict=True)}
        try:
            yield
        finally:
            self.burst.read = None

    def forget(self, agent: Agent) -> None:
        """``agent``'s version changed inside the burst (presence): its next request reads it again."""
        read = getattr(self.burst, "read", None)
        if read is not None:
            read.pop(agent.key_hash, None)


keys = KeyCache(size=10_000)


def agent_for_api_key(api_key: str) -> Agent | None:
    """The agent holding this key: from the process's key cache when enabled, else one query by hash."""
    if settings.CHATR_KEY_CACHE:
        return keys.agent(api_key)
    return selectors.agent_for_api_key(api_key)


def authenticate_key(api_key: str | None) -> Agent:
    """The agent for a presented key, marked as seen; 401 for a missing or unknown key, 403 if banned."""
    agent = agent_for_api_key(api_key) if api_key else None
    if agent is None:
        raise NotAuthenticated()
    if agent.is_banned:
        raise AgentBanned()
    seen = agent.last_seen_at
    services.mark_seen(agent=agent)
    if agent.last_seen_at is not seen:  # written: the agent's version changed after the burst's read
        keys.forget(agent)
    return agent


def read_keys_once(api_keys: Iterable[str | None]) -> contextlib.AbstractContextManager[None]:
    """For a burst of requests that all began before the call: their keys checked against one read of their
    agents' versions on this thread (``KeyCache.read_once``); nothing to share without the key cache."""
    if settings.CHATR_KEY_CACHE:
        return keys.read_once(api_keys)
    return contextlib.nullcontext()


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Agent, str] | None:
        api_key = presented_key(request._request)
        if api_key is None:
            return None
        return authenticate_key(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="chatr"'


def require_agent(request: Request) -> Agent:
    """The authenticated agent of a DRF request, or the contract's 401."""
    agent = request.user
    if not isinstance(agent, Agent):
        raise NotAuthenticated()
    return agent


class IsAgent(BasePermission):
    """Allows authenticated agents only; anything else is the contract's 401."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, Agent)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How /api/schema/ describes ``ApiKeyAuthentication``."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer chatr_… (the legacy header X-API-Key: chatr_… works too).",
        }


class AgentRequestThrottle(BaseThrottle):
    """Counts one request of the authenticated agent (``count_agent_request``); 429 when it is over.

    Raises ``RateLimited`` itself rather than answering False, so the 429 carries ``retry_after``
    and the ``X-RateLimit-*`` headers like every other limit.
    """

    def allow_request(self, request: Request, view: object) -> bool:
        if isinstance(request.user, Agent):
            count_agent_request(request.user)
        return True


def count_agent_request(agent: Agent) -> None:
    """One request of ``agent`` against its ``/ai`` limit (contract §8); ``RateLimited`` when it is over. The
    throttle above and the request table's commands of ``/ai`` paths (``chat.commands``) both count with it."""
    ratelimits.consume("ai_requests_per_agent", str(agent.pk))
