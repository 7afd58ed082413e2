"""Users, roles, teams and grants in the core: the invariants (nobody grants above their own
role, the last owner stays), a hypothesis state machine over them, passwords, and the first
owner's one-time setup."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from machete_core.access import bootstrap, passwords
from machete_core.access.principal import Principal
from machete_core.access.roles import Role
from machete_core.errors import (
    ForbiddenError,
    InvalidInputError,
    LastOwnerError,
    MacheteError,
    RoleTooHighError,
    SetupClosedError,
    ToolNotFoundError,
    WeakPasswordError,
)
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from tests.support.people import PASSWORD, as_user
from tests.support.pointing import deployed


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(settings)
    yield m
    m.close()


def test_nobody_grants_or_sets_a_role_above_their_own(machete: Machete) -> None:
    deployed(machete, "app")
    machete.access.add_user("boss", "admin", password=PASSWORD)
    machete.access.add_user("dev", "viewer", password=PASSWORD)
    boss = as_user(machete, "boss")
    with pytest.raises(RoleTooHighError):
        boss.access.add_user("usurper", "owner", password=PASSWORD)
    with pytest.raises(RoleTooHighError):
        boss.access.set_role("dev", "owner")
    boss.access.grant("app", "maintainer", user="dev")
    dev = as_user(machete, "dev")
    machete.access.add_user("intern", "viewer", password=PASSWORD)
    # dev is maintainer of app through the grant: may grant up to that on app, not above.
    dev.access.grant("app", "operator", user="intern")
    with pytest.raises(InvalidInputError):
        dev.access.grant("app", "admin", user="intern")  # grants stop at maintainer
    with pytest.raises(ForbiddenError):
        dev.access.set_role("intern", "operator")  # instance roles are admins' business
    # And an admin cannot touch an owner at all.
    machete.access.add_user("founder", "owner", password=PASSWORD)
    with pytest.raises(RoleTooHighError):
        boss.access.set_disabled("founder")


def test_the_last_owner_cannot_be_demoted_disabled_or_lose_their_role(machete: Machete) -> None:
    machete.access.add_user("only", "owner", password=PASSWORD)
    with pytest.raises(LastOwnerError):
        machete.access.set_role("only", "admin")
    with pytest.raises(LastOwnerError):
        machete.access.set_disabled("only")
    machete.access.add_user("second", "owner", password=PASSWORD)
    machete.access.set_role("only", "admin")  # now fine: another owner remains
    with pytest.raises(LastOwnerError):
        as_user(machete, "second").access.set_disabled("second")
    assert machete.store.get_user("second").role == "owner"


def test_a_demotion_ends_sessions_and_cli_tokens_but_personal_tokens_follow_the_new_role(
    machete: Machete,
) -> None:
    deployed(machete, "app")
    machete.access.add_user("ann", "admin", password=PASSWORD)
    signed = machete.auth.login("ann", PASSWORD)
    cli, _ = machete.access.create_token("laptop", ("tools:read",), user="ann", kind="cli")
    pat, _ = machete.access.create_token("ci", ("tools:read", "admin:read"), user="ann")
    assert machete.acting_as(machete.auth.from_token(pat)).access.users()
    machete.access.set_role("ann", "viewer")
    assert machete.auth.from_session(signed.session) is None
    with pytest.raises(MacheteError, match="revoked"):
        machete.auth.from_token(cli)
    after = machete.acting_as(machete.auth.from_token(pat))
    assert after.principal.role == Role.VIEWER
    with pytest.raises(ForbiddenError):
        after.access.users()
    after.get("app", probe_health=False)  # still a viewer of everything


def test_teams_grant_roles_and_granted_visibility_hides_tools(settings: Settings) -> None:
    m = create_machete(attrs.evolve(settings, tool_visibility="granted"))
    try:
        for name in ("app", "secret"):
            deployed(m, name)
        m.access.add_user("dev", "viewer", password=PASSWORD)
        m.access.add_team("web")
        m.access.set_member("web", "dev")
        m.access.grant("app", "operator", team="web")
        dev = as_user(m, "dev")
        assert [v.name for v in dev.list_tools()] == ["app"]
        with pytest.raises(ToolNotFoundError):
            dev.get("secret")  # 404, never 403: the name is not confirmed
        assert dev.visible_tool_names() == {"app"}
        m.access.set_member("web", "dev", False)
        with pytest.raises(ToolNotFoundError):
            as_user(m, "dev").get("app")
        assert [g.subject for g in m.access.grants("app")] == ["web"]
    finally:
        m.close()


# -- a state machine: the grant invariant over any sequence -----------------------------------

NAMES = ("u1", "u2", "u3", "u4")
ROLES = [r.label for r in Role]


class GrantsMachine(RuleBasedStateMachine):
    """Whatever anyone tries, in any order: a role is only ever held if whoever gave it held
    at least that role at the time, and an active owner always remains."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(os.environ["MACHETE_HYPOTHESIS_HOME"]) / f"m{id(self)}{time.time_ns()}"
        self.dir.mkdir(parents=True)
        self.m = create_machete(Settings(home=self.dir))
        deployed(self.m, "tool")
        self.m.access.add_user("root", "owner", password=PASSWORD)
        #: For each user and tool (None: the instance), the granter's role when it was given.
        self.given: dict[tuple[str, str | None], tuple[Role, Role]] = {}

    def teardown(self) -> None:
        self.m.close()

    def _actor(self, name: str) -> Machete | None:
        principal = self.m.auth.principal_for(name)
        return None if principal is None else self.m.acting_as(principal)

    @rule(
        by=st.sampled_from(("root", *NAMES)),
        name=st.sampled_from(NAMES),
        role=st.sampled_from(ROLES),
    )
    def add_user(self, by: str, name: str, role: str) -> None:
        actor = self._actor(by)
        if actor is None or self.m.store.find_user(name) is not None:
            return
        try:
            actor.access.add_user(name, role, password=PASSWORD)
        except MacheteError:
            return
        self.given[(name, None)] = (Role.parse(role), self._role_of(actor.principal))

    @rule(
        by=st.sampled_from(("root", *NAMES)),
        name=st.sampled_from(("root", *NAMES)),
        role=st.sampled_from(ROLES),
    )
    def set_role(self, by: str, name: str, role: str) -> None:
        actor = self._actor(by)
        if actor is None or self.m.store.find_user(name) is None:
            return
        try:
            actor.access.set_role(name, role)
        except MacheteError:
            return
        self.given[(name, None)] = (Role.parse(role), self._role_of(actor.principal))

    @rule(
        by=st.sampled_from(("root", *NAMES)),
        name=st.sampled_from(NAMES),
        role=st.sampled_from(ROLES),
    )
    def grant(self, by: str, name: str, role: str) -> None:
        actor = self._actor(by)
        if actor is None or self.m.store.find_user(name) is None:
            return
        granter_role = self.m.core.access.authorizer.tool_role(
            actor.principal, self.m.store.get_tool("tool")
        )
        try:
            actor.access.grant("tool", role, user=name)
        except MacheteError:
            return
        assert granter_role is not None
        self.given[(name, "tool")] = (Role.parse(role), granter_role)

    @rule(
        by=st.sampled_from(("root", *NAMES)),
        name=st.sampled_from(("root", *NAMES)),
        disabled=st.booleans(),
    )
    def disable(self, by: str, name: str, disabled: bool) -> None:
        actor = self._actor(by)
        if actor is None or self.m.store.find_user(name) is None:
            return
        try:
            actor.access.set_disabled(name, disabled)
        except MacheteError:
            return

    def _role_of(self, principal: Principal) -> Role:
        return principal.role or Role.VIEWER

    @invariant()
    def nobody_holds_more_than_their_granter_had(self) -> None:
        for (name, tool), (held, granter) in self.given.items():
            assert held <= granter, (name, tool, held, granter)
        for grant in self.m.store.grants():
            assert Role.parse(grant.role) <= Role.MAINTAINER

    @invariant()
    def an_owner_remains(self) -> None:
        assert self.m.store.active_owners() >= 1


