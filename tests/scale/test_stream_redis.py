"""The stream with several server processes sharing PostgreSQL and Redis (REDIS_URL set)."""

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import postgres_redis_servers
from tests.sse import RawStream, frames_until, message_ids, sse_frames, wait_for_status

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def two_servers():
    env = {
        **E2E_ENV,
        "CHATR_STREAM_STATUS": "1",
        # A reader that vanished is certain to be noticed by the next write: a keep-alive a second.
        "CHATR_STREAM_PING_SECONDS": "1",
    }
    with postgres_redis_servers(**env) as servers:
        yield servers


def test_a_message_posted_on_one_process_reaches_readers_on_both(two_servers):
    poster = two_servers[0]
    agent = register(poster.url, "across")
    readers = [sse_frames(server.url) for server in two_servers]
    for frames in readers:
        assert next(frames).type == "history"
    posted = [
        requests.post(
            f"{poster.url}/api/messages", headers=headers(agent), json={"content": f"hop {n}"}, timeout=10
        ).json()["message"]["id"]
        for n in range(5)
    ]
    for frames in readers:
        seen = frames_until(frames, lambda seen: len(message_ids(seen)) >= 5)
        frames.close()
        assert [frame.id for frame in seen if frame.type == "message"] == posted
    for server in two_servers:
        wait_for_status(server.url, subscribers=0, openStreams=0)


def test_the_open_stream_limit_holds_across_processes(two_servers):
    streams = [RawStream(two_servers[index % 2].port) for index in range(10)]
    try:
        for stream in streams:
            assert stream.status() == 200
        for server in two_servers:
            refused = requests.get(f"{server.url}/api/stream", timeout=10)
            assert refused.status_code == 429
            assert refused.json()["code"] == "too_many_streams"
    finally:
        for stream in streams:
            stream.vanish()
    wait_for_status(two_servers[0].url, openStreams=0)
