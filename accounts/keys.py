"""API keys: ``chatr_`` + 256 random bits; only their SHA-256 is ever stored.

A key has 256 bits of entropy, so a fast unsalted hash is safe here (no dictionary to try), and
it lets authentication look the hash up by an index instead of comparing secrets one by one.
"""

import hashlib
import secrets

PREFIX = "chatr_"


def new_api_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# A SHA-256 hex digest never contains "!", so no presented key can ever match a hash starting with it
# (Django's unusable passwords work the same way). The random tail keeps the column unique.
UNUSABLE_PREFIX = "!"


def unusable_key_hash() -> str:
    return UNUSABLE_PREFIX + secrets.token_hex(31)


def is_usable_key_hash(key_hash: str) -> bool:
    return not key_hash.startswith(UNUSABLE_PREFIX)
