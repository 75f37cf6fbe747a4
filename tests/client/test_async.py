"""``AsyncChatr`` has ``Chatr``'s methods as coroutines and async iterators, and follows the same rules."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from chatr_client import AsyncChatr, Chatr, ConflictError, NotFoundError, RateLimitedError

from tests.aio import run as run_async
from tests.client.conftest import unique_name
from tests.client.proxy import FaultyProxy
from tests.server import ServerProcess
from tests.waiting import wait_until_async

pytestmark = pytest.mark.e2e

ITERATORS = {"stream", "inbox_stream", "mentions_stream"}


def _public(cls: type) -> dict[str, object]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_") and callable(member)}


def test_the_same_methods_with_the_same_parameters() -> None:
    sync, async_ = _public(Chatr), _public(AsyncChatr)
    assert set(sync) == set(async_)
    assert len(sync) >= 25
    for name, method in sync.items():
        assert inspect.signature(method).parameters == inspect.signature(async_[name]).parameters, name
        if name in ITERATORS:
            assert inspect.isgeneratorfunction(vars(Chatr)["_follow"])
            assert inspect.isasyncgenfunction(vars(AsyncChatr)["_follow"])
        else:
            assert inspect.iscoroutinefunction(async_[name]), name
            assert not inspect.iscoroutinefunction(method), name


async def _first(iterator, predicate, timeout: float = 30):
    async def scan():
        async for event in iterator:
            if predicate(event):
                return event
        return None

    return await asyncio.wait_for(scan(), timeout)


def test_async_flow_against_a_real_server(chatr_server: ServerProcess) -> None:
    async def flow() -> None:
        async with AsyncChatr(chatr_server.url) as anonymous:
            alice_reg = await anonymous.register(unique_name("async"), avatar="🐙")
            bob_reg = await anonymous.register(unique_name("async"))
            with pytest.raises(ConflictError) as caught:
                await anonymous.register(alice_reg.agent.name)
            assert (caught.value.status, caught.value.code) == (409, "name_taken")
        alice = AsyncChatr(chatr_server.url, api_key=alice_reg.api_key)
        bob = AsyncChatr(chatr_server.url, api_key=bob_reg.api_key)

        assert (await alice.me()).avatar == "🐙"
        with pytest.raises(NotFoundError):
            await alice.agent("nobody_at_all")

        lobby = alice.stream()
        history = await _first(lobby, lambda e: e.type == "history")
        assert isinstance(history.data, list)
        posted = await bob.post("hello, async world")
        arrived = await _first(lobby, lambda e: e.type == "message")
        assert arrived.data.id == posted.id and arrived.data.content == "hello, async world"
        await lobby.aclose()
        assert (await alice.messages(after=int(posted.id) - 1))[-1].id == posted.id
        assert alice_reg.agent.name in [agent.name for agent in (await alice.agents()).agents]

        inbox = alice.inbox_stream()
        await _first(inbox, lambda e: e.type == "history")
        await bob.send_dm(alice_reg.agent.name, "a private word")
        direct = await _first(inbox, lambda e: e.type == "direct")
        assert direct.data.content == "a private word" and direct.data.from_name == bob_reg.agent.name
        await inbox.aclose()
        assert (await alice.inbox())[-1].content == "a private word"

        group = await alice.create_group(unique_name("agroup"), description="async tests")
        assert (await bob.join_group(group.id)).member_count == 2
        await bob.post("in the group", room=group.id)
        assert [m.content for m in await alice.messages(room=group.id)] == ["in the group"]
        assert group.id in [g.id for g in await bob.groups(mine=True)]
        await bob.leave_group(group.id)
        await alice.close()
        await bob.close()

    run_async(flow())


def test_async_post_retried_after_a_dropped_connection_is_stored_once(chatr_server: ServerProcess) -> None:
    async def flow() -> None:
        reg = await AsyncChatr(chatr_server.url).register(unique_name("adrop"))
        with FaultyProxy(chatr_server.port, ["drop", "503"]) as proxy:
            async with AsyncChatr(proxy.url, api_key=reg.api_key) as through_proxy:
                await through_proxy.post("async, exactly once")
        keys = proxy.requests("/api/messages")
        assert len(keys) == 3 and len(set(keys)) == 1
        contents = [m.content for m in await AsyncChatr(chatr_server.url).messages(limit=100)]
        assert contents.count("async, exactly once") == 1

    run_async(flow())


def test_async_429_raises_when_retry_after_exceeds_max_retry_wait(strict_server: ServerProcess) -> None:
    async def flow() -> None:
        reg = await AsyncChatr(strict_server.url).register(unique_name("alimit"))
        agent = AsyncChatr(strict_server.url, api_key=reg.api_key, max_retry_wait=0.5)
        with pytest.raises(RateLimitedError) as caught:
            for n in range(3):  # one post per 3 s: two quick posts cannot both straddle a window's edge
                await agent.post(f"quick {n}")
        assert caught.value.status == 429 and 1 <= caught.value.retry_after <= 4

    run_async(flow())


def test_async_stream_survives_a_server_restart_with_each_message_once(restartable_server: ServerProcess) -> None:
    async def flow() -> None:
        reg = Chatr(restartable_server.url).register(unique_name("arestart"))
        poster = Chatr(restartable_server.url, api_key=reg.api_key)
        first = poster.post("before the restart").id
        reader = AsyncChatr(restartable_server.url)
        events = reader.stream()
        seen: list[str] = []

        async def collect() -> None:
            async for event in events:
                items = event.data if event.type == "history" else [event.data] if event.type == "message" else []
                seen.extend(item.id for item in items)

        task = asyncio.create_task(collect())
        await wait_until_async(lambda: seen == [first], message="no history")  # connected
        await asyncio.to_thread(restartable_server.restart)
        ids = [first] + [(await asyncio.to_thread(poster.post, f"after {n}")).id for n in range(3)]
        # One more after those: a repeat of any of them would come before it.
        ids.append((await asyncio.to_thread(poster.post, "the last")).id)
        await wait_until_async(lambda: seen and seen[-1] == ids[-1], timeout=30, message=lambda: f"saw {seen}")
        task.cancel()
        assert seen == ids

    run_async(flow())
