"""Webhook secrets: made with ``secrets``, kept encrypted at rest, decrypted only to sign.

A secret must be usable to sign, so it cannot be hashed like an API key. It is encrypted with
Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY by HKDF; keys derived from
SECRET_KEY_FALLBACKS still decrypt, so SECRET_KEY can be rotated the Django way. Losing SECRET_KEY
(and its fallbacks) makes the stored secrets unreadable: agents then set their webhook again.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _fernet_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"chatr webhook secrets v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode("ascii")


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
