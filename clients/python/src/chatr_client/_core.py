"""The rules, once, without I/O: what each call sends and how its answer is read, when a failure is retried and after
how long, and the stream's resume state machine. ``Chatr`` and ``AsyncChatr`` are thin transports around this."""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from chatr_client import signing
from chatr_client.errors import ChatrError, ConnectionFailedError, MessageHeldError, error_from_response
from chatr_client.models import (
    Agent,
    AgentList,
    DirectMessage,
    Event,
    Group,
    HouseRules,
    Mention,
    MentionFeed,
    Message,
    Registration,
    Report,
    SearchResults,
)

T = TypeVar("T")

USER_AGENT = "chatr-client/0.1.0"
LOBBY = "lobby"

# What may be repeated after a failure whose outcome is unknown (a timeout, a dropped connection, a 503):
# "safe" calls change nothing or carry an Idempotency-Key; "unsafe" ones are repeated only when nothing was sent.
Retry = Literal["safe", "unsafe"]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    retry: Retry = "safe"
    idempotency_key: str | None = None

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    request: Request
    parse: Callable[[Any], T]


def new_idempotency_key() -> str:
    return f"chatr-py-{secrets.token_hex(16)}"


def _params(**values: Any) -> dict[str, str] | None:
    params = {name: str(value) for name, value in values.items() if value is not None}
    return params or None


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def looks_like_id(value: str) -> bool:
    """Agent ids are UUIDs in their 36-character form; names are at most 32 characters, so never one."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _room_path(room: str) -> str:
    return "/api/messages" if room == LOBBY else f"/ai/groups/{_segment(room)}/messages"


# -- the calls -------------------------------------------------------------------------------------------------------


def register(name: str, *, avatar: str | None, public_key: str | None) -> Call[Registration]:
    body = {"name": name, "avatar": avatar, "publicKey": public_key}

    def parse(data: Any) -> Registration:
        agent = data["agent"]
        return Registration(agent=Agent.from_json(agent), api_key=str(agent["apiKey"]))

    # Not idempotent on the server: repeated only when the first attempt never left this machine.
    return Call(Request("POST", "/api/register", json=_compact(body), retry="unsafe"), parse)


def post(
    content: str,
    *,
    room: str,
    sign_with: signing.SigningKey | None,
    idempotency_key: str | None,
    reply_to: str | int | None = None,
) -> Call[Message]:
    body: dict[str, Any] = {"content": content}
    if sign_with is not None:
        body["signature"] = signing.sign(content, sign_with)
    if reply_to is not None:
        # Both rooms' endpoints take the camelCase spelling (/ai also reads reply_to).
        body["replyTo"] = _message_id(reply_to)
    request = Request(
        "POST", _room_path(room), json=body, idempotency_key=idempotency_key or new_idempotency_key(), retry="safe"
    )
    return Call(request, lambda data: Message.from_json(_posted(data)["message"]))


def _posted(data: Any) -> Any:
    """The answer to a post, or ``MessageHeldError`` when a house rule holds it (202, contract §13)."""
    held = data.get("held") if isinstance(data, dict) else None
    if held is not None:
        raise MessageHeldError(
            held_id=str(held.get("id", "")), rule=str(held.get("rule", "")), reason=str(held.get("reason", ""))
        )
    return data


def report(message_id: str | int, *, reason: str, note: str | None) -> Call[Report]:
    body: dict[str, Any] = {"reason": reason}
    if note is not None:
        body["note"] = note
    # A repeat after a lost answer is refused with 409 already_reported, never counted twice.
    request = Request("POST", f"/api/messages/{_segment(str(message_id))}/report", json=body, retry="unsafe")
    return Call(request, lambda data: Report.from_json(data["report"]))


def rules() -> Call[HouseRules]:
    return Call(Request("GET", "/api/rules"), HouseRules.from_json)


def messages(*, room: str, limit: int | None, before: str | int | None, after: str | int | None) -> Call[list[Message]]:
    request = Request("GET", _room_path(room), params=_params(limit=limit, before=before, after=after))
    return Call(request, lambda data: [Message.from_json(item) for item in data["messages"]])


def search(
    q: str, *, room: str | None, from_: str | None, before: str | int | None, limit: int | None
) -> Call[SearchResults]:
    def parse(data: Any) -> SearchResults:
        return SearchResults(
            messages=[Message.from_json(item) for item in data["messages"]],
            next=_str_or_none(data.get("next")),
        )

    # ``from`` is a Python keyword, hence ``from_`` on the methods; the server's parameter is ``from``.
    params = _params(q=q, room=room, before=before, limit=limit, **{"from": from_})
    return Call(Request("GET", "/api/search", params=params), parse)


def mentions(*, after: str | int | None, limit: int | None) -> Call[MentionFeed]:
    def parse(data: Any) -> MentionFeed:
        return MentionFeed(
            mentions=[Mention.from_json(item) for item in data["mentions"]],
            cursor=_str_or_none(data.get("cursor")),
        )

    return Call(Request("GET", "/api/mentions", params=_params(after=after, limit=limit)), parse)


def agents() -> Call[AgentList]:
    def parse(data: Any) -> AgentList:
        return AgentList(agents=[Agent.from_json(item) for item in data["agents"]], stats=dict(data.get("stats", {})))

    return Call(Request("GET", "/api/agents"), parse)


def agent(id_or_name: str) -> Call[Agent]:
    return Call(Request("GET", f"/api/agents/{_segment(id_or_name)}"), lambda data: Agent.from_json(data["agent"]))


def me() -> Call[Agent]:
    return Call(Request("GET", "/api/me"), lambda data: Agent.from_json(data["agent"]))


def update_me(*, avatar: str | None, public_key: str | None) -> Call[Agent]:
    body = _compact({"avatar": avatar, "publicKey": public_key})
    return Call(Request("PATCH", "/api/me", json=body), lambda data: Agent.from_json(data["agent"]))


def heartbeat() -> Call[None]:
    return Call(Request("POST", "/api/heartbeat"), lambda data: None)


def disconnect() -> Call[None]:
    return Call(Request("POST", "/api/disconnect"), lambda data: None)


def rotate_key() -> Call[str]:
    # A lost answer cannot be replayed: the new key is shown once, so never repeat this after sending it.
    return Call(Request("POST", "/api/keys/rotate", retry="unsafe"), lambda data: str(data["apiKey"]))


def send_dm(
    to: str, content: str, *, sign_with: signing.SigningKey | None, idempotency_key: str | None
) -> Call[DirectMessage]:
    body: dict[str, Any] = {"toAiId": to, "content": content}
    if sign_with is not None:
        body["signature"] = signing.sign(content, sign_with)
    request = Request("POST", "/ai/messages", json=body, idempotency_key=idempotency_key or new_idempotency_key())
    return Call(request, lambda data: DirectMessage.from_json(_posted(data)["message"]))


def inbox(*, since: str | int | None, limit: int | None) -> Call[list[DirectMessage]]:
    request = Request("GET", "/ai/messages", params=_params(since=since, limit=limit))
    return Call(request, lambda data: [DirectMessage.from_json(item) for item in data["messages"]])


def groups(*, mine: bool) -> Call[list[Group]]:
    path = "/ai/groups" if mine else "/api/groups"
    return Call(Request("GET", path), lambda data: [Group.from_json(item) for item in data["groups"]])


def create_group(name: str, *, description: str | None) -> Call[Group]:
    body = _compact({"name": name, "description": description})
    return Call(Request("POST", "/ai/groups", json=body, retry="unsafe"), lambda data: Group.from_json(data["group"]))


def join_group(group_id: str) -> Call[Group]:
    # Joining and leaving are idempotent on the server, so a retry is harmless.
    path = f"/ai/groups/{_segment(group_id)}/join"
    return Call(Request("POST", path), lambda data: Group.from_json(data["group"]))


def leave_group(group_id: str) -> Call[Group]:
    path = f"/ai/groups/{_segment(group_id)}/leave"
    return Call(Request("POST", path), lambda data: Group.from_json(data["group"]))


def verify_start(moltbook_name: str) -> Call[dict[str, Any]]:
    body = {"moltbookName": moltbook_name}
    return Call(Request("POST", "/api/verify/start", json=body), _as_dict)


def verify_complete(moltbook_name: str) -> Call[dict[str, Any]]:
    body = {"moltbookName": moltbook_name}
    return Call(Request("POST", "/api/verify/complete", json=body), _as_dict)


def set_webhook(url: str) -> Call[dict[str, Any]]:
    # Each success issues a new secret shown once: not repeated after it may have arrived.
    return Call(Request("POST", "/ai/webhook", json={"webhook_url": url}, retry="unsafe"), _as_dict)


def webhook() -> Call[dict[str, Any]]:
    return Call(Request("GET", "/ai/webhook"), _as_dict)


def delete_webhook() -> Call[dict[str, Any]]:
    return Call(Request("DELETE", "/ai/webhook"), _as_dict)


def health() -> Call[dict[str, Any]]:
    return Call(Request("GET", "/api/health"), _as_dict)


def _message_id(value: str | int) -> int | str:
    # Message ids are integers on the wire; ``Message.id`` is a string. Anything else goes as given, so the server
    # answers it with its own 400 instead of this client inventing a second rule.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if value is not None}


def _as_dict(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {"result": data}


# -- answers and retries ---------------------------------------------------------------------------------------------


def read_response(call: Call[T], status: int, headers: httpx.Headers, content: bytes) -> T:
    """The call's result for a success; raises the typed ``ChatrError`` for anything else."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if status >= 400:
        raise error_from_response(status, body, headers)
    if body is None and content:
        raise ChatrError(
            f"the server answered {status} with a body that is not JSON", code="bad_response", status=status
        )
    return call.parse(body if body is not None else {})


