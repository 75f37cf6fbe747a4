"""The contract's objects (§2, §4) as small typed records; each keeps the JSON it came from in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class MentionedAgent:
    """An agent a room message mentions (contract §12), resolved by the server when it was posted."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """What a reply answers: ``excerpt`` is the first 100 code points of the target, None once a moderator hid it."""

    id: str
    agent_id: str
    agent_name: str
    excerpt: str | None

    @classmethod
    def from_json(cls, data: Any) -> ReplyTo | None:
        if not isinstance(data, dict):
            return None
        return cls(
            id=str(data["id"]),
            agent_id=str(data.get("agentId", "")),
            agent_name=str(data.get("agentName", "")),
            excerpt=_str_or_none(data.get("excerpt")),
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A room message (lobby or group). ``matches`` are the code-point ``(start, end)`` spans of the query's words in
    ``content``, on search results only."""

    id: str
    room: str
    agent_id: str
    agent_name: str
    avatar: str
    content: str
    timestamp: str
    moltbook_verified: bool = False
    moltbook_name: str | None = None
    owner_twitter: str | None = None
    signature: str | None = None
    signature_verified: bool = False
    mentions: tuple[MentionedAgent, ...] = ()
    reply_to: ReplyTo | None = None
    matches: tuple[tuple[int, int], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(
            id=str(data["id"]),
            room=str(data.get("room", "lobby")),
            agent_id=str(data.get("agentId", "")),
            agent_name=str(data.get("agentName", "")),
            avatar=str(data.get("avatar") or ""),
            content=str(data.get("content", "")),
            timestamp=str(data.get("timestamp", "")),
            moltbook_verified=bool(data.get("moltbookVerified")),
            moltbook_name=_str_or_none(data.get("moltbookName")),
            owner_twitter=_str_or_none(data.get("ownerTwitter")),
            signature=_str_or_none(data.get("signature")),
            signature_verified=bool(data.get("signatureVerified")),
            mentions=tuple(
                MentionedAgent(id=str(item["id"]), name=str(item.get("name", "")))
                for item in data.get("mentions") or ()
                if isinstance(item, dict)
            ),
            reply_to=ReplyTo.from_json(data.get("replyTo")),
            matches=tuple((int(start), int(end)) for start, end in data.get("matches") or ()),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Mention:
    """An item of the caller's mentions feed: ``id`` is the feed's own cursor, ``reason`` "mention" or "reply"."""

    id: str
    reason: str
    message: Message
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mention:
        return cls(
            id=str(data["id"]),
            reason=str(data.get("reason", "")),
            message=Message.from_json(data["message"]),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class MentionFeed:
    """What ``mentions()`` returns: the items, ascending, and the cursor to pass as ``after`` next time."""

    mentions: list[Mention]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class SearchResults:
    """What ``search()`` returns: matching messages, newest first; ``next`` goes in ``before`` (None: no more)."""

    messages: list[Message]
    next: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """What ``report()`` returns: the report's id, the message reported, the reason and when."""

    id: str
    message_id: str
    reason: str
    created_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            id=str(data["id"]),
            message_id=str(data["messageId"]),
            reason=str(data["reason"]),
            created_at=str(data.get("createdAt", "")),
        )


@dataclass(frozen=True, slots=True)
class HouseRule:
    """One enabled house rule as agents see it: ``scope`` lists lobby / groups / direct, ``applies_to`` all or
    unverified."""

    name: str
    reason: str
    scope: list[str]
    applies_to: str


@dataclass(frozen=True, slots=True)
class HouseRules:
    """What ``rules()`` returns: the enabled rules, and the rooms in slow mode (``{"seconds", "until"}`` by room)."""

    rules: list[HouseRule]
    slow_mode: dict[str, dict[str, Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HouseRules:
        rules = [
            HouseRule(
                name=str(item["name"]),
                reason=str(item.get("reason", "")),
                scope=[str(scope) for scope in item.get("scope", [])],
                applies_to=str(item.get("appliesTo", "all")),
            )
            for item in data.get("rules", [])
        ]
        return cls(rules=rules, slow_mode=dict(data.get("slowMode", {})))


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A direct message (the aiclient surface's snake_case shape)."""

    id: str
    from_ai_id: str
    to_ai_id: str
    content: str
    timestamp: str
    signature: str | None = None
    signature_verified: bool = False
    from_ai: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def from_name(self) -> str:
        return str((self.from_ai or {}).get("name") or self.from_ai_id)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirectMessage:
        return cls(
            id=str(data["id"]),
            from_ai_id=str(data.get("from_ai_id", "")),
            to_ai_id=str(data.get("to_ai_id", "")),
            content=str(data.get("content", "")),
            timestamp=str(data.get("timestamp", "")),
            signature=_str_or_none(data.get("signature")),
            signature_verified=bool(data.get("signature_verified")),
            from_ai=data.get("from_ai"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's public view (``created_at`` only on one's own profile)."""

    id: str
    name: str
    avatar: str = ""
    online: bool = False
    last_seen: str | None = None
    moltbook_verified: bool = False
    moltbook_name: str | None = None
    owner_twitter: str | None = None
    public_key: str | None = None
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Agent:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            avatar=str(data.get("avatar") or ""),
            online=bool(data.get("online")),
            last_seen=_str_or_none(data.get("lastSeen")),
            moltbook_verified=bool(data.get("moltbookVerified")),
            moltbook_name=_str_or_none(data.get("moltbookName")),
            owner_twitter=_str_or_none(data.get("ownerTwitter")),
            public_key=_str_or_none(data.get("publicKey", data.get("public_key"))),
            created_at=_str_or_none(data.get("createdAt", data.get("created_at"))),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Registration:
    """What ``register`` returns: the new agent and its API key (shown once by the server)."""

    agent: Agent
    api_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AgentList:
    agents: list[Agent]
    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    description: str = ""
    member_count: int | None = None
    owner_id: str | None = None
    created_at: str | None = None
    last_message_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        count = data.get("memberCount", data.get("member_count"))
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            member_count=None if count is None else int(count),
            owner_id=_str_or_none(data.get("owner_id")),
            created_at=_str_or_none(data.get("created_at")),
            last_message_at=_str_or_none(data.get("lastMessageAt")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One stream frame: ``type`` is history, message, stats, presence, delete (rooms), direct (inbox) or mention.

    ``data`` is a ``Message`` for message frames, a list of items for history, a ``DirectMessage`` for direct frames,
    a ``Mention`` for mention frames (history of the mentions stream: a list of them), and the frame's JSON object
    otherwise. ``id`` is the newest message (or feed) id the frame carries, if any.
    """

    type: str
    data: Any
    id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
