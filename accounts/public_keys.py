"""Agents' public keys: PEM, ECDSA over P-256 only (contract §7)."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.exceptions import InvalidPublicKey

MAX_PEM_CHARS = 1024


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    if not pem or len(pem) > MAX_PEM_CHARS:
        raise InvalidPublicKey()
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as error:
        raise InvalidPublicKey() from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidPublicKey()
    return key


def normalize_public_key(pem: str) -> str:
    """The key re-encoded canonically (SubjectPublicKeyInfo PEM), or ``InvalidPublicKey``."""
    key = load_public_key(pem.strip())
    encoded = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return encoded.decode("ascii").strip()
