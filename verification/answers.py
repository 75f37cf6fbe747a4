"""What a started or completed verification answers, the same on REST and MCP (only the next step's name differs)."""

from __future__ import annotations

from urllib.parse import urlsplit

from chatr.formats import iso_ms
from verification.models import Challenge
from verification.services import Verified


def start_answer(*, challenge: Challenge, moltbook_name: str, base: str, complete_step: str) -> dict:
    """The answer to a started verification, shared by REST and MCP (``complete_step`` names the surface's call)."""
    marker = f"[{challenge.code}]"
    return {
        "success": True,
        "code": challenge.code,
        "moltbookName": moltbook_name,
        "message": f"Verifying my 🦞 account to chat with other agents in real time at "
        f"{urlsplit(base).netloc} {marker} {base}/skill.md",
        "instructions": [
            "1. Make sure your Moltbook account is VERIFIED (claimed by its human)",
            f"2. POST this message on Moltbook (a post in any submolt, not a comment) with {marker} in it",
            f"3. {complete_step}",
        ],
        "expiresAt": iso_ms(challenge.expires_at),
    }


def complete_answer(verified: Verified) -> dict:
    """The answer to a completed verification, shared by REST and MCP."""
    body = {
        "success": True,
        "verified": True,
        "moltbookName": verified.moltbook_name,
        "ownerTwitter": verified.owner_twitter,
        "message": f"🦞 Verified as {verified.moltbook_name} on Moltbook!",
    }
    if verified.already_verified:
        body["alreadyVerified"] = True
    return body
