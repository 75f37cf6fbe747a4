"""Two agents written as aiclient's Python example shows, against a real server process over real sockets."""

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.chat.helpers import sign
from tests.e2e.clients import register

pytestmark = pytest.mark.e2e


class AiClientAgent:
    """The seed's example, unchanged but for the base URL: ``requests`` with a Bearer key against ``{base}/ai``."""

    def __init__(self, server_url: str, api_key: str) -> None:
        self.BASE_URL = f"{server_url}/ai"
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(f"{self.BASE_URL}{path}", headers=self.headers, params=params, timeout=10)

    def post(self, path: str, json: dict | None = None) -> requests.Response:
        return requests.post(f"{self.BASE_URL}{path}", headers=self.headers, json=json, timeout=10)

    def patch(self, path: str, json: dict) -> requests.Response:
        return requests.patch(f"{self.BASE_URL}{path}", headers=self.headers, json=json, timeout=10)


def test_two_agents_exchange_direct_messages_and_talk_in_a_group(server):
    assert requests.get(f"{server.url}/ai/health", timeout=10).json() == {"status": "ok", "service": "AI Agent API"}
    alice_reg, bob_reg = register(server.url, "alice"), register(server.url, "bob")
    alice = AiClientAgent(server.url, alice_reg["apiKey"])
    bob = AiClientAgent(server.url, bob_reg["apiKey"])

    # 获取当前 AI 信息
    me = alice.get("/me").json()
    assert me["message"] == "AI Agent API connected"
    assert me["aiAgent"]["id"] == alice_reg["id"] and me["aiAgent"]["status"] == "active"
    assert bob_reg["id"] in {friend["id"] for friend in alice.get("/friends").json()["friends"]}

    # 发送消息
    sent = alice.post("/messages", {"toAiId": bob_reg["id"], "content": "你好!"})
    assert sent.status_code == 201
    assert sent.json()["message"]["from_ai_id"] == alice_reg["id"]
    assert sent.json()["message"]["to_ai_id"] == bob_reg["id"]

    received = bob.get("/messages").json()["messages"]
    assert [(m["id"], m["content"], m["from_ai"]["name"]) for m in received] == [
        (sent.json()["message"]["id"], "你好!", alice_reg["name"])
    ]
    cursor = received[-1]["id"]
    reply = bob.post("/messages", {"toAiId": alice_reg["id"], "content": "Hi Alice"})
    assert reply.status_code == 201
    assert [m["content"] for m in alice.get("/messages").json()["messages"]] == ["Hi Alice"]
    assert bob.get("/messages", since=cursor).json()["messages"] == []

    # A signed message, verified by the server and verifiable by the reader with from_ai.public_key.
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert alice.patch("/me", {"public_key": pem}).status_code == 200
    content = "signed by alice"
    signature = sign(private_key, content)  # low-S, as chatr requires
    signed = alice.post("/messages", {"toAiId": bob_reg["id"], "content": content, "signature": signature})
    assert signed.status_code == 201 and signed.json()["message"]["signature_verified"] is True
    latest = bob.get("/messages", since=cursor).json()["messages"][-1]
    assert latest["signature"] == signature and latest["signature_verified"] is True
    reader_key = serialization.load_pem_public_key(latest["from_ai"]["public_key"].encode())
    reader_key.verify(bytes.fromhex(latest["signature"]), latest["content"].encode(), ec.ECDSA(hashes.SHA256()))

    # 创建群聊, join it, talk, read the history.
    created = alice.post("/groups", {"name": "测试群"})
    assert created.status_code == 201
    group = created.json()["group"]
    assert group["owner_id"] == alice_reg["id"] and group["member_count"] == 1
    assert bob.post(f"/groups/{group['id']}/messages", {"content": "not yet"}).json()["code"] == "not_a_member"
    assert bob.post(f"/groups/{group['id']}/join").json()["group"]["member_count"] == 2
    assert [g["id"] for g in bob.get("/groups").json()["groups"]] == [group["id"]]
    assert alice.post(f"/groups/{group['id']}/messages", {"content": "大家好!"}).status_code == 201
    assert bob.post(f"/groups/{group['id']}/messages", {"content": "Hello all"}).status_code == 201
    history = alice.get(f"/groups/{group['id']}/messages", limit=50).json()["messages"]
    assert [(m["agentName"], m["content"], m["room"]) for m in history] == [
        (alice_reg["name"], "大家好!", group["id"]),
        (bob_reg["name"], "Hello all", group["id"]),
    ]

    listed = requests.get(f"{server.url}/api/groups", timeout=10).json()["groups"]
    entry = next(item for item in listed if item["id"] == group["id"])
    assert entry["memberCount"] == 2 and entry["name"] == "测试群" and entry["lastMessageAt"].endswith("Z")
    lobby = requests.get(f"{server.url}/api/messages", params={"limit": 100}, timeout=10).json()["messages"]
    assert not {"你好!", "Hi Alice", content, "大家好!", "Hello all"} & {m["content"] for m in lobby}
