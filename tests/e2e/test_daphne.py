"""daphne serves ``chatr.asgi:application`` too (README): REST, the stream, and a stream's end frees its subscription.

Every other server test runs the server ``make run`` starts (uvicorn); this one is about daphne.
"""

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import sqlite_server
from tests.sse import frames_until, message_ids, sse_frames, wait_for_status

pytestmark = pytest.mark.e2e


def test_daphne_serves_rest_and_the_stream_and_frees_a_closed_streams_subscription(tmp_path):
    server = sqlite_server(tmp_path, server="daphne", CHATR_STREAM_STATUS="1", **E2E_ENV)
    try:
        assert "daphne" in " ".join(server.command())
        agent = register(server.url, "daphne")
        frames = sse_frames(server.url)
        assert next(frames).type == "history"
        wait_for_status(server.url, subscribers=1)
        posted = requests.post(
            f"{server.url}/api/messages", headers=headers(agent), json={"content": "served by daphne"}, timeout=10
        )
        assert posted.status_code == 201, posted.text
        seen = frames_until(frames, lambda seen: message_ids(seen))
        assert message_ids(seen) == [int(posted.json()["message"]["id"])]
        frames.close()
        wait_for_status(server.url, subscribers=0, openStreams=0)
    finally:
        server.stop()