@pytest.fixture
def hypothesis_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MACHETE_HYPOTHESIS_HOME", str(tmp_path))
    return tmp_path


def test_grants_state_machine(hypothesis_home: Path) -> None:
    GrantsMachine.TestCase.settings = hsettings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    GrantsMachine.TestCase().runTest()


# -- passwords ---------------------------------------------------------------------------------


@pytest.mark.real_argon2
def test_passwords_are_argon2id_and_rehashed_when_the_profile_changes(
    machete: Machete, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", weak)
    machete.access.add_user("ann", "viewer", password=PASSWORD)
    old = machete.store.get_user("ann").password_hash or ""
    assert old.startswith("$argon2id$") and "m=1024" in old
    monkeypatch.undo()  # the installation's real profile again
    machete.auth.login("ann", PASSWORD)
    new = machete.store.get_user("ann").password_hash or ""
    assert new.startswith("$argon2id$") and new != old and "m=1024" not in new
    machete.auth.login("ann", PASSWORD)  # and the new hash verifies


def test_short_and_huge_passwords_are_refused_cleanly(machete: Machete) -> None:
    with pytest.raises(WeakPasswordError):
        machete.access.add_user("ann", "viewer", password="short")
    with pytest.raises(WeakPasswordError):
        machete.access.add_user("ann", "viewer", password="x" * 1_000_000)
    machete.access.add_user("ann", "viewer", password=PASSWORD)
    with pytest.raises(MacheteError) as caught:
        machete.auth.login("ann", "x" * 1_000_000)
    assert caught.value.code == "unauthenticated"


def test_concurrent_hashing_is_bounded(machete: Machete, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many sign-ins at once: never more than CONCURRENT hashes in flight (memory bound)."""
    machete.access.add_user("ann", "viewer", password=PASSWORD)
    inner = passwords.hasher()
    busy, peak = [0], [0]
    lock = threading.Lock()

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

        def verify(self, stored: str, password: str) -> bool:
            with lock:
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
            time.sleep(0.01)
            try:
                return bool(inner.verify(stored, password))
            finally:
                with lock:
                    busy[0] -= 1

    monkeypatch.setattr(passwords, "_hasher", Counting())
    results: list[bool] = []

    def one() -> None:
        try:
            machete.auth.login("ann", PASSWORD)
            results.append(True)
        except MacheteError:
            results.append(False)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 40
    assert 1 <= peak[0] <= passwords.CONCURRENT


# -- the first owner -------------------------------------------------------------------------


def test_the_setup_token_makes_exactly_one_owner_once(machete: Machete) -> None:
    path = Path(machete.auth.write_setup_token() or "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = bootstrap.read_setup_token(machete.settings.home)
    assert token is not None
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def setup(name: str) -> None:
        barrier.wait()
        try:
            machete.auth.setup(token, name, PASSWORD)
            outcomes.append("owner")
        except SetupClosedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=setup, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["owner", "refused"]
    assert [u.role for u in machete.store.list_users()] == ["owner"]
    assert not path.exists()
    with pytest.raises(SetupClosedError):
        machete.auth.setup(token, "third", PASSWORD)  # used
    assert machete.auth.write_setup_token() is None  # an owner exists: no new token


def test_a_setup_token_expires_and_must_match(machete: Machete) -> None:
    machete.auth.write_setup_token()
    token = bootstrap.read_setup_token(machete.settings.home) or ""
    with pytest.raises(SetupClosedError):
        machete.auth.setup(token + "x", "ann", PASSWORD)
    machete.auth.clock = lambda: time.time() + bootstrap.VALID_S + 1
    with pytest.raises(SetupClosedError, match="expired"):
        machete.auth.setup(token, "ann", PASSWORD)
    assert machete.store.count_users() == 0


def test_admins_make_tokens_for_service_accounts_not_for_other_people(machete: Machete) -> None:
    machete.access.add_user("boss", "admin", password=PASSWORD)
    machete.access.add_user("dev", "operator", password=PASSWORD)
    machete.access.add_user("ci", "operator", service=True)
    boss = as_user(machete, "boss")
    with pytest.raises(ForbiddenError, match="make their own"):
        boss.access.create_token("act-as-dev", ("tools:read",), user="dev")
    text, record = boss.access.create_token("pipeline", ("tools:operate",), user="ci")
    assert text.startswith("mch_sat_") and record.created_by == "boss"
    # A token cannot make tokens, even its owner's.
    with pytest.raises(ForbiddenError):
        machete.acting_as(machete.auth.from_token(text)).access.create_token("x", ("tools:read",))
    # The host makes one for anyone (it holds the state anyway).
    machete.access.create_token("laptop", ("tools:read",), user="dev")


def test_an_operation_outlives_its_removed_tool_for_its_actor_and_admins(
    machete: Machete,
) -> None:
    """A remove deletes the tool while its operation is followed: the one who removed it (and
    admins) still read the operation; others get operation_not_found."""
    from machete_core.errors import OperationNotFoundError

    deployed(machete, "gone")
    machete.access.add_user("remover", "maintainer", password=PASSWORD)
    machete.access.add_user("other", "viewer", password=PASSWORD)
    remover = as_user(machete, "remover")
    op = remover.submit("remove", "gone")
    machete.store.delete_tool(machete.store.get_tool("gone").id)  # what the remove does
    assert remover.operation(op.id).id == op.id
    with pytest.raises(OperationNotFoundError):
        as_user(machete, "other").operation(op.id)
