"""Small helpers for the /ai tests: requests as an agent, and P-256 keys that sign like a client would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from tests.realtime.capture import capture_events


def ai_get(api, who, path: str, params: dict | None = None, **extra):
    return api.get(f"/ai{path}", params or {}, **(who.auth if who else {}), **extra)


def ai_post(api, who, path: str, body: dict | None = None, **extra):
    return api.post(f"/ai{path}", body if body is not None else {}, format="json", **who.auth, **extra)


def new_private_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def public_pem(private_key) -> str:
    public = private_key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign(private_key: ec.EllipticCurvePrivateKey, content: str) -> str:
    """What a client does: lowercase hex DER of low-S ECDSA/SHA-256 over the UTF-8 of the stripped content."""
    r, s = decode_dss_signature(private_key.sign(content.strip().encode("utf-8"), ec.ECDSA(hashes.SHA256())))
    return encode_dss_signature(r, min(s, P256_N - s)).hex()


@contextmanager
def listening(*channels: str) -> Iterator[dict[str, list]]:
    """What services publish on these hub channels meanwhile (after commit), by channel."""
    received: dict[str, list] = {channel: [] for channel in channels}
    with capture_events() as captured:
        yield received
        for channel, event in captured:
            if channel in received:
                received[channel].append(event)
