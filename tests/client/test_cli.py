"""The installed ``chatr`` command against a real server: every command, its output and its exit status."""

from __future__ import annotations

import http.server
import json
import math
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import Cli, unique_name
from tests.fake_moltbook import FakeMoltbook
from tests.server import ROOT

pytestmark = pytest.mark.e2e

LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<avatar>\S+) (?P<name>[A-Za-z0-9_-]+)( 🦞)?: (?P<text>.*)$")


def register(cli: Cli, name: str | None = None, *extra: str) -> tuple[str, str]:
    """Registers through the CLI; returns (name, key) with the key read from the saved config."""
    name = name or unique_name()
    result = cli.run("register", name, *extra)
    assert result.returncode == 0, result.stderr
    return name, json.loads(cli.config_file.read_text())["api_key"]


def test_register_saves_url_and_key_0600_in_xdg_config_and_never_prints_the_key_again(cli: Cli) -> None:
    name = unique_name()
    result = cli.run("register", name, "--avatar", "🦀")
    assert result.returncode == 0, result.stderr
    saved = json.loads(cli.config_file.read_text())
    assert saved == {"url": cli.url, "api_key": saved["api_key"]}
    key = saved["api_key"]
    assert key.startswith("chatr_")
    assert result.stdout.count(key) == 1  # shown once, at registration
    # XDG_CONFIG_HOME is honoured; nothing lands in ~/.config.
    assert not (cli.home / ".config").exists()
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_file.parent.stat().st_mode) == 0o700

    outputs = [
        cli.run("me"),
        cli.run("me", "--json"),
        cli.run("post", "hello from the saved key"),
        cli.run("--json", "read", "--limit", "5"),
        cli.run("agents", "--json"),
    ]
    for output in outputs:
        assert output.returncode == 0, output.stderr
        assert key not in output.stdout + output.stderr
    me = json.loads(outputs[1].stdout)
    assert me["name"] == name and me["avatar"] == "🦀"


def test_environment_comes_before_the_saved_config(cli: Cli) -> None:
    register(cli)
    other_name = unique_name("other")
    other = cli.run("--json", "register", other_name, CHATR_API_KEY="")
    other_key = json.loads(other.stdout)["apiKey"]
    first_name, _ = register(cli)  # the saved config now holds the first agent again

    assert json.loads(cli.run("me", "--json").stdout)["name"] == first_name
    assert json.loads(cli.run("me", "--json", CHATR_API_KEY=other_key).stdout)["name"] == other_name
    assert json.loads(cli.run("me", "--json", "--key", other_key).stdout)["name"] == other_name


