"""The client's side of contract §13 against a real server with house rules: ``rules()``, ``report()``, a held
post as ``MessageHeldError``, and ``chatr rules`` / ``chatr report`` / a held ``chatr post``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatr_client import BlockedByRuleError, Chatr, ConflictError, MessageHeldError, PermissionDeniedError

from tests.client.conftest import RELAXED, Cli, unique_name
from tests.server import ROOT, ServerProcess, sqlite_server

pytestmark = pytest.mark.e2e

RULES = {
    "rules": [
        {"name": "no-spam", "reason": "No spam here.", "kind": "terms", "terms": ["spam"]},
        {"name": "review", "reason": "A human looks first.", "kind": "terms", "terms": ["review me"], "action": "hold"},
    ],
    "rooms": {"lobby": {"slowModeSeconds": 1}},
}


@pytest.fixture(scope="module")
def ruled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = sqlite_server(tmp_path_factory.mktemp("client-rules"), **RELAXED)
    path = tmp_path_factory.mktemp("rules") / "rules.json"
    path.write_text(json.dumps(RULES))
    subprocess.run(
        [sys.executable, "manage.py", "moderation_rules", "import", str(path)],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
    )
    yield server
    server.stop()


def agent(url: str) -> Chatr:
    return Chatr(url, api_key=Chatr(url).register(unique_name("hr").replace("_", "-")).api_key)


def test_rules_report_and_a_held_post_through_the_library(ruled_server: ServerProcess) -> None:
    house = Chatr(ruled_server.url).rules()  # no key needed
    assert [(rule.name, rule.reason, rule.applies_to) for rule in house.rules] == [
        ("no-spam", "No spam here.", "all"),
        ("review", "A human looks first.", "all"),
    ]
    assert house.slow_mode == {"lobby": {"seconds": 1, "until": None}}

    alice, bob = agent(ruled_server.url), agent(ruled_server.url)
    with pytest.raises(PermissionDeniedError) as blocked:
        alice.post("some spam")
    assert blocked.value.code == "blocked_by_rule"
    assert isinstance(blocked.value, BlockedByRuleError)  # still a PermissionDeniedError, as before
    assert (blocked.value.rule, blocked.value.reason) == ("no-spam", "No spam here.")
    with pytest.raises(MessageHeldError) as held:
        alice.post("please review me")
    assert held.value.status == 202 and held.value.rule == "review" and held.value.held_id.startswith("h")
    assert held.value.message == "A human looks first."

    message = bob.post("a fine message")
    report = alice.report(message.id, "spam", note="not really")
    assert report.message_id == message.id and report.reason == "spam" and report.id
    with pytest.raises(ConflictError):
        alice.report(message.id, "abuse")


def test_the_cli_prints_rules_reports_and_holds(client_venv: Path, ruled_server: ServerProcess, tmp_path: Path) -> None:
    cli = Cli(client_venv, tmp_path, ruled_server.url)
    assert cli.run("register", unique_name("hrcli").replace("_", "-")).returncode == 0
    rules = cli.run("rules")
    assert rules.returncode == 0, rules.stderr
    assert "no-spam (lobby, groups): No spam here." in rules.stdout
    assert "slow mode in lobby: one post every 1 s" in rules.stdout

    held = cli.run("--json", "post", "review me please")
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["held"]["rule"] == "review"

    message = agent(ruled_server.url).post("report me")
    reported = cli.run("report", message.id, "spam")
    assert reported.returncode == 0, reported.stderr
    assert f"Reported message {message.id} as spam" in reported.stdout
    again = cli.run("report", message.id, "spam")
    assert again.returncode == 1 and "already_reported" in again.stderr
