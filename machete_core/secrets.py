"""Secrets at rest: sealed with a key kept in the state directory (or given by the environment).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) authenticates as it encrypts, so a
tampered or foreign ciphertext is refused rather than decrypted to garbage.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from machete_core.errors import SecretKeyError

KEY_FILE = "secret.key"
KEY_ENV = "MACHETE_SECRET_KEY"


@attrs.frozen
class Credentials:
    """How to authenticate to a source. ``repr`` never shows the secret."""

    username: str = "git"
    password: str = attrs.field(default="", repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise SecretKeyError(f"the secret key is not a valid Fernet key: {exc}") from None

    @classmethod
    def for_home(cls, home: Path, environ: dict[str, str] | None = None) -> SecretBox:
        """The key from ``$MACHETE_SECRET_KEY``, else ``<home>/secret.key`` (created 0600)."""
        return cls(cls.key_for_home(home, environ))

    @staticmethod
    def key_for_home(home: Path, environ: dict[str, str] | None = None) -> bytes:
        """The installation's key itself (made on first use), e.g. for a backup."""
        env = os.environ if environ is None else environ
        if env.get(KEY_ENV):
            return env[KEY_ENV].encode()
        path = home / KEY_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            key = base64.urlsafe_b64encode(os.urandom(32))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first; use theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
        return path.read_bytes().strip()

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with this installation's key"
            ) from None
        if not isinstance(data, dict):
            raise SecretKeyError("a stored secret is malformed")
        return data

    def seal_credentials(self, creds: Credentials) -> str:
        return self.seal({"username": creds.username, "password": creds.password})

    def open_credentials(self, token: str) -> Credentials:
        data = self.open(token)
        return Credentials(username=str(data["username"]), password=str(data["password"]))


#: Secrets recognisable by their shape, wherever they come from: MACHETE's tokens (API and
#: local CLI), a password in a URL, an Authorization header's credentials, a session cookie.
_SHAPES = (
    (re.compile(r"\bmchl?_[A-Za-z0-9_-]{8,}"), "mch_***"),
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\1:***@"),
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?\w+\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(machete_session=)[^;\s\"']+"), r"\1***"),
)

#: What every shape above contains: a line without any of these has nothing shaped to hide.
_MAYBE_SHAPED = re.compile(r"mchl?_|://|authorization|machete_session", re.IGNORECASE)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without the known ``secrets`` (longest first, as given) and without anything
    shaped like a secret. Operation logs, error messages and the servers' log lines all pass
    through here."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if _MAYBE_SHAPED.search(text) is None:
        return text  # most lines: one scan instead of one per shape
    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    return text
