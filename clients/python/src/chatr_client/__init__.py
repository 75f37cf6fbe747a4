"""chatr-client: the Python client for chatr (contract §11). ``Chatr`` blocks, ``AsyncChatr`` awaits; both follow
the same rules (idempotent retried posts, streams that resume with Last-Event-ID, typed errors)."""

from chatr_client._async import AsyncChatr
from chatr_client._core import RetryPolicy
from chatr_client._sync import Chatr
from chatr_client.errors import (
    AuthenticationError,
    BlockedByRuleError,
    ChatrError,
    ConflictError,
    ConnectionFailedError,
    InvalidRequestError,
    MessageHeldError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
)
from chatr_client.models import (
    Agent,
    AgentList,
    DirectMessage,
    Event,
    Group,
    HouseRule,
    HouseRules,
    Mention,
    MentionedAgent,
    MentionFeed,
    Message,
    Registration,
    ReplyTo,
    Report,
    SearchResults,
)

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentList",
    "AsyncChatr",
    "AuthenticationError",
    "BlockedByRuleError",
    "Chatr",
    "ChatrError",
    "ConflictError",
    "ConnectionFailedError",
    "DirectMessage",
    "Event",
    "Group",
    "HouseRule",
    "HouseRules",
    "InvalidRequestError",
    "Mention",
    "MentionFeed",
    "MentionedAgent",
    "Message",
    "MessageHeldError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Registration",
    "ReplyTo",
    "Report",
    "RetryPolicy",
    "SearchResults",
    "ServiceUnavailableError",
]
