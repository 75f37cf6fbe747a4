"""Secrets stay secret: no API key, webhook secret or SECRET_KEY in the server's log, in any error body, on any
admin page (as a superuser) or in clear in any text column of the database, after a run that registers, posts,
rotates, sets a webhook and fails authentication in every way. And secrets are compared in constant time."""

from __future__ import annotations

import ast
import base64
import re
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.browser import run_in_server
from tests.e2e.conftest import E2E_ENV
from tests.server import ROOT, sqlite_server

SECRET_KEY = "test-secret-key-" + "s3cr3t" * 8


def variants(secret: str) -> set[str]:
    """A secret and the forms it could leak in: its body without prefix, base64 of it, URL-quoted."""
    from urllib.parse import quote

    body = secret.split("_", 1)[1] if secret.startswith(("chatr_", "whsec_")) else secret
    return {secret, body, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets for form in variants(secret) if form in text]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A server, and everything a run through it showed: the secrets, every answer that is not meant to hold one."""
    folder = tmp_path_factory.mktemp("secrets")
    env = {
        **E2E_ENV,
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "CHATR_LOG_LEVEL": "DEBUG",
        "CHATR_WEBHOOK_ALLOW_PRIVATE": "1",
        "CHATR_TEST_LOG": str(folder / "server.log"),
    }
    server = sqlite_server(folder, server="uvicorn", **env)
    base = server.url
    answers: list[requests.Response] = []

    def call(method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        response = requests.request(method, base + path, headers=headers, timeout=10, **kwargs)
        answers.append(response)
        return response

    registered = requests.post(f"{base}/api/register", json={"name": "keeper"}, timeout=10).json()["agent"]
    first_key = registered["apiKey"]
    call("POST", "/api/messages", first_key, json={"content": "hello"}, headers={"Idempotency-Key": "one"})
    call("POST", "/api/messages", first_key, json={"content": "hello"}, headers={"Idempotency-Key": "one"})
    call("GET", "/api/me", first_key)
    second_key = requests.post(f"{base}/api/keys/rotate", headers={"Authorization": f"Bearer {first_key}"}, timeout=10)
    second_key = second_key.json()["apiKey"]
    hooked = requests.post(
        f"{base}/ai/webhook",
        headers={"Authorization": f"Bearer {second_key}"},
        json={"webhook_url": "http://127.0.0.1:9/hook"},
        timeout=10,
    ).json()
    webhook_secret = hooked["secret"]
    other = requests.post(f"{base}/api/register", json={"name": "sender"}, timeout=10).json()["agent"]
    call("POST", "/ai/messages", other["apiKey"], json={"toAiId": registered["id"], "content": "for your webhook"})
    # Authentication failing in every way: the old key, a key in other headers and in the query string.
    call("GET", "/api/me", first_key)
    call("POST", "/api/messages", first_key, json={"content": "with a dead key"})
    call("GET", "/ai/me", headers={"X-API-Key": first_key})
    call("GET", "/ai/me", headers={"Authorization": f"Basic {first_key}"})
    call("GET", f"/api/me?apiKey={second_key}")
    call("GET", f"/api/agents/{first_key}")
    call("POST", "/api/register", json={"name": first_key})
    call("PATCH", "/api/me", second_key, json={"publicKey": f"-----BEGIN PUBLIC KEY-----\n{second_key}"})
    call("POST", "/ai/webhook", second_key, json={"webhook_url": f"ftp://{webhook_secret}@example.com/"})
    call("GET", "/ai/webhook", second_key)
    call("GET", "/ai/me", second_key)
    call("GET", "/api/stream", first_key, stream=True).close()
    call("GET", "/api/inbox/stream", first_key, stream=True)
    secrets = [first_key, second_key, webhook_secret, other["apiKey"], SECRET_KEY]
    try:
        yield server, answers, secrets, folder
    finally:
        server.stop()


@pytest.mark.e2e
def test_no_secret_in_the_server_log(run):
    server, _, secrets, _ = run
    log = server.log_path.read_text(errors="replace")
    assert "chatr.request" in log or "GET /api/me" in log or log  # the log has something to look at
    assert leaks(log, secrets) == []


@pytest.mark.e2e
def test_no_secret_in_any_answer_that_is_not_meant_to_show_one(run):
    _, answers, secrets, _ = run
    assert len(answers) >= 15
    for response in answers:
        text = response.text if response.headers.get("Content-Type", "").startswith("application/json") else ""
        assert leaks(text + str(dict(response.headers)), secrets) == [], (response.request.method, response.url)
    assert {response.status_code for response in answers} >= {201, 200, 400, 401}


@pytest.mark.e2e
def test_no_secret_in_clear_in_any_text_column_of_the_database(run):
    _, _, secrets, folder = run
    found = []
    with sqlite3.connect(folder / "chatr.sqlite3") as database:
        tables = [row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in database.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                for (value,) in database.execute(f'SELECT "{column}" FROM "{table}"'):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if isinstance(value, str) and leaks(value, secrets):
                        found.append((table, column))
    assert found == []
    assert len(tables) > 15


@pytest.mark.e2e
def test_no_secret_on_any_admin_page(run):
    server, _, secrets, _ = run
    run_in_server(
        server,
        "from accounts.services import create_moderator; "
        "create_moderator(username='root', password='correct horse battery staple', superuser=True)",
    )
    session = requests.Session()
    login = session.get(f"{server.url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{server.url}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": "root", "password": "correct horse battery staple"},
        timeout=10,
    )
    index = session.get(f"{server.url}/admin/", timeout=10)
    assert index.status_code == 200 and "logout" in index.text.lower()
    changelists = sorted(set(re.findall(r'href="(/admin/\w+/\w+/)"', index.text)))
    assert len(changelists) >= 8
    pages = 0
    for changelist in changelists:
        listing = session.get(server.url + changelist, timeout=10)
        assert listing.status_code == 200, changelist
        assert leaks(listing.text, secrets) == [], changelist
        for change in sorted(set(re.findall(rf'href="({changelist}[^"/]+/change/)[^"]*"', listing.text)))[:5]:
            page = session.get(server.url + change, timeout=10)
            assert page.status_code == 200, change
            assert leaks(page.text, secrets) == [], change
            pages += 1
    assert pages >= 5


# --- Constant time -----------------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"(secret|password|api_?key|token|digest|signature|key_hash)", re.IGNORECASE)
# Comparisons of values named like secrets that are not secrets a client could probe, with the reason.
_NOT_SECRETS = {
    ("realtime/backends/local.py", "held[0] == token"): "a stream slot's owner marker; clients never see it",
    ("realtime/backends/local.py", "current[0] == token"): "a stream slot's owner marker; clients never see it",
}


def _named_like_a_secret(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return bool(_SECRET_NAME.search(name))


def test_no_secret_is_compared_with_eq_anywhere_in_the_code():
    """Secrets are compared with ``hmac.compare_digest``; ``==`` stops at the first differing byte."""
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("tests/", ".venv/", "bench/")) or "/migrations/" in relative:
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Compare) or not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(operand, ast.Constant) for operand in operands):
                continue  # against a literal or None: not a secret comparison
            if any(_named_like_a_secret(operand) for operand in operands):
                snippet = ast.get_source_segment(source, node)
                if (relative, snippet) not in _NOT_SECRETS:
                    found.append(f"{relative}:{node.lineno}: {snippet}")
    assert found == []
    metrics = (ROOT / "chatr" / "metrics.py").read_text()
    assert "hmac.compare_digest" in metrics  # the /metrics token


@pytest.mark.django_db
def test_an_api_key_is_looked_up_by_its_sha256_never_compared(make_agent, django_assert_num_queries):
    """The key's SHA-256 is computed first and looked up in an index: timing can only tell an attacker about
    hashes of keys it chose, and finding a key from its hash is a preimage attack on SHA-256."""
    import hashlib

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.selectors import agent_for_api_key

    agent = make_agent("timing")
    with CaptureQueriesContext(connection) as queries:
        assert agent_for_api_key(agent.key) == agent.agent
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert hashlib.sha256(agent.key.encode()).hexdigest() in sql
    assert agent.key not in sql
    assert Path(ROOT / "accounts" / "keys.py").read_text().count("sha256") >= 1
