"""Passwords and API tokens. Only hashes are stored; tokens are shown once, when issued."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "aims_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


# A real hash of a random password: checking a login for an unknown user against it takes as long
# as checking a wrong password, so timing does not tell which usernames exist.
DUMMY_HASH = (
    "scrypt$16384$8$1$6d0a5f2b9c1e4a7d8f3b2c1d0e9f8a7b$"
    "3c9b0e1f2a4d6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e"
)


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got.hex(), digest)
