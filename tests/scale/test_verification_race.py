"""Two agents verifying the same Moltbook name at the same moment, on two processes sharing PostgreSQL."""

import threading

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.fake_moltbook import FakeMoltbook
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

ROUNDS = 12


@pytest.fixture
def fake():
    with FakeMoltbook() as moltbook:
        yield moltbook


@pytest.fixture
def two_postgres_servers(fake):
    with postgres_redis_servers(redis=False, CHATR_RATELIMITS="off", MOLTBOOK_API_URL=fake.url) as servers:
        yield servers


def complete_at_once(servers, agents, name: str) -> list[int]:
    barrier = threading.Barrier(len(servers))
    statuses: list[int] = []

    def complete(server, agent):
        barrier.wait()
        response = requests.post(
            f"{server.url}/api/verify/complete", headers=headers(agent), json={"moltbookName": name}, timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=complete, args=pair) for pair in zip(servers, agents, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_one_moltbook_name_ends_with_exactly_one_holder_and_no_errors(two_postgres_servers, fake):
    servers = two_postgres_servers
    for round_ in range(ROUNDS):
        name = f"contested_{round_}"
        fake.add_agent(name, x_handle="owner")
        agents = [register(server.url, "racer") for server in servers]
        for server, agent in zip(servers, agents, strict=True):
            code = requests.post(
                f"{server.url}/api/verify/start", headers=headers(agent), json={"moltbookName": name}, timeout=10
            ).json()["code"]
            fake.add_post(name, content=f"[{code}]")
        statuses = complete_at_once(servers, agents, name)

        assert statuses == [200, 200]
        views = [
            requests.get(f"{servers[0].url}/api/agents/{agent['name']}", timeout=10).json()["agent"] for agent in agents
        ]
        holders = [view for view in views if view["moltbookVerified"]]
        assert len(holders) == 1
        assert holders[0]["moltbookName"] == name
        assert [view["moltbookName"] for view in views if not view["moltbookVerified"]] == [None]
