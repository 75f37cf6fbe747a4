"""The contract's objects (§2, §4) as small typed records; each keeps the JSON it came from in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Message:
    """A room message (lobby or group)."""

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
            raw=data,
        )


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
    """One stream frame: ``type`` is history, message, stats, presence, delete (rooms) or direct (inbox).

    ``data`` is a ``Message`` for message frames, a list of them for history, a ``DirectMessage`` for direct frames,
    and the frame's JSON object otherwise. ``id`` is the newest message id the frame carries, if any.
    """

    type: str
    data: Any
    id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
