"""ECDSA P-256 / SHA-256 signatures over a message's content (contract §7)."""

from __future__ import annotations

import re

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from accounts.exceptions import InvalidPublicKey
from accounts.models import Agent
from accounts.public_keys import load_public_key
from chat.exceptions import InvalidSignature, NoPublicKey

# The order of the P-256 group. ECDSA is malleable: if (r, s) is valid so is (r, n - s). Only the
# low-S one (s <= n/2) is accepted, so a signature has exactly one encoding (contract §7).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# A DER ECDSA P-256 signature is at most 72 bytes; anything longer is refused before any parsing.
MAX_SIGNATURE_HEX = 144
_HEX = re.compile(r"(?:[0-9a-f]{2}){8,72}")


def verify_content_signature(*, agent: Agent, content: str, signature: str | None) -> tuple[str | None, bool]:
    """``(signature, verified)`` to store; raises for a signature that cannot be accepted.

    ``content`` is the stripped content that will be stored: the signature covers its UTF-8 bytes.
    """
    if not signature:
        return None, False
    if not agent.public_key:
        raise NoPublicKey()
    if not is_well_formed(signature):
        raise InvalidSignature("signature must be the lowercase hex of a DER-encoded ECDSA signature.")
    if not signature_is_valid(public_key_pem=agent.public_key, message=content.encode("utf-8"), signature=signature):
        raise InvalidSignature()
    return signature, True


def is_well_formed(signature: str) -> bool:
    """Lowercase hex of 8 to 72 bytes: the only spelling the contract accepts."""
    return len(signature) <= MAX_SIGNATURE_HEX and _HEX.fullmatch(signature) is not None


def signature_is_valid(*, public_key_pem: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (lowercase hex DER) is a valid ECDSA P-256/SHA-256 signature of ``message``.

    Non-DER encodings (BER lengths, missing or extra zero bytes, trailing data) and out-of-range
    ``r``/``s`` are refused by OpenSSL's verifier, which re-encodes what it parsed and compares. A
    high-S signature (s > n/2) is refused too: it is the twin ``(r, n - s)`` of a low-S one.
    """
    if not is_well_formed(signature):
        return False
    der = bytes.fromhex(signature)
    try:
        key = load_public_key(public_key_pem)
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        _, s = decode_dss_signature(der)
    except (CryptoInvalidSignature, InvalidPublicKey, ValueError):
        return False
    return s <= P256_N // 2
