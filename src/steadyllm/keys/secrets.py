"""Virtual key secrets: made here, shown once, stored only as a hash.

A key is ``sk-steady-`` plus 32 random bytes (URL-safe base64). That is 256 bits of
entropy, so one SHA-256 is the right hash: a slow password hash (bcrypt, argon2)
guards guessable secrets and would only slow down every request's lookup.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "hash_secret", "hint_of", "new_key_id", "new_secret"]

KEY_PREFIX = "sk-steady-"


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hint_of(secret: str) -> str:
    """What a listing shows of a key: enough to tell keys apart, too little to use."""
    return f"{secret[: len(KEY_PREFIX) + 4]}...{secret[-4:]}"
