"""Against a real server process: block and hold on the post path, and a rule change made by another
process (``moderation_rules import``) applying to the next post within a second."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.mcp_server import client as mcp
from tests.server import ROOT, sqlite_server
from tests.sse import frames_until, sse_frames

pytestmark = pytest.mark.e2e

ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
    "CHATR_STREAM_STATS_SECONDS": "0.5",
}
RULES = {
    "rules": [
        {"name": "no-spam", "reason": "No spam here.", "kind": "terms", "terms": ["spam"]},
        {"name": "review", "reason": "A human looks first.", "kind": "terms", "terms": ["review me"], "action": "hold"},
    ]
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-safety"), **ENV)
    yield process
    process.stop()


def import_rules(server, tmp_path, document: dict) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document))
    subprocess.run(
        [sys.executable, "manage.py", "moderation_rules", "import", str(path)],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
    )


def test_rules_imported_by_another_process_apply_within_a_second(server, tmp_path):
    agent = register(server.url)
    say = lambda text: requests.post(  # noqa: E731
        f"{server.url}/api/messages", json={"content": text}, headers=headers(agent), timeout=10
    )
    assert say("spam before the rules").status_code == 201

    import_rules(server, tmp_path, RULES)
    time.sleep(1.0)  # the contract's bound: the next post a second after the change
    blocked = say("more spam")
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "blocked_by_rule" and blocked.json()["rule"] == "no-spam"

    held = say("please review me")
    assert held.status_code == 202 and held.json()["held"]["rule"] == "review"
    mine = requests.get(f"{server.url}/api/held", headers=headers(agent), timeout=10).json()["held"]
    assert [item["content"] for item in mine] == ["please review me"]
    history = requests.get(f"{server.url}/api/messages", timeout=10).json()["messages"]
    assert [message["content"] for message in history] == ["spam before the rules"]
    public = requests.get(f"{server.url}/api/rules", timeout=10).json()
    assert [rule["name"] for rule in public["rules"]] == ["no-spam", "review"]

    mcp_agent = mcp.register(server.url, prefix="safe")
    refused = mcp.error(mcp.call(server.url, "post_message", {"content": "mcp spam"}, key=mcp_agent["apiKey"]))
    assert refused["code"] == "blocked_by_rule" and refused["rule"] == "no-spam"
    kept = mcp.ok(mcp.call(server.url, "post_message", {"content": "review me, MCP"}, key=mcp_agent["apiKey"]))
    assert kept["held"]["rule"] == "review" and kept["held"]["id"].startswith("h")

    rules = mcp.ok(mcp.call(server.url, "read_rules", {}, key=mcp_agent["apiKey"]))
    assert [rule["name"] for rule in rules["rules"]] == ["no-spam", "review"] and rules["slowMode"] == {}
    first_id = int(history[0]["id"])
    reported = mcp.ok(
        mcp.call(server.url, "report_message", {"message_id": first_id, "reason": "spam"}, key=mcp_agent["apiKey"])
    )
    assert reported["report"]["messageId"] == str(first_id) and reported["report"]["reason"] == "spam"
    again = mcp.call(server.url, "report_message", {"message_id": first_id, "reason": "nope"}, key=mcp_agent["apiKey"])
    assert mcp.error(again)["code"] == "invalid_report"
    unknown = mcp.call(server.url, "report_message", {"message_id": 999999, "reason": "nope"}, key=mcp_agent["apiKey"])
    assert mcp.error(unknown)["code"] == "message_not_found"  # 404 before 400, as over REST

    # REST's order holds over MCP for what the tool's schema could refuse first: 401, 404, then invalid_report.
    long_note = {"reason": "spam", "note": "x" * 201}
    keyless = mcp.call(server.url, "report_message", {"message_id": 0, **long_note})
    assert mcp.error(keyless)["code"] == "unauthorized"
    for missing in (0, 2**63):
        nowhere = mcp.call(server.url, "report_message", {"message_id": missing, **long_note}, key=mcp_agent["apiKey"])
        assert mcp.error(nowhere)["code"] == "message_not_found"
    too_long = mcp.call(server.url, "report_message", {"message_id": first_id, **long_note}, key=mcp_agent["apiKey"])
    assert mcp.error(too_long)["code"] == "invalid_report" and list(mcp.error(too_long)["details"]) == ["note"]
    # MCP's arguments skip the REST parser that refuses NUL: the service refuses it (PostgreSQL cannot store it).
    nul = {"message_id": first_id, "reason": "spam", "note": "a\x00b"}
    assert mcp.error(mcp.call(server.url, "report_message", nul, key=mcp_agent["apiKey"]))["code"] == "invalid_report"

    import_rules(server, tmp_path, {"rules": []})
    time.sleep(1.0)  # the same bound the other way: rules removed apply to the next post a second later
    assert say("spam is fine again").status_code == 201


def test_each_rooms_stats_frames_carry_its_slow_mode(server, tmp_path):
    """Contract §13: a ``stats`` frame field ``slowModeSeconds`` — the lobby's on its stream, a group's on its own,
    0 where slow mode is off — following a change made by another process."""
    owner = register(server.url, prefix="owner")
    made = requests.post(f"{server.url}/ai/groups", json={"name": "Quiet"}, headers=headers(owner), timeout=10)
    group_id = made.json()["group"]["id"]
    import_rules(server, tmp_path, {"rules": [], "rooms": {"lobby": {"slowModeSeconds": 30}}})

    def stats_with(path: str, seconds: int) -> dict:
        frames = frames_until(
            sse_frames(server.url, path=path),
            lambda seen: seen[-1].type == "stats" and seen[-1].data.get("slowModeSeconds") == seconds,
        )
        return frames[-1].data

    lobby = stats_with("/api/stream", 30)
    assert {"totalAgents", "onlineAgents", "totalMessages"} <= lobby.keys()  # §5's fields stay
    assert requests.get(f"{server.url}/api/rooms/lobby/", timeout=10).json()["slowModeSeconds"] == 30
    assert stats_with(f"/api/stream?room={group_id}", 0)["slowModeSeconds"] == 0

    import_rules(server, tmp_path, {"rules": [], "rooms": {group_id: {"slowModeSeconds": 12}}})
    assert stats_with(f"/api/stream?room={group_id}", 12)["slowModeSeconds"] == 12
    assert stats_with("/api/stream", 0)["slowModeSeconds"] == 0  # the import replaced the lobby's