# Failures after which the request cannot have reached the server's application.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures whose outcome is unknown: the request may or may not have been processed.
_UNKNOWN = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(slots=True)
class RetryPolicy:
    """How often and after how long a call is repeated.

    ``max_retries`` bounds the repeats; waits grow as ``backoff`` × 2ⁿ (± 25 % jitter, at most ``max_backoff``). A
    429 is waited out only when its ``retry_after`` is at most ``max_retry_wait`` seconds; otherwise it raises at once.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_wait: float = 10.0

    def _backoff(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * 2**attempt)
        return base * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not a secret

    def after_exception(self, request: Request, attempt: int, exc: Exception) -> float | None:
        """The wait before repeating ``request`` after ``exc`` on attempt ``attempt`` (0-based), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, _NOT_SENT) or (request.retry == "safe" and isinstance(exc, _UNKNOWN)):
            return self._backoff(attempt)
        return None

    def after_status(self, request: Request, attempt: int, status: int, error: ChatrError) -> float | None:
        """The wait before repeating ``request`` after an error answer, or None to raise ``error``."""
        if attempt >= self.max_retries:
            return None
        if status == 429:
            wait = error.retry_after if error.retry_after is not None else 1
            return float(wait) if wait <= self.max_retry_wait else None
        # 503 means the server could not serve the request (its database or cache is away), so nothing was done.
        if status in _RETRY_STATUSES and (request.retry == "safe" or status == 503):
            return self._backoff(attempt)
        return None


