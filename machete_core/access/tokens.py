"""The API token format: ``mch_<kind>_<public id>_<secret><checksum>``.

The public id finds the row; only a SHA-256 of the secret is stored and compared in constant
time. The six-character checksum (CRC-32 of everything before it) lets a mistyped or truncated
token, or a random string, be refused before any query; secret scanners can also check it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib

import attrs

ALPHABET = string.digits + string.ascii_letters
#: Kinds as they appear in a token, and as stored.
KINDS = {"pat": "personal", "sat": "service", "cli": "cli"}
CODES = {v: k for k, v in KINDS.items()}
PUBLIC_LEN = 12
SECRET_LEN = 32
CHECK_LEN = 6
PATTERN = re.compile(
    rf"^mch_(pat|sat|cli)_([0-9A-Za-z]{{{PUBLIC_LEN}}})_([0-9A-Za-z]{{{SECRET_LEN + CHECK_LEN}}})$"
)


@attrs.frozen
class ParsedToken:
    kind: str
    public_id: str
    secret: str = attrs.field(repr=False)


@attrs.frozen
class NewToken:
    text: str = attrs.field(repr=False)
    public_id: str
    secret_hash: str = attrs.field(repr=False)
    last_four: str


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECK_LEN)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(kind: str) -> NewToken:
    public_id, secret = _random(PUBLIC_LEN), _random(SECRET_LEN)
    body = f"mch_{CODES[kind]}_{public_id}_{secret}"
    text = body + checksum(body)
    return NewToken(text, public_id, secret_hash(secret), text[-4:])


def parse(text: str) -> ParsedToken | None:
    """The token's parts, or None when it is not one of ours or its checksum is wrong."""
    if len(text) > 100:
        return None
    m = PATTERN.match(text)
    if m is None:
        return None
    code, public_id, rest = m.groups()
    secret, check = rest[:SECRET_LEN], rest[SECRET_LEN:]
    if not hmac.compare_digest(check, checksum(text[:-CHECK_LEN])):
        return None
    return ParsedToken(KINDS[code], public_id, secret)


def looks_like_token(text: str) -> bool:
    return text.startswith("mch_")


def matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, secret_hash(secret))
