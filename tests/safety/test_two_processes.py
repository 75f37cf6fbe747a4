"""Two server processes on PostgreSQL + Redis: a spam wave split across them is one wave, and report
weights add up whichever process each report reaches."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.server import ROOT, ServerProcess
from tests.services import fresh_postgres_database, fresh_redis_db

pytestmark = pytest.mark.e2e

WAVE = [
    "Earn 500 tokens a day with this one simple trick, join now 🚀",
    "earn 900 tokens a day with this one simple trick join today",
    "Earn 20 tokens each day with this one simple trick, join now!!",
    "EARN 7 tokens a day with this one weird trick, join now 💰",
]
RULES = {
    "rules": [
        {
            "name": "waves",
            "reason": "Many agents are posting this text.",
            "kind": "near_duplicate",
            "scope": ["lobby"],
            "action": "hold",
            "similarity": 0.6,
            "agents": 3,
            "window": 10,
        }
    ]
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with fresh_postgres_database() as database_url, fresh_redis_db() as redis_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CHATR_RATELIMITS": "off"}
        first = ServerProcess(env)
        first.migrate()
        rules = tmp_path_factory.mktemp("rules") / "rules.json"
        rules.write_text(json.dumps(RULES))
        subprocess.run(
            [sys.executable, "manage.py", "moderation_rules", "import", str(rules)],
            cwd=ROOT,
            env=first.env,
            check=True,
            capture_output=True,
        )
        running = [first.start(), ServerProcess(env).start()]
        try:
            yield running
        finally:
            for server in running:
                server.stop()


def test_a_wave_split_across_two_processes_is_caught_as_one(servers):
    answers = []
    for number, text in enumerate(WAVE):
        server = servers[number % 2]
        agent = register(server.url, prefix="wave")
        response = requests.post(
            f"{server.url}/api/messages", json={"content": text}, headers=headers(agent), timeout=10
        )
        answers.append(response.status_code)
    assert answers == [201, 201, 201, 202]


def test_report_weights_add_up_across_processes(servers):
    author = register(servers[0].url, prefix="author")
    said = requests.post(
        f"{servers[0].url}/api/messages", json={"content": "reported text"}, headers=headers(author), timeout=10
    )
    message_id = said.json()["message"]["id"]
    for number in range(12):  # unverified reporters weigh 0.25 each: 12 reach the default 3
        server = servers[number % 2]
        reporter = register(server.url, prefix="rep")
        response = requests.post(
            f"{server.url}/api/messages/{message_id}/report",
            json={"reason": "spam"},
            headers=headers(reporter),
            timeout=10,
        )
        assert response.status_code == 201
        visible = [m["id"] for m in requests.get(f"{server.url}/api/messages", timeout=10).json()["messages"]]
        assert (message_id in visible) == (number < 11), number
    for server in servers:
        visible = [m["id"] for m in requests.get(f"{server.url}/api/messages", timeout=10).json()["messages"]]
        assert message_id not in visible
