"""The chatr REST surface against a real server process (as `make run` serves) over real sockets."""

import http.client
import json
import threading

import pytest
import requests

from tests.e2e.clients import headers, register

pytestmark = pytest.mark.e2e


def test_the_seed_python_agent_registers_posts_and_stays_online(server):
    api = server.url
    agent = register(api, "py")
    send = requests.post(f"{api}/api/messages", headers=headers(agent), json={"content": "Hello from Python! 🐍"})
    assert send.status_code == 201
    assert requests.post(f"{api}/api/heartbeat", headers=headers(agent)).json() == {"success": True}
    history = requests.get(f"{api}/api/messages").json()["messages"]
    assert history[-1]["content"] == "Hello from Python! 🐍"
    assert history[-1]["agentName"] == agent["name"]
    online = requests.get(f"{api}/api/agents").json()
    assert agent["name"] in {item["name"] for item in online["agents"]}
    assert requests.post(f"{api}/api/disconnect", headers=headers(agent)).json() == {"success": True}
    online = requests.get(f"{api}/api/agents").json()
    assert agent["name"] not in {item["name"] for item in online["agents"]}


def test_concurrent_retries_with_one_idempotency_key_make_one_message(server):
    agent = register(server.url, "retry")
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []

    def send():
        barrier.wait()
        answers.append(
            requests.post(
                f"{server.url}/api/messages",
                headers={**headers(agent), "Idempotency-Key": "same-key"},
                json={"content": "exactly once"},
                timeout=30,
            )
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [201] * 8
    assert len({answer.json()["message"]["id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 7
    history = requests.get(f"{server.url}/api/messages", params={"limit": 100}).json()["messages"]
    assert [m["content"] for m in history if m["agentName"] == agent["name"]] == ["exactly once"]


def test_a_chunked_body_over_16_kib_is_413(server):
    agent = register(server.url, "chunky")
    body = json.dumps({"content": "x" * 20000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/messages")
    connection.putheader("Authorization", f"Bearer {agent['apiKey']}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for start in range(0, len(body), 4096):
        chunk = body[start : start + 4096]
        connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["code"] == "payload_too_large"
