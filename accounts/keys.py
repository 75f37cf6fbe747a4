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
