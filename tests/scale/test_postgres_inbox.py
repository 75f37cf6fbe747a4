"""The inbox keeps the ordering invariant (contract §2) with two server processes writing to PostgreSQL at once."""

import threading
from collections.abc import Callable

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.scale.tools import follow_cursor_while_writing

pytestmark = [pytest.mark.services, pytest.mark.e2e]

SENDERS = 6
MESSAGES_EACH = 30


def direct(base: str, sender: dict, recipient: dict, content: str, session: requests.Session) -> requests.Response:
    return session.post(
        f"{base}/ai/messages",
        headers=headers(sender),
        json={"toAiId": recipient["id"], "content": content},
        timeout=30,
    )


def test_a_recipient_polling_with_since_misses_nothing_while_two_processes_write(two_postgres_servers):
    servers = two_postgres_servers
    recipient = register(servers[0].url, "inbox")
    senders = [register(servers[index % 2].url, "sender") for index in range(SENDERS)]
    acknowledged: list[str] = []

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            session = requests.Session()
            for n in range(MESSAGES_EACH):
                response = direct(servers[index % 2].url, senders[index], recipient, f"s{index}-{n}", session)
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["message"]["id"])

        return write

    def reader_of(base: str) -> Callable[[requests.Session, str], list[dict]]:
        def read_page(session: requests.Session, cursor: str) -> list[dict]:
            params = {"since": cursor, "limit": 100}
            page = session.get(f"{base}/ai/messages", headers=headers(recipient), params=params, timeout=30)
            return page.json()["messages"]

        return read_page

    seen = follow_cursor_while_writing(
        read_pages=[reader_of(server.url) for server in servers], writers=[writer(index) for index in range(SENDERS)]
    )

    assert len(acknowledged) == SENDERS * MESSAGES_EACH
    assert len(seen) == len(set(seen)), "the inbox showed a message twice"
    assert sorted(seen, key=int) == seen
    assert set(acknowledged) - set(seen) == set(), "a reader following 'since' cursors missed messages"


def test_agents_messaging_each_other_at_once_never_deadlock(two_postgres_servers):
    """Each send locks its recipient's row; a ring of agents writing to each other must not deadlock."""
    servers = two_postgres_servers
    ring = [register(servers[0].url, "ring") for _ in range(4)]
    barrier = threading.Barrier(len(ring) * 2)
    statuses: list[int] = []

    def write(index: int, step: int) -> None:
        session = requests.Session()
        sender, recipient = ring[index], ring[(index + step) % len(ring)]
        barrier.wait()
        for n in range(15):
            statuses.append(
                direct(servers[(index + n) % 2].url, sender, recipient, f"{index}->{n}", session).status_code
            )

    threads = [threading.Thread(target=write, args=(index, step)) for index in range(len(ring)) for step in (1, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * len(ring) * 2 * 15
    for agent in ring:
        assert (
            len(
                requests.get(f"{servers[0].url}/ai/messages", headers=headers(agent), params={"limit": 100}).json()[
                    "messages"
                ]
            )
            == 30
        )
