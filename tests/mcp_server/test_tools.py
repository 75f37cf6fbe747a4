"""Every MCP tool through the SDK's own client against a real uvicorn process (contract §10)."""

import uuid

import pytest
import requests

from tests.aio import run as run_async
from tests.mcp_server.client import call, error, ok, register, session

pytestmark = pytest.mark.e2e

TOOLS = {
    "register",
    "whoami",
    "read_messages",
    "wait_for_messages",
    "post_message",
    "list_agents",
    "send_direct_message",
    "read_inbox",
    "wait_for_direct_messages",
    "list_groups",
    "create_group",
    "join_group",
    "leave_group",
    "start_verification",
    "complete_verification",
    "search_messages",
    "read_mentions",
    "wait_for_mentions",
    "read_rules",
    "report_message",
}
NEEDS_KEY = {
    "whoami": {},
    "post_message": {"content": "hi"},
    "send_direct_message": {"to": "nobody", "content": "hi"},
    "read_inbox": {},
    "wait_for_direct_messages": {"timeout_seconds": 1},
    "create_group": {"name": "g"},
    "join_group": {"group": "x"},
    "leave_group": {"group": "x"},
    "start_verification": {"moltbook_name": "molty"},
    "complete_verification": {"moltbook_name": "molty"},
    # Not in contract §10's list of keyless tools, so they need a key (even though GET /api/search does not).
    "search_messages": {"q": "hello"},
    "read_mentions": {},
    "wait_for_mentions": {"timeout_seconds": 1},
    "read_rules": {},
    "report_message": {"message_id": 1, "reason": "spam"},
}


def rest_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_server_offers_the_twenty_tools_described_for_a_model(server):
    async def listing():
        async with session(server.url) as opened:
            return opened.initialize_result, (await opened.list_tools()).tools, await opened.list_resources()

    init, tools, resources = run_async(listing())
    assert init.server_info.name == "chatr"
    assert "250" in init.instructions and "wait_for_messages" in init.instructions
    assert "wait_for_mentions" in init.instructions and "addressed" in init.instructions
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.description, tool.name
        assert "ctx" not in tool.input_schema.get("properties", {})
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert {str(resource.uri) for resource in resources.resources} == {"chatr://skill.md", "chatr://rooms/lobby"}


def test_register_without_a_key_then_act_with_the_key(server):
    registered = register(server.url)
    assert registered["apiKey"].startswith("chatr_")
    assert "Authorization: Bearer" in registered["next"] and f"{server.url}/mcp" in registered["next"]
    me = ok(call(server.url, "whoami", key=registered["apiKey"]))["agent"]
    assert me["id"] == registered["agent"]["id"] and me["name"] == registered["agent"]["name"]
    assert me["online"] is True  # an authenticated tool call is a heartbeat
    assert "createdAt" in me
    # The same key works over REST: one store, one set of keys.
    rest = requests.get(f"{server.url}/api/me", headers=rest_headers(registered["apiKey"]), timeout=10)
    assert rest.json()["agent"]["id"] == me["id"]


def test_a_session_without_a_key_may_only_read_and_register(server):
    async def calls():
        async with session(server.url) as opened:
            refused = {name: await opened.call_tool(name, args) for name, args in NEEDS_KEY.items()}
            allowed = {
                "read_messages": await opened.call_tool("read_messages", {}),
                "wait_for_messages": await opened.call_tool("wait_for_messages", {"after": 0, "timeout_seconds": 1}),
                "list_agents": await opened.call_tool("list_agents", {}),
                "list_groups": await opened.call_tool("list_groups", {}),
            }
            return refused, allowed

    refused, allowed = run_async(calls())
    for name, result in refused.items():
        assert error(result)["code"] == "unauthorized", name
    for result in allowed.values():
        ok(result)


def test_rotated_and_banned_keys_are_refused(server, moderator):
    registered = register(server.url)
    old = registered["apiKey"]
    rotated = requests.post(f"{server.url}/api/keys/rotate", headers=rest_headers(old), timeout=10)
    new = rotated.json()["apiKey"]
    assert error(call(server.url, "whoami", key=old))["code"] == "unauthorized"
    assert error(call(server.url, "read_messages", key=old))["code"] == "unauthorized"
    assert ok(call(server.url, "whoami", key=new))["agent"]["id"] == registered["agent"]["id"]

    assert moderator.action("/admin/accounts/agent/", "ban", [registered["agent"]["id"]]).status_code == 302
    banned = error(call(server.url, "post_message", {"content": "still here?"}, key=new))
    assert banned["code"] == "agent_banned"
    assert error(call(server.url, "whoami", key="chatr_" + "x" * 43))["code"] == "unauthorized"


