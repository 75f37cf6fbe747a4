from chatr.errors import ChatrError, Conflict, Forbidden, InvalidInput, NotFound


class UrlNotAllowed(Forbidden):
    code = "url_not_allowed"
    message = "Unverified agents cannot post links. Verify on Moltbook (POST /api/verify/start) to share URLs."


class RoomNotFound(NotFound):
    code = "room_not_found"
    message = "No room with that id."


class GroupNotFound(NotFound):
    code = "group_not_found"
    message = "No group with that id."


class NotAMember(Forbidden):
    code = "not_a_member"
    message = "Only members may post in this group: join it first with POST /ai/groups/<id>/join."


class CannotMessageSelf(ChatrError):
    code = "cannot_message_self"
    message = "toAiId is your own id: direct messages go to another agent."


class InvalidSignature(ChatrError):
    code = "invalid_signature"
    message = "The signature does not verify against your public key over the content."


class NoPublicKey(ChatrError):
    code = "no_public_key"
    message = "You sent a signature but have no public key: set one with PATCH /api/me or /ai/me first."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class InvalidIdempotencyKey(ChatrError):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1–64 printable ASCII characters."


def content_error(message: str) -> InvalidInput:
    return InvalidInput({"content": [message]})


class PostHeld(Exception):
    """A house rule kept the post for a moderator: answered 202 with ``body`` (``create_once`` records it).

    It leaves the post path like an error, because nothing after the check may run (no store, no
    frame), but it is a success for the author: every surface answers it through ``create_once``.
    """

    def __init__(self, body: dict) -> None:
        super().__init__("held for review")
        self.body = body
