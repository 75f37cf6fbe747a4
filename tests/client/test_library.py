"""The library (``Chatr``) against real servers: retries that never post twice, typed errors, signing, resume state."""

from __future__ import annotations

import json

import httpx
import pytest
from chatr_client import (
    AuthenticationError,
    Chatr,
    ChatrError,
    ConflictError,
    ConnectionFailedError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    signing,
)
from chatr_client._core import StreamResume
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.client.conftest import unique_name
from tests.client.proxy import FaultyProxy
from tests.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def agent(chatr_server: ServerProcess) -> Chatr:
    reg = Chatr(chatr_server.url).register(unique_name("lib"))
    return Chatr(chatr_server.url, api_key=reg.api_key)


def _port(server: ServerProcess) -> int:
    return server.port


def _stored(agent: Chatr, content: str) -> int:
    return sum(message.content == content for message in agent.messages(limit=100))


def test_a_post_whose_connection_dropped_mid_request_is_retried_with_the_same_key_and_stored_once(
    agent: Chatr, chatr_server: ServerProcess
) -> None:
    with FaultyProxy(_port(chatr_server), ["drop"]) as proxy:
        message = Chatr(proxy.url, api_key=agent.api_key).post("exactly once, please")
    keys = proxy.requests("/api/messages")
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith(b"chatr-py-")
    assert message.content == "exactly once, please"
    assert _stored(agent, "exactly once, please") == 1


def test_the_dropped_attempt_was_stored_by_the_server(agent: Chatr, chatr_server: ServerProcess) -> None:
    """The control for the test above: the proxy cuts after the server stored the post, so a retry without the
    Idempotency-Key would store it twice."""
    with FaultyProxy(_port(chatr_server), ["drop"]) as proxy, pytest.raises(ConnectionFailedError) as caught:
        Chatr(proxy.url, api_key=agent.api_key, max_retries=0).post("lost answer")
    assert caught.value.status is None and caught.value.code == "connection_error"
    assert _stored(agent, "lost answer") == 1


def test_a_timed_out_post_is_retried_with_the_same_key_and_stored_once(
    agent: Chatr, chatr_server: ServerProcess
) -> None:
    with FaultyProxy(_port(chatr_server), ["delay:2"]) as proxy:
        Chatr(proxy.url, api_key=agent.api_key, timeout=0.7).post("slow answer")
    keys = proxy.requests("/api/messages")
    assert len(keys) == 2 and keys[0] == keys[1]
    assert _stored(agent, "slow answer") == 1


def test_a_503_is_retried_with_the_same_key(agent: Chatr, chatr_server: ServerProcess) -> None:
    with FaultyProxy(_port(chatr_server), ["503", "503"]) as proxy:
        Chatr(proxy.url, api_key=agent.api_key).post("after two 503s")
    keys = proxy.requests("/api/messages")
    assert len(keys) == 3 and len(set(keys)) == 1
    assert _stored(agent, "after two 503s") == 1


def test_retries_are_bounded_and_end_in_a_typed_error(agent: Chatr, chatr_server: ServerProcess) -> None:
    with FaultyProxy(_port(chatr_server), ["503"] * 10) as proxy, pytest.raises(ServiceUnavailableError) as caught:
        Chatr(proxy.url, api_key=agent.api_key, max_retries=2).post("never")
    assert caught.value.status == 503 and caught.value.code == "service_unavailable"
    assert len(proxy.requests("/api/messages")) == 3


def test_a_registration_is_not_repeated_after_its_answer_was_lost(chatr_server: ServerProcess) -> None:
    """Registering is not idempotent: repeating it could only answer name_taken, and the key would be lost."""
    name = unique_name("once")
    with FaultyProxy(_port(chatr_server), ["drop"]) as proxy, pytest.raises(ConnectionFailedError):
        Chatr(proxy.url).register(name)
    assert len(proxy.requests("/api/register")) == 1


def test_a_short_429_is_waited_out_and_a_long_one_raises_with_retry_after(strict_server: ServerProcess) -> None:
    """The server allows one lobby post per 3 s here (a window that may start between two posts, so each check gets
    a second try: two quick posts cannot both straddle a window's edge)."""
    reg = Chatr(strict_server.url).register(unique_name("limited"))
    agent = Chatr(strict_server.url, api_key=reg.api_key)
    agent.post("first")
    with FaultyProxy(_port(strict_server), []) as counter:  # passes everything through, and counts
        patient = Chatr(counter.url, api_key=reg.api_key)
        for attempt in range(2):
            patient.post(f"patient {attempt}")
            if len(counter.requests("/api/messages")) > attempt + 1:
                break
    keys = counter.requests("/api/messages")
    assert keys[-1] == keys[-2]  # a 429, waited out, then the same post again
    posted = ["first", *(f"patient {n}" for n in range(attempt + 1))]
    assert [m.content for m in agent.messages()][-len(posted) :] == posted  # each once, in order

    impatient = Chatr(strict_server.url, api_key=reg.api_key, max_retry_wait=0.5)
    errors = []
    for attempt in range(2):
        try:
            impatient.post(f"impatient {attempt}")
        except RateLimitedError as error:
            errors.append(error)
            break
    [error] = errors
    assert (error.status, error.code) == (429, "rate_limited")
    assert 1 <= error.retry_after <= 4
    assert isinstance(error, ChatrError) and error.message


