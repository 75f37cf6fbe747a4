"""The one client for Moltbook's public API (contract §6), over httpx.

Every way Moltbook can fail becomes one of our errors: a 404 for the profile is
``MoltbookUserNotFound``; refused connections, timeouts, 5xx, other statuses, bodies that are not
JSON and JSON of an unexpected shape are ``MoltbookUnavailable`` (502). Nothing here raises
anything else, so a misbehaving Moltbook never turns into a 500.

One ``MoltbookClient`` serves one verification: its time budget (``MOLTBOOK_TIMEOUT_SECONDS``,
5 s by default) covers all of its requests together, so the caller answers within about that long
even when the profile is followed by the ``/posts`` fallback, or the server trickles its bytes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from verification.exceptions import MoltbookUnavailable, MoltbookUserNotFound

# What X accepts as a handle; anything else Moltbook sends as the owner's handle is dropped.
_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")

logger = logging.getLogger("chatr.moltbook")

MAX_BODY_BYTES = 2 * 1024 * 1024
FALLBACK_POSTS_LIMIT = 50


@dataclass(frozen=True)
class MoltbookPost:
    id: str
    title: str
    content: str
    author_name: str | None

    def contains(self, text: str) -> bool:
        return text in self.title or text in self.content


@dataclass(frozen=True)
class MoltbookProfile:
    name: str  # Moltbook's own spelling
    is_claimed: bool
    owner_x_handle: str | None
    # None when the profile carries no recentPosts (Moltbook is known to omit them).
    recent_posts: tuple[MoltbookPost, ...] | None


class MoltbookClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or settings.MOLTBOOK_API_URL).rstrip("/")
        self.timeout = settings.MOLTBOOK_TIMEOUT_SECONDS if timeout is None else timeout
        self._deadline = time.monotonic() + self.timeout
        self._transport = transport

    def profile(self, *, name: str) -> MoltbookProfile:
        """``GET /agents/profile?name=<name>``, without an API key."""
        status, body = self._get("/agents/profile", {"name": name})
        if status == 404 and isinstance(body, dict):
            raise MoltbookUserNotFound()
        if status != 200:
            raise _unavailable(f"the profile answered {status}")
        return _parse_profile(body, requested=name)

    def newest_posts(self, *, limit: int = FALLBACK_POSTS_LIMIT) -> list[MoltbookPost]:
        """``GET /posts?sort=new&limit=<limit>``: the newest posts of all of Moltbook."""
        status, body = self._get("/posts", {"sort": "new", "limit": str(limit)})
        if status != 200:
            raise _unavailable(f"the posts feed answered {status}")
        return _parse_feed(body)

    def _get(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        """Status and decoded JSON body (``None`` if not JSON), within the remaining time budget."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _unavailable("it did not answer in time")
        try:
            with (
                httpx.Client(timeout=remaining, transport=self._transport, follow_redirects=False) as http,
                http.stream("GET", self.base_url + path, params=params, headers={"Accept": "application/json"}) as r,
            ):
                raw = self._read(r)
        except httpx.TimeoutException as error:
            raise _unavailable("it did not answer in time") from error
        except httpx.HTTPError as error:
            raise _unavailable("it could not be reached") from error
        try:
            return r.status_code, json.loads(raw)
        except ValueError:  # includes UnicodeDecodeError
            return r.status_code, None

    def _read(self, response: httpx.Response) -> bytes:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _unavailable("its answer was too large")
            if time.monotonic() > self._deadline:
                raise _unavailable("it did not answer in time")
        return bytes(body)


def _unavailable(why: str) -> MoltbookUnavailable:
    logger.warning("Moltbook unavailable: %s", why)
    return MoltbookUnavailable(f"Moltbook is unavailable: {why}. Nothing changed; try again in a minute.")


def _pick(mapping: dict, *keys: str) -> Any:
    """The first of ``keys`` present in ``mapping`` (Moltbook spells keys in snake_case or camelCase)."""
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_profile(body: Any, *, requested: str) -> MoltbookProfile:
    agent = body.get("agent") if isinstance(body, dict) else None
    if not isinstance(agent, dict):
        raise _unavailable("its profile had no agent")
    name = agent.get("name")
    if not isinstance(name, str) or not name.isascii() or name.lower() != requested.lower():
        raise _unavailable("its profile named another agent")
    is_claimed = _pick(agent, "is_claimed", "isClaimed")
    if not isinstance(is_claimed, bool):
        raise _unavailable("its profile did not say whether the agent is claimed")
    owner = agent.get("owner")
    handle = _pick(owner, "x_handle", "xHandle") if isinstance(owner, dict) else None
    handle = handle.strip().lstrip("@") if isinstance(handle, str) else ""
    if not _X_HANDLE.fullmatch(handle):
        handle = ""  # not an X handle: nothing to show (it would end up in pages and links)
    posts = body.get("recentPosts")
    if posts is not None and not isinstance(posts, list):
        raise _unavailable("its profile listed posts oddly")
    recent = None if posts is None else tuple(_parse_post(item, author_name=name) for item in _dicts(posts))
    return MoltbookProfile(name=name, is_claimed=is_claimed, owner_x_handle=handle or None, recent_posts=recent)


def _parse_feed(body: Any) -> list[MoltbookPost]:
    posts = body.get("posts") if isinstance(body, dict) else None
    if posts is None and isinstance(body, dict) and isinstance(body.get("data"), dict):
        posts = body["data"].get("posts")  # the paginated shape: {"data": {"posts": [...], "next_cursor"}}
    if not isinstance(posts, list):
        raise _unavailable("its posts feed had no posts")
    return [_parse_post(item, author_name=_author_name(item)) for item in _dicts(posts)]


def _author_name(post: dict) -> str | None:
    author = post.get("author")
    name = _pick(author, "name", "username") if isinstance(author, dict) else None
    if name is None:
        name = _pick(post, "author_name", "authorName")
    return name if isinstance(name, str) else None


def _parse_post(post: dict, *, author_name: str | None) -> MoltbookPost:
    return MoltbookPost(
        id=str(post.get("id", "")),
        title=_text(post.get("title")),
        content=_text(post.get("content")),
        author_name=author_name,
    )


def _dicts(items: list) -> list[dict]:
    return [item for item in items if isinstance(item, dict)]
