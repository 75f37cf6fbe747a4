"""The request table's commands (``chatr.commands``) in process: what a command takes and what it leaves to Django's
chain, and a bug in a command answered as Django's handler answers one. (What a command answers, compared with the
view's answers on real servers: ``tests/chat/test_post_command.py``.)"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chat.api import LobbyMessagesView
from chat.commands import GROUP_POST, LOBBY_POST
from chatr import edge
from chatr.commands import Command, CommandChain, Incoming
from chatr.routes import route_for
from tests.aio import run

BODY = json.dumps({"content": "hello"}).encode()
HEADERS = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"authorization", b"Bearer chatr_x")]


def scope_of(headers: list[tuple[bytes, bytes]] = HEADERS, **extra: Any) -> dict[str, Any]:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/api/messages",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        **extra,
    }
    scope[edge.EXCHANGE] = edge.Exchange(method="POST", path="/api/messages", route=route_for("/api/messages"), ip="")
    return scope


@pytest.fixture(scope="module")
def chain():
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield CommandChain("/api/messages", LOBBY_POST, executor, fallback=None)  # type: ignore[arg-type]


def test_the_usual_post_is_taken(chain):
    incoming = chain.incoming(scope_of(), BODY)
    assert isinstance(incoming, Incoming)
    assert incoming.headers == {"content-type": "application/json", "authorization": "Bearer chatr_x"}
    assert incoming.validated() == {"content": "hello"}
    assert chain.incoming(scope_of([*HEADERS, (b"accept", b"application/json")]), BODY) is not None
    assert chain.incoming(scope_of([*HEADERS, (b"accept", b"*/*")]), BODY) is not None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([*HEADERS, (b"authorization", b"Bearer chatr_y")], id="a header twice"),
        pytest.param([*HEADERS, (b"x_api_key", b"chatr_y")], id="an underscore spelling"),
        pytest.param([*HEADERS, (b"accept", b"application/json; indent=4")], id="another rendering"),
        pytest.param([*HEADERS, (b"accept", b"text/html")], id="another type"),
        pytest.param([(b"host", b"127.0.0.1"), (b"content-type", b"text/plain")], id="not JSON"),
        pytest.param([(b"host", b"127.0.0.1")], id="no content type"),
        pytest.param([(b"host", b"127.0.0.1"), (b"content-type", b"application/json; charset=UTF-8")], id="a spelling"),
    ],
)
def test_what_django_s_chain_answers_falls_through(chain, headers):
    assert chain.incoming(scope_of(headers), BODY) is None


def test_an_empty_body_a_script_prefix_and_a_proxy_s_scheme_fall_through(chain, settings):
    assert chain.incoming(scope_of(), b"") is None
    assert chain.incoming(scope_of(root_path="/chatr"), BODY) is None
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert chain.incoming(scope_of(), BODY) is None


def test_the_body_s_error_waits_for_authentication(chain):
    """The view authenticates before it reads the body: the command keeps the error for ``run`` to raise."""
    incoming = chain.incoming(scope_of(), b'{"content": "a", "content": "b"}')
    assert incoming is not None and incoming.error is not None
    with pytest.raises(type(incoming.error)):
        incoming.validated()


def test_a_path_s_parameters_go_with_the_request():
    with ThreadPoolExecutor(max_workers=1) as executor:
        chain = CommandChain("/ai/groups/<str:group_id>/messages", GROUP_POST, executor, fallback=None)  # type: ignore[arg-type]
    incoming = chain.incoming(scope_of(path="/ai/groups/a b/messages"), BODY)
    assert incoming is not None
    assert incoming.parameters == {"group_id": "a b"}
    assert incoming.path == "/ai/groups/a b/messages"  # its Idempotency-Key's fingerprint names the real path


def test_a_pattern_s_stand_in_path_decides_no_redirect_exemption(settings):
    """SecurityMiddleware exempts paths from its https redirect by regex: a real group's path may not match where the
    row's pattern does, so a row with parameters stands aside for http when exemptions are set."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^ai/groups/<"]
    path = "/ai/groups/<str:group_id>/messages"
    with ThreadPoolExecutor(max_workers=1) as executor:
        chain = CommandChain(path, GROUP_POST, executor, fallback=None)  # type: ignore[arg-type]
        assert chain.incoming(scope_of(path="/ai/groups/abc/messages"), BODY) is None
        assert chain.incoming(scope_of(path="/ai/groups/abc/messages", scheme="https"), BODY) is not None
        settings.SECURE_REDIRECT_EXEMPT = []
        chain = CommandChain(path, GROUP_POST, executor, fallback=None)  # type: ignore[arg-type]
        assert chain.incoming(scope_of(path="/ai/groups/abc/messages"), BODY) is None  # redirected: Django's


class Broken(Command):
    """A command with a bug: what the client gets is Django's answer to a bug, in the contract's shape."""

    view = LobbyMessagesView

    def validate(self, data: Any) -> Any:
        return data

    def run(self, incoming: Incoming) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        raise RuntimeError("a bug")


async def answer(chain: CommandChain, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:
            await asyncio.Future()
        given = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await chain(scope, receive, send)
    return sent


def test_a_bug_is_a_500_in_the_contract_s_shape_and_logged():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("django.request").addHandler(handler)
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            chain = CommandChain("/api/messages", Broken(), executor, fallback=None)  # type: ignore[arg-type]
            start, body = run(answer(chain, scope_of()))
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert start["status"] == 500
    assert json.loads(body["body"]) == {"success": False, "error": "Internal server error.", "code": "server_error"}
    headers = dict(start["headers"])
    assert headers[b"Content-Type"] == b"application/json"
    assert headers[b"X-Frame-Options"] == b"DENY"
    assert headers[b"Content-Length"] == str(len(body["body"])).encode()
    assert [record.getMessage() for record in records] == ["Internal Server Error: /api/messages"]
    assert records[0].exc_info is not None and str(records[0].exc_info[1]) == "a bug"


class BrokenBurst(Broken):
    """A command answered by a drain whose ``run_all`` has a bug: every request of the burst gets Django's 500."""

    def run_all(self, incomings: list[Incoming]) -> list[tuple[int, dict[str, Any], dict[str, str] | None] | Exception]:
        raise RuntimeError("a bug in the burst")


def test_a_bug_of_a_drained_burst_is_a_500_for_each_of_its_requests_and_logged():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("django.request").addHandler(handler)

    async def burst(chain: CommandChain) -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(*(answer(chain, scope_of()) for _ in range(3))))

    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            chain = CommandChain("/api/messages", BrokenBurst(), executor, fallback=None)  # type: ignore[arg-type]
            assert chain.drain is not None
            answers = run(burst(chain))
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    for start, body in answers:
        assert start["status"] == 500
        assert json.loads(body["body"])["code"] == "server_error"
    assert [record.getMessage() for record in records] == ["Internal Server Error: /api/messages"] * 3
    assert all(record.exc_info and str(record.exc_info[1]) == "a bug in the burst" for record in records)
