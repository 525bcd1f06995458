"""Password hashing with argon2id (argon2-cffi): deliberately slow, salted, parameters kept in the hash."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256


@cache
def hasher() -> PasswordHasher:
    """argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, 64 MiB, p=4): ~0.1 s a guess on our cores."""
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher().hash("no such user: this hash only spends the same time")


def hash_password(password: str) -> str:
    """The encoded argon2id hash of `password`."""
    return hasher().hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    """True if `password` matches; an unknown user (None) costs the same time as a wrong password."""
    try:
        return hasher().verify(encoded or _dummy_hash(), password) and encoded is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return hasher().check_needs_rehash(encoded)
