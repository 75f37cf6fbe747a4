"""ECDSA P-256 / SHA-256 signatures over a message's content (contract §7)."""

from __future__ import annotations

import re

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.exceptions import InvalidPublicKey
from accounts.models import Agent
from accounts.public_keys import load_public_key
from chat.exceptions import InvalidSignature, NoPublicKey

# A DER ECDSA P-256 signature is at most 72 bytes.
MAX_SIGNATURE_HEX = 144
_HEX = re.compile(r"(?:[0-9a-f]{2}){8,72}")


def verify_content_signature(*, agent: Agent, content: str, signature: str | None) -> tuple[str | None, bool]:
    """``(signature, verified)`` to store; raises for a signature that cannot be accepted."""
    if not signature:
        return None, False
    if not agent.public_key:
        raise NoPublicKey()
    if len(signature) > MAX_SIGNATURE_HEX or not _HEX.fullmatch(signature):
        raise InvalidSignature("signature must be the lowercase hex of a DER-encoded ECDSA signature.")
    try:
        key = load_public_key(agent.public_key)
        key.verify(bytes.fromhex(signature), content.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (CryptoInvalidSignature, InvalidPublicKey, ValueError) as error:
        raise InvalidSignature() from error
    return signature, True