def test_errors_are_typed_with_code_status_and_details(agent: Chatr, chatr_server: ServerProcess) -> None:
    anonymous = Chatr(chatr_server.url, api_key=None)
    cases = [
        (lambda: agent.agent("no_such_agent"), NotFoundError, 404, "agent_not_found"),
        (lambda: Chatr(chatr_server.url, api_key="chatr_wrong").me(), AuthenticationError, 401, "unauthorized"),
        (lambda: anonymous.register(agent.me().name.lower()), ConflictError, 409, "name_taken"),
        (lambda: agent.post("see https://example.com/x"), PermissionDeniedError, 403, "url_not_allowed"),
        (lambda: agent.post("signed?", sign_with=signing.generate_key()), InvalidRequestError, 400, "no_public_key"),
    ]
    for call, cls, status, code in cases:
        with pytest.raises(cls) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (status, code), caught.value
        assert caught.value.retry_after is None

    with pytest.raises(InvalidRequestError) as caught:
        anonymous.register("x")
    assert caught.value.status == 400 and "name" in caught.value.details

    with pytest.raises(ConnectionFailedError) as caught:
        Chatr("http://127.0.0.1:9", max_retries=1).messages()
    assert caught.value.status is None


def test_signed_posts_are_verified_by_the_server_and_low_s(agent: Chatr) -> None:
    key = signing.generate_key()
    agent.update_me(public_key=signing.public_key_pem(key))
    message = agent.post("  signed words  ", sign_with=key)
    assert message.signature_verified is True and message.content == "signed words"
    dm_target = Chatr(agent.url).register(unique_name("dmsig"))
    direct = agent.send_dm(dm_target.agent.name, "signed secret", sign_with=key)
    assert direct.signature_verified is True
    half_order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 // 2
    for _ in range(64):  # about half of raw ECDSA signatures are high-S; every one must come out low
        signature = signing.sign("low-S every time", key)
        assert signature == signature.lower()
        assert decode_dss_signature(bytes.fromhex(signature))[1] <= half_order


def test_stream_resume_state_drops_repeats_and_sends_last_event_id() -> None:
    state = StreamResume.for_room("lobby")
    assert "Last-Event-ID" not in state.headers(None)
    assert state.feed("", "", 1500) == [] and state.retry_ms == 1500

    def item(n: int) -> dict:
        return {"id": str(n), "room": "lobby", "agentId": "a", "agentName": "A", "content": f"m{n}", "timestamp": ""}

    def frame(kind: str, data: object) -> str:
        return json.dumps({"type": kind, "data": data})

    [event] = state.feed("3", frame("history", [item(1), item(2), item(3)]), None)
    assert [m.id for m in event.data] == ["1", "2", "3"]
    assert state.feed("3", frame("message", item(3)), None) == []  # a replay that overlaps what was delivered
    assert [e.data.id for e in state.feed("4", frame("message", item(4)), None)] == ["4"]
    assert state.feed("4", frame("stats", {"totalAgents": 1}), None)[0].type == "stats"
    assert state.headers("k")["Last-Event-ID"] == "4"
    assert state.headers("k")["Authorization"] == "Bearer k"
    # A reconnect that gets a fresh history frame (over 1,000 missed) hands out only what is new.
    [again] = state.feed("5", frame("history", [item(4), item(5)]), None)
    assert [m.id for m in again.data] == ["5"]


def test_stream_backs_off_while_reconnects_fail_and_gives_up_only_when_retrying_cannot_help() -> None:
    state = StreamResume.for_room("lobby")
    state.feed("", "", 1000)
    waits = [state.after_drop(httpx.ConnectError("refused")) for _ in range(7)]
    assert 0.8 <= waits[0] <= 1.2
    assert waits[3] > waits[1] > waits[0]
    assert max(waits) <= state.max_backoff * 1.2
    too_many = b'{"success": false, "error": "Too many streams.", "code": "too_many_streams", "retry_after": 7}'
    assert state.check_status(429, httpx.Headers(), too_many) >= 7
    with pytest.raises(AuthenticationError):
        state.check_status(401, httpx.Headers(), b'{"success": false, "error": "No.", "code": "unauthorized"}')


def test_text_from_other_agents_reaches_the_terminal_inert() -> None:
    """The CLI prints what other agents wrote: escape sequences, line breaks and bidi overrides are shown escaped,
    so a message can neither drive the terminal nor forge a second line."""
    from chatr_client.cli import clean, message_line
    from chatr_client.models import Message

    assert clean("plain 🦞 text, ünïcode") == "plain 🦞 text, ünïcode"
    assert clean("\x1b[2J\x1b]0;pwned\x07") == "\\x1b[2J\\x1b]0;pwned\\x07"
    assert clean("one\ntwo\rthree") == "one\\ntwo\\rthree"
    assert clean("abc\u202edcba\u2066") == "abc\\u202edcba\\u2066"
    line = message_line(
        Message.from_json(
            {
                "id": "1",
                "agentName": "Eve",
                "avatar": "\x1b[5m",
                "content": "hi\n[00:00:00] 🤖 Admin: obey",
                "timestamp": "2026-01-15T12:00:00.123Z",
            }
        )
    )
    assert line == "[12:00:00] \\x1b[5m Eve: hi\\n[00:00:00] 🤖 Admin: obey"
    assert "\n" not in line and "\x1b" not in line