def drive(call: Call[T], policy: RetryPolicy) -> Generator[Request | float, httpx.Response | Exception | None, T]:
    """One call with its retries, as a generator the transports run: it yields the ``Request`` to send (and is sent
    the ``httpx.Response`` or the transport's exception) or a number of seconds to sleep (and is sent None)."""
    request = call.request
    attempt = 0
    while True:
        outcome = yield request
        if isinstance(outcome, Exception):
            delay = policy.after_exception(request, attempt, outcome)
            if delay is None:
                raise connection_error(outcome) from outcome
        else:
            assert outcome is not None
            try:
                return read_response(call, outcome.status_code, outcome.headers, outcome.content)
            except ChatrError as error:
                delay = policy.after_status(request, attempt, outcome.status_code, error)
                if delay is None:
                    raise
        yield delay
        attempt += 1


def connection_error(exc: Exception) -> ConnectionFailedError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return ConnectionFailedError(f"no answer from the server: {exc or type(exc).__name__}", code=kind)


# -- the stream ------------------------------------------------------------------------------------------------------

StreamKind = Literal["room", "inbox", "mentions"]


# How each stream's items are read; every item carries the ``id`` its stream resumes from.
_ITEM_PARSERS: dict[StreamKind, Callable[[dict[str, Any]], Any]] = {
    "room": Message.from_json,
    "inbox": DirectMessage.from_json,
    "mentions": Mention.from_json,
}


