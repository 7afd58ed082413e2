"""Who is asking, as the core sees it: resolved from credentials on every request (so a
demotion or a revocation counts at once), with where the request came from for the audit log."""

from __future__ import annotations

import enum

import attrs

from machete_core.access.roles import Role
from machete_core.domain.operations import LOCAL_PYTHON, SYSTEM, Actor, ActorKind


class PrincipalKind(enum.StrEnum):
    USER = "user"
    #: A service account (owned by the installation, for CI): tokens only.
    SERVICE = "service"
    ANONYMOUS = "anonymous"
    #: The host's own CLI or a Python program on the state directory: holds every key anyway.
    LOCAL = "local"
    #: MACHETE itself (reconciler, monitor).
    SYSTEM = "system"


@attrs.frozen
class TokenGrant:
    """What a token adds to (rather, takes from) its owner's rights."""

    public_id: str
    kind: str
    scopes: frozenset[str]
    #: The tools it is restricted to; empty: not restricted.
    tools: frozenset[str] = frozenset()


@attrs.frozen
class Principal:
    kind: PrincipalKind
    name: str
    user_id: int | None = None
    #: The current instance role (None: anonymous, local and system have no role to check).
    role: Role | None = None
    team_ids: tuple[int, ...] = ()
    token: TokenGrant | None = None
    #: The session's id hash (to end a user's *other* sessions on a password change).
    session: str | None = attrs.field(default=None, repr=False)
    #: Signed in, but must enrol a second factor before anything else.
    restricted: bool = False
    address: str | None = None
    request_id: str | None = None
    #: The actor of local principals (the CLI or a Python program).
    local_actor: Actor | None = None

    @property
    def trusted(self) -> bool:
        """The host itself: everything is allowed (it holds the state and the keys)."""
        return self.kind in (PrincipalKind.LOCAL, PrincipalKind.SYSTEM)

    @property
    def signed_in(self) -> bool:
        return self.kind in (PrincipalKind.USER, PrincipalKind.SERVICE)

    def actor(self) -> Actor:
        """The actor recorded on operations, events and audit rows."""
        if self.kind == PrincipalKind.LOCAL:
            return self.local_actor or LOCAL_PYTHON
        if self.kind == PrincipalKind.SYSTEM:
            return SYSTEM
        if self.token is not None:
            return Actor(ActorKind.TOKEN, self.token.public_id, self.name)
        return Actor(ActorKind.USER, str(self.user_id or ""), self.name)

    def with_request(self, address: str | None, request_id: str | None) -> Principal:
        return attrs.evolve(self, address=address, request_id=request_id)


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS, "anonymous")


def local(actor: Actor = LOCAL_PYTHON) -> Principal:
    return Principal(PrincipalKind.LOCAL, actor.name, local_actor=actor)