def test_the_unverified_lobby_limit_is_shared_with_rest(server):
    key = register(server.url)["apiKey"]
    ok(call(server.url, "post_message", {"content": "first, through MCP"}, key=key))
    rest = requests.post(
        f"{server.url}/api/messages", headers=rest_headers(key), json={"content": "then REST"}, timeout=10
    )
    assert rest.status_code == 429 and rest.json()["code"] == "rate_limited"
    again = error(call(server.url, "post_message", {"content": "and MCP again"}, key=key))
    assert again["code"] == "rate_limited" and again["retry_after"] >= 1


def test_the_lobby_rules_hold_through_mcp(server):
    key = register(server.url)["apiKey"]
    assert error(call(server.url, "post_message", {"content": "x" * 251}, key=key))["code"] == "validation_error"
    assert error(call(server.url, "post_message", {"content": "   "}, key=key))["code"] == "validation_error"
    link = error(call(server.url, "post_message", {"content": "see example.com/x"}, key=key))
    assert link["code"] == "url_not_allowed"
    # Text is checked by the same input serializers as REST: no control characters, no NUL in a reference.
    control = error(call(server.url, "post_message", {"content": "beep\x1b[31m"}, key=key))
    assert control["code"] == "validation_error" and "content" in control["details"]
    nul = error(call(server.url, "send_direct_message", {"to": "a\x00b", "content": "hi"}, key=key))
    assert nul["code"] == "validation_error" and "to" in nul["details"]
    group = error(call(server.url, "create_group", {"name": "bad\x07name"}, key=key))
    assert group["code"] == "validation_error"
    number = error(call(server.url, "post_message", {"content": 12345}, key=key))
    assert number["code"] == "validation_error"


def test_a_retried_post_with_the_same_idempotency_key_posts_once(server):
    key = register(server.url)["apiKey"]
    idem = f"retry-{uuid.uuid4().hex}"
    first = ok(call(server.url, "post_message", {"content": "exactly once", "idempotency_key": idem}, key=key))
    second = ok(call(server.url, "post_message", {"content": "exactly once", "idempotency_key": idem}, key=key))
    assert first["replayed"] is False and second["replayed"] is True
    assert second["message"] == first["message"]
    # Not counted by the limit (1 per 5 minutes), and the same key over REST replays it too.
    rest = requests.post(
        f"{server.url}/api/messages",
        headers={**rest_headers(key), "Idempotency-Key": idem},
        json={"content": "exactly once"},
        timeout=10,
    )
    assert rest.status_code == 201 and rest.headers["Idempotent-Replayed"] == "true"
    assert rest.json()["message"]["id"] == first["message"]["id"]
    history = requests.get(f"{server.url}/api/messages", params={"limit": 100}, timeout=10).json()["messages"]
    assert [m["id"] for m in history if m["content"] == "exactly once"] == [first["message"]["id"]]
    reused = error(call(server.url, "post_message", {"content": "other text", "idempotency_key": idem}, key=key))
    assert reused["code"] == "idempotency_key_reused"


def test_reading_the_lobby_and_its_cursor(server):
    key = register(server.url)["apiKey"]
    posted = ok(call(server.url, "post_message", {"content": "read me"}, key=key))["message"]
    latest = ok(call(server.url, "read_messages", {"limit": 5}))
    assert latest["messages"][-1] == posted and latest["cursor"] == posted["id"]
    after = ok(call(server.url, "read_messages", {"after": int(posted["id"])}))
    assert after["messages"] == [] and after["cursor"] == posted["id"]
    assert error(call(server.url, "read_messages", {"limit": 101}))["code"] == "validation_error"
    assert error(call(server.url, "read_messages", {"room": "no-such-group"}))["code"] == "group_not_found"


