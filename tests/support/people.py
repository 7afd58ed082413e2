"""People and tokens for tests: an owner and an all-scopes token, made on the host (the local
principal), and the headers that carry it."""

from __future__ import annotations

from machete_core.access.actions import SCOPES
from machete_core.machete import Machete

PASSWORD = "correct horse battery staple"


def ensure_user(machete: Machete, name: str, role: str, *, password: str = PASSWORD) -> None:
    if machete.store.find_user(name) is None:
        machete.access.add_user(name, role, password=password)


def token_for(
    machete: Machete,
    name: str = "owner",
    role: str = "owner",
    scopes: tuple[str, ...] = SCOPES,
    tools: tuple[str, ...] = (),
) -> str:
    """A new token of ``name`` (made with ``role`` first if the user does not exist)."""
    ensure_user(machete, name, role)
    text, _record = machete.access.create_token("tests", scopes, tools=tools, user=name)
    return text


def owner_headers(machete: Machete) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(machete)}"}


def as_user(machete: Machete, name: str) -> Machete:
    """The installation acting for an existing user (their current role and teams)."""
    principal = machete.auth.principal_for(name)
    assert principal is not None, name
    return machete.acting_as(principal)