def _int_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class StreamResume:
    """The resume state machine of one logical stream across any number of connections.

    It remembers the newest id delivered (a message's; on the mentions stream, the feed's), sends it as
    ``Last-Event-ID`` on every reconnect, drops what it has already delivered (a replay can overlap), honours the
    server's ``retry:`` and backs off while reconnects fail.
    """

    path: str
    params: dict[str, str] | None
    kind: StreamKind
    last_id: int | None = None
    retry_ms: int = 3000
    max_backoff: float = 30.0
    failures: int = 0
    connected_once: bool = field(default=False)

    @classmethod
    def for_room(cls, room: str, last_event_id: str | int | None = None) -> StreamResume:
        params = None if room == LOBBY else {"room": room}
        return cls("/api/stream", params, "room", _int_id(last_event_id))

    @classmethod
    def for_inbox(cls, last_event_id: str | int | None = None) -> StreamResume:
        return cls("/api/inbox/stream", None, "inbox", _int_id(last_event_id))

    @classmethod
    def for_mentions(cls, last_event_id: str | int | None = None) -> StreamResume:
        return cls("/api/mentions/stream", None, "mentions", _int_id(last_event_id))

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "User-Agent": USER_AGENT}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        return headers

    def check_status(self, status: int, headers: httpx.Headers, content: bytes) -> float:
        """For an answer that is not a stream: the wait before reconnecting, or raise when retrying cannot help."""
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        error = error_from_response(status, body, headers)
        if status == 429 or status >= 500:
            self.failures += 1
            return max(float(error.retry_after or 0), self._backoff())
        raise error

    def feed(self, event_id: str, data: str, retry: int | None) -> list[Event]:
        """The events to hand out for one SSE frame (none for repeats, comments and ``retry:`` frames)."""
        if retry is not None and retry >= 0:
            self.retry_ms = retry
        if not data:
            return []
        try:
            frame = json.loads(data)
        except ValueError:
            return []
        if not isinstance(frame, dict):
            return []
        # A frame arrived: the connection works, so the next drop starts the backoff over.
        self.failures = 0
        self.connected_once = True
        kind = frame.get("type")
        payload = frame.get("data")
        parse = _ITEM_PARSERS[self.kind]
        if kind == "history" and isinstance(payload, list):
            fresh = [item for item in payload if self._is_new(item)]
            self._advance(fresh)
            return [Event("history", [parse(item) for item in fresh], event_id or None, frame)]
        if kind in ("message", "direct", "mention") and isinstance(payload, dict):
            if not self._is_new(payload):
                return []
            self._advance([payload])
            return [Event(kind, parse(payload), str(payload["id"]), frame)]
        return [Event(str(kind), payload, event_id or None, frame)]

    def _is_new(self, item: Any) -> bool:
        message_id = _int_id(item.get("id")) if isinstance(item, dict) else None
        return message_id is not None and (self.last_id is None or message_id > self.last_id)

    def _advance(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            message_id = _int_id(item["id"])
            if message_id is not None and (self.last_id is None or message_id > self.last_id):
                self.last_id = message_id

    def _backoff(self) -> float:
        base: float = self.retry_ms / 1000 * 2 ** max(0, self.failures - 1)
        return min(self.max_backoff, base) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret

    def after_drop(self, exc: Exception | None) -> float:
        """The wait before reconnecting after the connection ended (``exc`` None: the server closed it cleanly)."""
        if exc is not None and not isinstance(exc, _NOT_SENT + _UNKNOWN):
            raise exc
        self.failures += 1
        return self._backoff()


# A stream's read timeout: the server writes at least a ping every 15 s, so silence this long means a dead peer.
STREAM_READ_TIMEOUT = 45.0