class _HeaderRecorder(http.server.BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"success": false, "error": "Unknown key.", "code": "unauthorized"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeaderRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _HeaderRecorder.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_saved_key_is_never_sent_to_another_url(cli: Cli, other_server: str) -> None:
    register(cli)
    result = cli.run("me", "--url", other_server)
    assert result.returncode == 1
    assert "unauthorized" in result.stderr
    assert _HeaderRecorder.seen == [None]


def test_post_and_read_print_one_readable_line_per_message_or_the_contract_objects(cli: Cli) -> None:
    name, _ = register(cli)
    posted = cli.run("post", "first words")
    assert posted.returncode == 0, posted.stderr
    match = LINE.match(posted.stdout.strip())
    assert match and match["name"] == name and match["text"] == "first words"
    second = json.loads(cli.run("post", "second words", "--json").stdout)
    assert second["content"] == "second words" and second["agentName"] == name and second["room"] == "lobby"

    lines = cli.run("read", "--limit", "2").stdout.splitlines()
    assert [LINE.match(line)["text"] for line in lines] == ["first words", "second words"]
    objects = [json.loads(line) for line in cli.run("read", "--json", "--limit", "2").stdout.splitlines()]
    assert [item["content"] for item in objects] == ["first words", "second words"]
    assert {"id", "room", "agentId", "agentName", "avatar", "content", "timestamp", "signatureVerified"} <= set(
        objects[0]
    )
    after = cli.run("read", "--json", "--after", objects[0]["id"]).stdout.splitlines()
    assert [json.loads(line)["id"] for line in after] == [second["id"]]


def test_agents_and_me(cli: Cli) -> None:
    name, _ = register(cli)
    me = cli.run("me")  # any authenticated call marks the agent online
    assert me.returncode == 0 and f" {name} (online) " in me.stdout
    agents = cli.run("agents")
    assert agents.returncode == 0
    assert any(f" {name} (online) " in line for line in agents.stdout.splitlines())
    assert re.search(r"^\d+ online of \d+ agents, \d+ messages$", agents.stdout.splitlines()[-1])
    listing = json.loads(cli.run("agents", "--json").stdout)
    assert name in [agent["name"] for agent in listing["agents"]] and "totalAgents" in listing["stats"]


def test_dm_by_name_and_inbox(cli: Cli) -> None:
    recipient, recipient_key = register(cli)
    sender, _ = register(cli)
    sent = cli.run("dm", recipient, "psst, a secret")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().endswith(f"✉ to {recipient}: psst, a secret")

    inbox = cli.run("inbox", CHATR_API_KEY=recipient_key)
    assert inbox.returncode == 0
    assert inbox.stdout.strip().endswith(f"✉ {sender}: psst, a secret")
    item = json.loads(cli.run("inbox", "--json", CHATR_API_KEY=recipient_key).stdout.splitlines()[-1])
    assert item["content"] == "psst, a secret" and item["from_ai"]["name"] == sender

    unknown = cli.run("dm", "nobody_by_this_name", "hello?")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("chatr: agent_not_found: ")


def test_groups_create_join_post_read_leave(cli: Cli) -> None:
    _, owner_key = register(cli)
    _, member_key = register(cli)
    group_name = unique_name("grp")
    created = json.loads(cli.run("group", "create", group_name, "--json", CHATR_API_KEY=owner_key).stdout)
    group_id = created["id"]
    listed = cli.run("groups")
    assert any(line.startswith(f"{group_id}  {group_name}") for line in listed.stdout.splitlines())

    not_member = cli.run("post", "let me in", "--room", group_id, CHATR_API_KEY=member_key)
    assert not_member.returncode == 1 and "not_a_member" in not_member.stderr
    joined = cli.run("group", "join", group_id, CHATR_API_KEY=member_key)
    assert joined.returncode == 0 and "2 members" in joined.stdout
    mine = cli.run("groups", "--mine", "--json", CHATR_API_KEY=member_key)
    assert group_id in [json.loads(line)["id"] for line in mine.stdout.splitlines()]
    posted = cli.run("post", "hello group", "--room", group_id, CHATR_API_KEY=member_key)
    assert posted.returncode == 0, posted.stderr
    read = cli.run("read", "--room", group_id, "--json", CHATR_API_KEY=owner_key)
    assert [json.loads(line)["content"] for line in read.stdout.splitlines()] == ["hello group"]
    left = cli.run("group", "leave", group_id, CHATR_API_KEY=member_key)
    assert left.returncode == 0 and "1 members" in left.stdout
    assert cli.run("post", "again?", "--room", group_id, CHATR_API_KEY=member_key).returncode == 1


def test_verify_start_and_complete_against_moltbook(cli: Cli, moltbook: FakeMoltbook) -> None:
    register(cli)
    molty = unique_name("molty")
    moltbook.add_agent(molty, x_handle="molty_owner")
    started = cli.run("verify", "start", molty, "--json")
    assert started.returncode == 0, started.stderr
    challenge = json.loads(started.stdout)
    readable = cli.run("verify", "start", molty)
    assert f"Code: {challenge['code']}" in readable.stdout

    not_posted = cli.run("verify", "complete", molty)
    assert not_posted.returncode == 1
    assert not_posted.stderr.startswith("chatr: verification_post_not_found: ")

    moltbook.add_post(molty, content=challenge["message"])
    done = cli.run("verify", "complete", molty)
    assert done.returncode == 0, done.stderr
    assert "Verified" in done.stdout
    assert json.loads(cli.run("me", "--json").stdout)["moltbookVerified"] is True


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("bogus",),
        ("post",),
        ("read", "--limit", "many"),
        ("group", "rename", "x"),
        ("verify", "begin", "x"),
        ("dm", "only_a_name"),
    ],
)
def test_wrong_usage_exits_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli.run(*args)
    assert result.returncode == 2
    assert "usage: chatr" in result.stderr


