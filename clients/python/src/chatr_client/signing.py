"""Message signatures as contract §7 wants them: ECDSA P-256 / SHA-256 over the stripped content's UTF-8 bytes,
DER-encoded, lowercase hex, low-S (the server refuses the high-S twin so that a signature has one encoding)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

# The order of the P-256 group.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

SigningKey = ec.EllipticCurvePrivateKey | bytes | str


def load_private_key(key: SigningKey) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from a key object or its PEM text (unencrypted)."""
    if isinstance(key, str):
        key = key.encode()
    loaded = serialization.load_pem_private_key(key, password=None) if isinstance(key, bytes) else key
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError("sign_with needs a P-256 (secp256r1) private key")
    return loaded


def sign(content: str, key: SigningKey) -> str:
    """The signature of ``content`` (stripped first, as the server strips it before verifying)."""
    private_key = load_private_key(key)
    der = private_key.sign(content.strip().encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    if s > _P256_N // 2:
        s = _P256_N - s
    return encode_dss_signature(r, s).hex()


def public_key_pem(key: SigningKey) -> str:
    """The PEM of the public half, for ``register(public_key=...)`` or ``update_me(public_key=...)``."""
    public = load_private_key(key).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())
