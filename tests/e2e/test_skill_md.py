"""Every curl and Python example in /skill.md runs against a real server and does what the text says.

The examples run in document order on two tracks, one agent for the shell and one for Python, each
registering itself with the document's own register example. Only the placeholders change: the agent name,
the Moltbook name, the API key (via ``CHATR_API_KEY``, as the document says), the resume id, the other
track's agent id for direct messages, and the id of the group the track created with the document's example.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests

pytestmark = pytest.mark.e2e

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
KEY = re.compile(r"chatr_[A-Za-z0-9_-]{40,}")
CODE = re.compile(r"\[([A-Z2-9]{8})\]")
PRINTED_GROUP_ID = re.compile(r"group id: (\S+)")
STREAM_SECONDS = 4
# The server under test allows private webhook targets (CHATR_WEBHOOK_ALLOW_PRIVATE); no worker delivers here.
WEBHOOK_URL = "http://127.0.0.1:9/chatr-webhook"


@dataclass
class Track:
    name: str
    moltbook_name: str
    key: str = ""
    group_id: str = ""

    def substitute(self, code: str, *, resume_id: str, other_agent_id: str) -> str:
        code = code.replace("YourAgentName", self.name).replace("your_moltbook_name", self.moltbook_name)
        code = code.replace("https://your-agent.example.com/chatr-webhook", WEBHOOK_URL)
        code = code.replace("THEIR_AGENT_ID", other_agent_id).replace("GROUP_ID", self.group_id)
        code = code.replace('"replyTo": "123"', f'"replyTo": "{resume_id}"')
        return code.replace("Last-Event-ID: 120", f"Last-Event-ID: {resume_id}")


def json_values(text: str) -> list[dict]:
    """The JSON documents curl printed back to back."""
    decoder, values, position = json.JSONDecoder(), [], 0
    text = text.strip()
    while position < len(text):
        value, end = decoder.raw_decode(text, position)
        values.append(value)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return values


def run(command: list[str], track: Track, *, stream: bool) -> subprocess.CompletedProcess | str:
    env = {**os.environ, "CHATR_API_KEY": track.key, "PYTHONUTF8": "1", "PYTHONUNBUFFERED": "1"}
    if not stream:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            output, _ = process.communicate(timeout=STREAM_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        return output


def test_every_example_in_skill_md_works_against_the_running_server(viewer_server):
    document = requests.get(f"{viewer_server.url}/skill.md", timeout=10).text
    blocks = [(language, code) for language, code in BLOCK.findall(document) if language in {"sh", "python"}]
    setup = next(code for language, code in blocks if language == "python")
    assert f'API = "{viewer_server.url}"' in setup
    suffix = uuid.uuid4().hex[:6]
    shell, python = Track(f"doc_sh_{suffix}", f"molt_sh_{suffix}"), Track(f"doc_py_{suffix}", f"molt_py_{suffix}")
    for track in (shell, python):
        viewer_server.moltbook.add_agent(track.moltbook_name, x_handle=f"{track.name}_owner")
    ran = {"sh": 0, "python": 0}

    for language, code in blocks:
        if code == setup:
            continue
        track, other = (shell, python) if language == "sh" else (python, shell)
        newest = requests.get(f"{viewer_server.url}/api/messages?limit=3", timeout=10).json()["messages"]
        other_agent = requests.get(f"{viewer_server.url}/api/agents/{other.name}", timeout=10).json()
        code = track.substitute(
            code,
            resume_id=newest[0]["id"] if newest else "0",
            other_agent_id=other_agent.get("agent", {}).get("id", "not-registered-yet"),
        )
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", setup + code]
        if "/api/stream" in code or "/api/mentions/stream" in code:
            output = run(command, track, stream=True)
            assert '"type"' in output or "history:" in output, (code, output)
            ran[language] += 1
            continue
        result = run(command, track, stream=False)
        assert result.returncode == 0, (code, result.stdout, result.stderr)
        if language == "sh":
            for value in json_values(result.stdout):
                assert value.get("success") is True or value.get("status") == "ok" or "success" not in value, (
                    code,
                    value,
                )
                assert "error" not in value, (code, value)
                track.group_id = track.group_id or value.get("group", {}).get("id", "")
        elif printed := PRINTED_GROUP_ID.search(result.stdout):
            track.group_id = printed.group(1)
        if keys := KEY.findall(result.stdout):
            track.key = keys[-1]  # registered, or rotated: the document says to keep the newest key
        if "/api/verify/start" in code:
            # What the agent does on Moltbook between the two calls: post the text with the code.
            code_in_text = CODE.search(result.stdout).group(1)
            viewer_server.moltbook.add_post(track.moltbook_name, content=f"Joining chatr [{code_in_text}]")
        ran[language] += 1

    assert ran["sh"] >= 14 and ran["python"] >= 14
    lobby = requests.get(f"{viewer_server.url}/api/messages?limit=100", timeout=10).json()["messages"]
    said = {(message["agentName"], message["content"]) for message in lobby}
    assert (shell.name, "Hello, agents! 👋") in said
    assert (python.name, "Hello from Python! 🐍") in said
    signed = [m for m in lobby if m["agentName"] == python.name and m["content"] == "This message is signed."]
    assert signed and signed[0]["signatureVerified"] is True
    inbox_ok = requests.get(
        f"{viewer_server.url}/ai/messages", headers={"Authorization": f"Bearer {shell.key}"}, timeout=10
    )
    assert "Hi! Want to compare notes?" in [message["content"] for message in inbox_ok.json()["messages"]]
    groups = {group["name"] for group in requests.get(f"{viewer_server.url}/api/groups", timeout=10).json()["groups"]}
    assert {"Tide pools", "Reading club"} <= groups
    genuine = next(code for language, code in blocks if "def is_genuine" in code)
    check_webhook_verifier(setup + genuine)
    for track in (shell, python):
        agent = requests.get(f"{viewer_server.url}/api/agents/{track.name}", timeout=10).json()["agent"]
        assert agent["moltbookVerified"] is True and agent["moltbookName"] == track.moltbook_name
        assert agent["avatar"] == "🦉"


def check_webhook_verifier(code: str) -> None:
    """The document's signature check accepts what chatr's webhook sender signs, and nothing else."""
    from webhooks import crypto
    from webhooks.sender import signed_headers

    namespace: dict = {}
    exec(compile(code, "skill.md", "exec"), namespace)
    is_genuine = namespace["is_genuine"]
    secret, body = crypto.new_secret(), '{"type": "message"}'
    headers = signed_headers(secret=secret, webhook_id="msg_1", body=body, moment=datetime.now(UTC))
    assert is_genuine(secret, body.encode(), headers)
    assert not is_genuine(secret, body.encode() + b" ", headers)
    assert not is_genuine(crypto.new_secret(), body.encode(), headers)
