"""The network guard's rules and its bookkeeping, with nft and the engine replaced by fakes
(the rules themselves are tried on the kernel in tests/integration/test_network_guard.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from machete_core.errors import InvalidInputError, NetworkGuardUnavailableError
from machete_plugins import network_guard
from machete_plugins.network_guard import NetworkGuard, NftError


def net(
    id_: str, driver: str = "bridge", name: str | None = None, installation: str = "here"
) -> dict[str, Any]:
    options = {network_guard.BRIDGE_OPTION: name} if name else {}
    labels = {"io.machete.installation": installation}
    return {"Id": id_, "Driver": driver, "Options": options, "Labels": labels}


class Engine:
    def __init__(self, networks: list[dict[str, Any]]) -> None:
        self.networks_now = networks
        self.asked: list[Any] = []
        self.api = self

    def networks(self, filters: Any = None) -> list[dict[str, Any]]:
        self.asked.append(filters)
        return self.networks_now


class Nft:
    def __init__(self, fail: int = 0) -> None:
        self.scripts: list[str] = []
        self.fail = fail

    def __call__(self, script: str) -> str:
        if self.fail:
            self.fail -= 1
            raise NftError("No such file or directory; did you mean table 'machete'?")
        self.scripts.append(script)
        return ""


def guard(tmp_path: Path, mode: str = "auto", **kw: Any) -> tuple[NetworkGuard, Nft]:
    nft = kw.pop("nft", Nft())
    made = NetworkGuard(
        mode,
        installation="here",
        allow_metadata=kw.pop("allow_metadata", False),
        nft=nft,
        listed=kw.pop("listed", lambda set_name="bridges": set()),
        euid=kw.pop("euid", lambda: 0),
        which=kw.pop("which", lambda name: "/usr/sbin/nft"),
        sys_net=tmp_path,
    )
    return made, nft


def test_bridge_names_as_the_engine_makes_them() -> None:
    assert network_guard.bridge_of(net("0123456789abcdef")) == "br-0123456789ab"
    assert network_guard.bridge_of(net("ff", name="mybridge0")) == "mybridge0"
    assert network_guard.bridge_of(net("ff", driver="overlay")) is None


def test_the_table_replaces_its_rules_in_one_transaction() -> None:
    script = network_guard.table_script()
    lines = script.splitlines()
    # Each chain is emptied and its rules added in the same file (nft applies it whole).
    forward = lines.index("flush chain inet machete forward")
    input_ = lines.index("flush chain inet machete input")
    rules = [line for line in lines if line.startswith("add rule")]
    assert rules == lines[forward + 1 : forward + 4] + lines[input_ + 1 : input_ + 3]
    assert "priority -10" in script and "policy accept" in script
    between = lines[forward + 1]
    assert "iifname . oifname != @same" in between and "drop" in between
    # The metadata services, in both chains, for TCP but DNS.
    for rule in rules[1:]:
        assert rule.startswith(("add rule inet machete forward", "add rule inet machete input"))
        assert "iifname @no_metadata" in rule and "tcp dport != 53" in rule
    assert sum("169.254.169.254" in rule for rule in rules) == 2
    assert sum("fd00:ec2::254" in rule for rule in rules) == 2


def test_elements_go_in_both_sets_and_odd_names_are_refused() -> None:
    script = network_guard.elements_script("add", ["br-b", "br-a", "br-a"])
    assert script == (
        'add element inet machete bridges { "br-a", "br-b" }\n'
        'add element inet machete same { "br-a" . "br-a", "br-b" . "br-b" }\n'
    )
    assert network_guard.elements_script("delete", []) == ""
    assert network_guard.elements_script("delete", ["br-a"], "no_metadata") == (
        'delete element inet machete no_metadata { "br-a" }\n'
    )
    for bad in ('br-x" } ; flush ruleset ; {', "", "a" * 16, "br x"):
        with pytest.raises(ValueError):
            network_guard.elements_script("add", [bad])


def test_an_unknown_mode_names_the_setting() -> None:
    with pytest.raises(InvalidInputError) as info:
        NetworkGuard("sometimes")
    assert "MACHETE_NETWORK_GUARD" in info.value.message


def test_a_check_adds_every_machete_bridge_and_prunes_only_vanished_ones(
    tmp_path: Path,
) -> None:
    for name in ("br-aaaaaaaaaaaa", "br-bbbbbbbbbbbb", "br-cccccccccccc"):
        (tmp_path / name).mkdir()
    engine = Engine([net("aaaaaaaaaaaa11"), net("bbbbbbbbbbbb22", installation="other")])
    # Held: a bridge whose network is gone (pruned), one made since the engine was asked
    # (its interface exists: kept), and one of ours.
    held = {"br-gone", "br-cccccccccccc", "br-aaaaaaaaaaaa"}
    sets = {"bridges": held, "no_metadata": {"br-gone", "br-aaaaaaaaaaaa"}}
    g, nft = guard(tmp_path, listed=lambda set_name="bridges": sets[set_name])
    g.check(engine)
    assert engine.asked == [{"label": ["io.machete.installation"]}]
    assert g.problem is None
    made, pruned, pruned_metadata = nft.scripts
    assert made.startswith(network_guard.table_script())
    # Every installation's bridges are kept apart; only this one's kept from the metadata.
    assert '"br-aaaaaaaaaaaa", "br-bbbbbbbbbbbb"' in made
    assert made.endswith('add element inet machete no_metadata { "br-aaaaaaaaaaaa" }\n')
    assert pruned == network_guard.elements_script("delete", ["br-gone"])
    assert pruned_metadata == network_guard.elements_script("delete", ["br-gone"], "no_metadata")
    # Within the re-check interval the table is not looked at again...
    g.check(engine)
    assert len(nft.scripts) == 3
    # ...unless asked.
    g.check(engine, force=True)
    assert len(nft.scripts) == 6


def test_an_installation_that_allows_the_metadata_takes_its_bridges_out(
    tmp_path: Path,
) -> None:
    (tmp_path / "br-aaaaaaaaaaaa").mkdir()
    engine = Engine([net("aaaaaaaaaaaa")])
    sets = {"bridges": {"br-aaaaaaaaaaaa"}, "no_metadata": {"br-aaaaaaaaaaaa"}}
    g, nft = guard(tmp_path, allow_metadata=True, listed=lambda set_name="bridges": sets[set_name])
    g.check(engine)
    made, allowed = nft.scripts
    assert "no_metadata {" not in made.removeprefix(network_guard.table_script())
    assert allowed == network_guard.elements_script("delete", ["br-aaaaaaaaaaaa"], "no_metadata")
    g.guard(engine, net("aaaaaaaaaaaa"))
    assert nft.scripts[-1] == network_guard.elements_script("add", ["br-aaaaaaaaaaaa"])


def test_a_new_network_is_added_and_a_vanished_table_made_again(tmp_path: Path) -> None:
    (tmp_path / "br-aaaaaaaaaaaa").mkdir()
    engine = Engine([net("aaaaaaaaaaaa")])
    g, nft = guard(tmp_path)
    g.guard(engine, net("aaaaaaaaaaaa"))
    assert nft.scripts[-1] == network_guard.elements_script(
        "add", ["br-aaaaaaaaaaaa"]
    ) + network_guard.elements_script("add", ["br-aaaaaaaaaaaa"], "no_metadata")
    # A firewall reload removed the table: the add fails, the table is made again at once.
    nft.fail = 1
    before = len(nft.scripts)
    g.guard(engine, net("aaaaaaaaaaaa"))
    assert nft.scripts[before].startswith(network_guard.table_script())
    assert g.problem is None


@pytest.mark.parametrize(
    ("which", "euid", "bridge_here", "reason"),
    [
        (None, 0, True, "nft command is missing"),
        ("/usr/sbin/nft", 1000, True, "does not run as root"),
        ("/usr/sbin/nft", 0, False, "not on this host"),
    ],
)
def test_where_the_rules_cannot_be_kept_auto_warns_once_and_required_refuses(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    which: str | None,
    euid: int,
    bridge_here: bool,
    reason: str,
) -> None:
    if bridge_here:
        (tmp_path / "br-aaaaaaaaaaaa").mkdir()
    engine = Engine([net("aaaaaaaaaaaa")])
    options = {"which": lambda name: which, "euid": lambda: euid}
    listed: list[str] = []
    g, nft = guard(tmp_path, listed=lambda set_name="bridges": listed.append(set_name), **options)
    with caplog.at_level(logging.WARNING, logger="machete_plugins.network_guard"):
        g.guard(engine, net("aaaaaaaaaaaa"))
        g.check(engine, force=True)
    assert reason in (g.problem or "")
    assert nft.scripts == [] and listed == []  # nft is not even asked what it holds
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MACHETE_NETWORK_GUARD=off" in warnings[0].getMessage()

    strict, nft = guard(tmp_path, "required", **options)
    with pytest.raises(NetworkGuardUnavailableError) as info:
        strict.guard(engine, net("aaaaaaaaaaaa"))
    assert info.value.code == "network_guard_unavailable"
    assert reason in info.value.message and "MACHETE_NETWORK_GUARD=auto" in info.value.message


def test_off_touches_nothing(tmp_path: Path) -> None:
    engine = Engine([net("aaaaaaaaaaaa")])
    g, nft = guard(tmp_path, "off", which=lambda name: None)
    g.guard(engine, net("aaaaaaaaaaaa"))
    g.check(engine, force=True)
    assert nft.scripts == [] and engine.asked == [] and g.problem is None


def test_the_held_bridges_are_read_from_nft_json(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = (
        '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", '
        '"name": "bridges", "table": "machete", "type": "ifname", '
        '"elem": ["br-aaaaaaaaaaaa", "br-bbbbbbbbbbbb"]}}]}'
    )
    monkeypatch.setattr(network_guard, "run_nft", lambda script, *args: answer)
    assert network_guard.listed_bridges() == {"br-aaaaaaaaaaaa", "br-bbbbbbbbbbbb"}
    monkeypatch.setattr(network_guard, "run_nft", lambda script, *args: "not json")
    assert network_guard.listed_bridges() == set()

    def missing(script: object, *args: str) -> str:
        raise NftError("No such file or directory")

    monkeypatch.setattr(network_guard, "run_nft", missing)
    assert network_guard.listed_bridges() == set()