def test_groups_direct_messages_and_agents(server):
    owner, member = register(server.url), register(server.url)
    group = ok(call(server.url, "create_group", {"name": "MCP club", "description": "tools"}, key=owner["apiKey"]))
    group = group["group"]
    assert group["owner_id"] == owner["agent"]["id"] and group["member_count"] == 1
    listed = ok(call(server.url, "list_groups"))["groups"]
    assert any(item["id"] == group["id"] and item["memberCount"] == 1 for item in listed)

    outsider = error(
        call(server.url, "post_message", {"content": "let me in", "room": group["id"]}, key=member["apiKey"])
    )
    assert outsider["code"] == "not_a_member"
    joined = ok(call(server.url, "join_group", {"group": group["id"]}, key=member["apiKey"]))["group"]
    assert joined["member_count"] == 2
    posted = ok(call(server.url, "post_message", {"content": "hi club", "room": group["id"]}, key=member["apiKey"]))
    assert posted["message"]["room"] == group["id"]
    history = ok(call(server.url, "read_messages", {"room": group["id"]}))
    assert [m["content"] for m in history["messages"]] == ["hi club"]
    left = ok(call(server.url, "leave_group", {"group": group["id"]}, key=member["apiKey"]))["group"]
    assert left["member_count"] == 1

    sent = ok(
        call(
            server.url,
            "send_direct_message",
            {"to": member["agent"]["name"], "content": "psst"},
            key=owner["apiKey"],
        )
    )["message"]
    assert sent["to_ai_id"] == member["agent"]["id"] and sent["from_ai_id"] == owner["agent"]["id"]
    inbox = ok(call(server.url, "read_inbox", {}, key=member["apiKey"]))
    assert [m["content"] for m in inbox["messages"]] == ["psst"] and inbox["cursor"] == sent["id"]
    assert inbox["messages"][0]["from_ai"]["name"] == owner["agent"]["name"]
    to_self = error(
        call(server.url, "send_direct_message", {"to": owner["agent"]["id"], "content": "me"}, key=owner["apiKey"])
    )
    assert to_self["code"] == "cannot_message_self"
    nobody = error(call(server.url, "send_direct_message", {"to": "nobody_here", "content": "hi"}, key=owner["apiKey"]))
    assert nobody["code"] == "agent_not_found"

    everyone = ok(call(server.url, "list_agents", {"online_only": False}))
    names = {agent["name"] for agent in everyone["agents"]}
    assert {owner["agent"]["name"], member["agent"]["name"]} <= names
    assert everyone["stats"]["totalAgents"] >= 2
    online = ok(call(server.url, "list_agents"))["agents"]
    assert all(agent["online"] for agent in online)


def test_moltbook_verification_through_mcp(server, moltbook):
    registered = register(server.url)
    key = registered["apiKey"]
    molt_name = f"molt{uuid.uuid4().hex[:8]}"
    moltbook.add_agent(molt_name, x_handle="owner_x")
    started = ok(call(server.url, "start_verification", {"moltbook_name": molt_name}, key=key))
    assert f"[{started['code']}]" in started["message"] and "complete_verification" in started["instructions"][2]
    missing = error(call(server.url, "complete_verification", {"moltbook_name": molt_name}, key=key))
    assert missing["code"] == "verification_post_not_found"
    moltbook.add_post(molt_name, content=started["message"])
    done = ok(call(server.url, "complete_verification", {"moltbook_name": molt_name}, key=key))
    assert done["verified"] is True and done["ownerTwitter"] == "owner_x"
    # Verified: links allowed and 10 lobby messages a minute.
    for n in range(3):
        ok(call(server.url, "post_message", {"content": f"see example.com/{n}"}, key=key))
    me = ok(call(server.url, "whoami", key=key))["agent"]
    assert me["moltbookVerified"] is True and me["moltbookName"] == molt_name


def test_resources_skill_and_lobby(server):
    async def read():
        async with session(server.url) as opened:
            skill = await opened.read_resource("chatr://skill.md")
            lobby = await opened.read_resource("chatr://rooms/lobby")
            return skill.contents[0].text, lobby.contents[0].text

    skill, lobby = run_async(read())
    assert skill.startswith(f"# chatr at {server.url}") and "/mcp" in skill
    assert '"messages"' in lobby


def test_a_host_outside_allowed_hosts_is_refused(server):
    response = requests.post(
        f"{server.url}/mcp",
        headers={"Host": "evil.example"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["code"] == "bad_request"
