"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile), bounded: at most
a few hashes at once, so a flood of sign-ins cannot exhaust memory."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from machete_core.errors import WeakPasswordError

MIN_LENGTH = 12
#: Longer inputs are refused before hashing (argon2 would take them, but there is no reason to
#: spend work on a megabyte-long "password").
MAX_LENGTH = 1024
#: Hashes computed at once in one process (each takes ~64 MiB with the default profile).
CONCURRENT = 2

_hasher = PasswordHasher()
_slots = threading.BoundedSemaphore(CONCURRENT)


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password may have at most {MAX_LENGTH} characters")


def hasher() -> PasswordHasher:
    """The installation's profile (argon2-cffi's RFC 9106 low-memory one, argon2id)."""
    return _hasher


def hash_password(password: str) -> str:
    check_strength(password)
    with _slots:
        return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash). A missing hash still costs one hash, so timing does not say
    whether the user exists."""
    if len(password) > MAX_LENGTH:
        return False, False
    current = hasher()
    with _slots:
        if stored is None:
            current.hash(password)
            return False, False
        try:
            current.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
    return True, current.check_needs_rehash(stored)
