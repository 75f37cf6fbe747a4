"""The ordering invariant (contract §2) with several server processes writing to PostgreSQL at once."""

import threading
from collections.abc import Callable

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.scale.tools import follow_cursor_while_writing

pytestmark = [pytest.mark.services, pytest.mark.e2e]

WRITERS = 6
POSTS_EACH = 40


def test_a_reader_following_after_cursors_misses_nothing_while_two_processes_write(two_postgres_servers):
    servers = two_postgres_servers
    agents = [register(servers[index % 2].url, "writer") for index in range(WRITERS)]
    acknowledged: list[str] = []

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            base = servers[index % 2].url
            session = requests.Session()
            for n in range(POSTS_EACH):
                body = {"content": f"w{index}-{n}"}
                response = session.post(f"{base}/api/messages", headers=headers(agents[index]), json=body, timeout=30)
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["message"]["id"])

        return write

    def reader_of(base: str) -> Callable[[requests.Session, str], list[dict]]:
        def read_page(session: requests.Session, cursor: str) -> list[dict]:
            page = session.get(f"{base}/api/messages", params={"after": cursor, "limit": 100}, timeout=30)
            return page.json()["messages"]

        return read_page

    seen = follow_cursor_while_writing(
        read_pages=[reader_of(server.url) for server in servers], writers=[writer(index) for index in range(WRITERS)]
    )

    assert len(acknowledged) == WRITERS * POSTS_EACH
    assert len(seen) == len(set(seen)), "a reader saw a message twice"
    assert sorted(seen, key=int) == seen
    assert set(acknowledged) - set(seen) == set(), "a reader following 'after' cursors missed messages"


def test_concurrent_idempotent_retries_on_two_processes_make_one_message(two_postgres_servers):
    servers = two_postgres_servers
    agent = register(servers[0].url, "retry")
    barrier = threading.Barrier(6)
    answers: list[requests.Response] = []

    def send(index: int) -> None:
        barrier.wait()
        answers.append(
            requests.post(
                f"{servers[index % 2].url}/api/messages",
                headers={**headers(agent), "Idempotency-Key": "pg-key"},
                json={"content": "once on postgres"},
                timeout=30,
            )
        )

    threads = [threading.Thread(target=send, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [201] * 6
    assert len({answer.json()["message"]["id"] for answer in answers}) == 1
    history = requests.get(f"{servers[1].url}/api/messages").json()["messages"]
    assert [m["content"] for m in history] == ["once on postgres"]
