"""Password hashes for the web front end's users (PBKDF2-SHA256, salted), standard library only.

Runs on whatever thread calls it (the CLI, or a web worker checking a login).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["hash_password", "check_password"]

ITERATIONS = 200_000


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    """'pbkdf2_sha256$ITERATIONS$SALT$HASH' for the password (a new random salt each time)."""
    if not password:
        raise ValueError("empty password")
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join(["pbkdf2_sha256", str(iterations), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def check_password(password: str, hashed: str) -> bool:
    """True if the password matches the hash (compared in constant time)."""
    try:
        scheme, iterations, salt, digest = hashed.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        found = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                    int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)