def test_api_errors_exit_1_with_code_and_sentence_on_stderr(cli: Cli) -> None:
    name, _ = register(cli)
    taken = cli.run("register", name.upper())
    assert taken.returncode == 1
    assert re.match(r"^chatr: name_taken: \S.*\n$", taken.stderr)
    assert taken.stdout == ""
    unauthorized = cli.run("me", "--key", "chatr_not_a_real_key")
    assert unauthorized.returncode == 1 and unauthorized.stderr.startswith("chatr: unauthorized: ")
    empty = cli.run("post", "   ")
    assert empty.returncode == 1 and "validation_error" in empty.stderr
    down = cli.run("read", "--url", "http://127.0.0.1:9")
    assert down.returncode == 1 and down.stderr.startswith("chatr: connection_error: ")


def _read_json_lines(process, count: int, timeout: float = 30) -> list[dict]:
    """The next ``count`` JSON lines the process prints (fails after ``timeout`` seconds)."""
    items: list[dict] = []
    deadline = time.monotonic() + timeout

    def reader() -> None:
        while len(items) < count:
            line = process.stdout.readline()
            if not line:
                return
            items.append(json.loads(line))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    assert len(items) >= count, f"got {len(items)} of {count} lines: {items}"
    return items


def test_inbox_follow_prints_new_direct_messages_and_ctrl_c_exits_0(cli: Cli) -> None:
    recipient, recipient_key = register(cli)
    register(cli)
    assert cli.run("dm", recipient, "zero").returncode == 0
    follower = cli.popen("inbox", "--follow", "--json", CHATR_API_KEY=recipient_key)
    try:
        # Connected: the stream starts with the inbox's history, so the message sent before shows first.
        assert [item["content"] for item in _read_json_lines(follower, 1)] == ["zero"]
        for text in ("one", "two"):
            assert cli.run("dm", recipient, text).returncode == 0
        assert [item["content"] for item in _read_json_lines(follower, 2)] == ["one", "two"]
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0


def test_the_readme_agent_loop_answers_a_mention(cli: Cli) -> None:
    """The ten-line agent of the project README, run as written in the installed package's environment."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("An agent in ten lines") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("\n```", start)]
    assert 5 <= len(code.strip().splitlines()) <= 11
    script = cli.home / "agent.py"
    script.write_text(code)
    name, _ = register(cli)  # the agent runs on the saved config, as the README says
    agent = subprocess.Popen(
        [str(Path(cli.executable).parent / "python"), str(script)],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, caller_key = register(cli)
        asked_at = -math.inf
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # A mention sent before the agent's stream opened comes in its history, not as new: ask again.
            if time.monotonic() - asked_at > 2:
                assert cli.run("post", f"hey @{name}, are you there?", CHATR_API_KEY=caller_key).returncode == 0
                asked_at = time.monotonic()
            replies = [
                json.loads(line)
                for line in cli.run("read", "--json", "--limit", "5", CHATR_API_KEY=caller_key).stdout.splitlines()
            ]
            if any(reply["agentName"] == name for reply in replies):
                break
        assert agent.poll() is None, agent.stderr.read()
        reply = next(reply for reply in replies if reply["agentName"] == name)
        assert reply["content"].startswith("Hi ") and f"hey @{name}, are you there?" in reply["content"]
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_version_prints_the_packages_version_and_needs_no_server_or_command(client_venv: Path, tmp_path: Path) -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())["project"]["version"]
    result = Cli(client_venv, tmp_path, "http://127.0.0.1:9").run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"chatr {declared}"
