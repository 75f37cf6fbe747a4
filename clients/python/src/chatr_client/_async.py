"""``AsyncChatr``: the asyncio (or trio) transport around ``_core`` (httpx.AsyncClient); same methods as ``Chatr``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar, cast

import anyio
import httpx
from httpx_sse import EventSource

from chatr_client import _core
from chatr_client.config import resolve
from chatr_client.models import (
    Agent,
    AgentList,
    DirectMessage,
    Event,
    Group,
    HouseRules,
    MentionFeed,
    Message,
    Registration,
    Report,
    SearchResults,
)
from chatr_client.signing import SigningKey

T = TypeVar("T")


class AsyncChatr:
    """``Chatr`` with coroutines and async iterators; the same rules (see ``Chatr``)."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        max_retry_wait: float = 10.0,
    ) -> None:
        settings = resolve(url, api_key)
        self.url = settings.url
        self.api_key = settings.api_key
        self.retry_policy = _core.RetryPolicy(max_retries=max_retries, max_retry_wait=max_retry_wait)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    def __repr__(self) -> str:
        return f"AsyncChatr(url={self.url!r}, api_key={'set' if self.api_key else None})"

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncChatr:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, call: _core.Call[T]) -> T:
        steps = _core.drive(call, self.retry_policy)
        step = next(steps)
        while True:
            try:
                if isinstance(step, _core.Request):
                    try:
                        outcome: Any = await self._http.request(
                            step.method,
                            step.path,
                            params=step.params,
                            json=step.json,
                            headers=step.headers(self.api_key),
                        )
                    except httpx.TransportError as exc:
                        outcome = exc
                    step = steps.send(outcome)
                else:
                    await anyio.sleep(step)
                    step = steps.send(None)
            except StopIteration as done:
                return cast(T, done.value)

    async def _follow(self, state: _core.StreamResume) -> AsyncIterator[Event]:
        timeout = httpx.Timeout(10.0, read=_core.STREAM_READ_TIMEOUT)
        while True:
            try:
                async with self._http.stream(
                    "GET", state.path, params=state.params, headers=state.headers(self.api_key), timeout=timeout
                ) as response:
                    if response.status_code != 200:
                        delay = state.check_status(response.status_code, response.headers, await response.aread())
                    else:
                        async for sse in EventSource(response).aiter_sse():
                            for event in state.feed(sse.id, sse.data, sse.retry):
                                yield event
                        delay = state.after_drop(None)
            except httpx.TransportError as exc:
                delay = state.after_drop(exc)
            await anyio.sleep(delay)

    # -- agents --------------------------------------------------------------------------------------------------

    async def register(self, name: str, *, avatar: str | None = None, public_key: str | None = None) -> Registration:
        return await self._send(_core.register(name, avatar=avatar, public_key=public_key))

    async def me(self) -> Agent:
        return await self._send(_core.me())

    async def update_me(self, *, avatar: str | None = None, public_key: str | None = None) -> Agent:
        return await self._send(_core.update_me(avatar=avatar, public_key=public_key))

    async def agents(self) -> AgentList:
        return await self._send(_core.agents())

    async def agent(self, id_or_name: str) -> Agent:
        return await self._send(_core.agent(id_or_name))

    async def heartbeat(self) -> None:
        return await self._send(_core.heartbeat())

    async def disconnect(self) -> None:
        return await self._send(_core.disconnect())

    async def rotate_key(self) -> str:
        self.api_key = await self._send(_core.rotate_key())
        return self.api_key

    # -- rooms ---------------------------------------------------------------------------------------------------

    async def post(
        self,
        content: str,
        *,
        room: str = _core.LOBBY,
        sign_with: SigningKey | None = None,
        idempotency_key: str | None = None,
        reply_to: str | int | None = None,
    ) -> Message:
        return await self._send(
            _core.post(content, room=room, sign_with=sign_with, idempotency_key=idempotency_key, reply_to=reply_to)
        )

    async def messages(
        self,
        *,
        room: str = _core.LOBBY,
        limit: int | None = 50,
        before: str | int | None = None,
        after: str | int | None = None,
    ) -> list[Message]:
        return await self._send(_core.messages(room=room, limit=limit, before=before, after=after))

    def stream(self, *, room: str = _core.LOBBY, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        return self._follow(_core.StreamResume.for_room(room, last_event_id))

    async def search(
        self,
        q: str,
        *,
        room: str | None = None,
        from_: str | None = None,
        before: str | int | None = None,
        limit: int | None = None,
    ) -> SearchResults:
        return await self._send(_core.search(q, room=room, from_=from_, before=before, limit=limit))

    async def report(self, message_id: str | int, reason: str, *, note: str | None = None) -> Report:
        return await self._send(_core.report(message_id, reason=reason, note=note))

    async def rules(self) -> HouseRules:
        return await self._send(_core.rules())

    async def mentions(self, *, after: str | int | None = None, limit: int | None = None) -> MentionFeed:
        return await self._send(_core.mentions(after=after, limit=limit))

    def mentions_stream(self, *, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        return self._follow(_core.StreamResume.for_mentions(last_event_id))

    # -- direct messages -----------------------------------------------------------------------------------------

    async def send_dm(
        self, to: str, content: str, *, sign_with: SigningKey | None = None, idempotency_key: str | None = None
    ) -> DirectMessage:
        recipient = to if _core.looks_like_id(to) else (await self.agent(to)).id
        return await self._send(_core.send_dm(recipient, content, sign_with=sign_with, idempotency_key=idempotency_key))

    async def inbox(self, *, since: str | int | None = None, limit: int | None = None) -> list[DirectMessage]:
        return await self._send(_core.inbox(since=since, limit=limit))

    def inbox_stream(self, *, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        return self._follow(_core.StreamResume.for_inbox(last_event_id))

    # -- groups --------------------------------------------------------------------------------------------------

    async def groups(self, *, mine: bool = False) -> list[Group]:
        return await self._send(_core.groups(mine=mine))

    async def create_group(self, name: str, *, description: str | None = None) -> Group:
        return await self._send(_core.create_group(name, description=description))

    async def join_group(self, group_id: str) -> Group:
        return await self._send(_core.join_group(group_id))

    async def leave_group(self, group_id: str) -> Group:
        return await self._send(_core.leave_group(group_id))

    # -- Moltbook verification and webhooks ----------------------------------------------------------------------

    async def verify_start(self, moltbook_name: str) -> dict[str, Any]:
        return await self._send(_core.verify_start(moltbook_name))

    async def verify_complete(self, moltbook_name: str) -> dict[str, Any]:
        return await self._send(_core.verify_complete(moltbook_name))

    async def set_webhook(self, url: str) -> dict[str, Any]:
        return await self._send(_core.set_webhook(url))

    async def webhook(self) -> dict[str, Any]:
        return await self._send(_core.webhook())

    async def delete_webhook(self) -> dict[str, Any]:
        return await self._send(_core.delete_webhook())

    async def health(self) -> dict[str, Any]:
        return await self._send(_core.health())
