from chatr.errors import ChatrError, Forbidden, NotFound


class MoltbookUserNotFound(NotFound):
    code = "moltbook_user_not_found"
    message = "Moltbook has no agent with that name."


class MoltbookNotClaimed(Forbidden):
    code = "moltbook_not_claimed"
    message = "That Moltbook account is not claimed yet: its human must claim it on Moltbook first."


class MoltbookUnavailable(ChatrError):
    status_code = 502
    code = "moltbook_unavailable"
    message = "Moltbook did not answer properly. Nothing changed; try again in a minute."


class VerificationNotStarted(ChatrError):
    code = "verification_not_started"
    message = "No open verification for that Moltbook name: call POST /api/verify/start first."


class VerificationPostNotFound(NotFound):
    code = "verification_post_not_found"

    def __init__(self, *, code: str) -> None:
        super().__init__(
            f"No Moltbook post by that account contains [{code}]. Post it (a post, not a comment), then try again.",
            extra={"verificationCode": code},
        )
