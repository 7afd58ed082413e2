"""Rules of MACHETE's own that keep tools' networks apart, beside Docker's.

Docker separates bridge networks with iptables rules it owns (``DOCKER-ISOLATION-STAGE-1/2``,
jumped to from ``FORWARD``), and it deletes and re-inserts those jumps whenever any network
is created or removed: for those moments a container reaches containers on other bridges
(docs/security.md). So MACHETE keeps an nftables table of its own, which the engine never
rewrites: a ``forward`` base chain that runs before Docker's filter table and drops what is
routed from one MACHETE bridge to another. Traffic on one bridge (bridged, so it enters and
leaves through the same bridge) and traffic out to the world pass on to Docker's rules.
``connects_to`` joins a tool to another tool's network rather than routing between
networks, so it needs no exception.

The same table keeps tools from the cloud's instance metadata services (the machine's
credentials on AWS, GCP, Azure and others), unless ``MACHETE_ALLOW_CLOUD_METADATA`` lets an
installation's tools reach them: only TCP to those addresses is dropped, except port 53, since
some clouds serve DNS there too.

A drop verdict in any base chain is final, so the order Docker keeps its own rules in does
not matter. The table is shared by every installation on the host: each adds its own
bridges, and removing one installation's networks removes only their elements."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from machete_core.domain import labels
from machete_core.errors import InvalidInputError, NetworkGuardUnavailableError

log = logging.getLogger(__name__)

TABLE = "machete"
FAMILY = "inet"
#: Before Docker's filter table (priority 0), whichever iptables backend it uses.
PRIORITY = -10
MODES = ("auto", "required", "off")
#: How often the table is checked (and its elements matched to the engine's networks), so a
#: firewall reload or a host restart that emptied the ruleset is repaired.
RECHECK_SECONDS = 30.0
BRIDGE_OPTION = "com.docker.network.bridge.name"
SYS_NET = Path("/sys/class/net")


def bridge_of(network: Mapping[str, Any]) -> str | None:
    """The host interface of a bridge network, as the engine reports it."""
    if network.get("Driver") != "bridge":
        return None
    named = (network.get("Options") or {}).get(BRIDGE_OPTION)
    return str(named) if named else f"br-{str(network.get('Id', ''))[:12]}"


def _quote(name: str) -> str:
    # Interface names are at most 15 bytes of [A-Za-z0-9_.-] for the bridges Docker makes;
    # anything else is refused rather than written into a ruleset.
    if not name or len(name) > 15 or not all(c.isalnum() or c in "_.-" for c in name):
        raise ValueError(f"not an interface name: {name!r}")
    return f'"{name}"'


#: Instance metadata services: AWS, GCP, Azure, Oracle, DigitalOcean and OpenStack at the
#: link-local address, Alibaba Cloud's, Azure's WireServer, and AWS's IPv6 one.
METADATA_V4 = ("169.254.169.254", "100.100.100.200", "168.63.129.16")
METADATA_V6 = ("fd00:ec2::254",)


def table_script() -> str:
    """The table, its sets and its rules, made or repaired in one transaction (nft applies a
    file atomically): the rules are replaced, never doubled, and the sets keep their
    elements."""
    table = f"{FAMILY} {TABLE}"
    lines = [
        f"add table {table}",
        f"add set {table} bridges {{ type ifname; }}",
        f"add set {table} same {{ type ifname . ifname; }}",
        f"add set {table} no_metadata {{ type ifname; }}",
    ]
    metadata = [
        f"iifname @no_metadata ip daddr {{ {', '.join(METADATA_V4)} }} tcp dport != 53",
        f"iifname @no_metadata ip6 daddr {{ {', '.join(METADATA_V6)} }} tcp dport != 53",
    ]
    for hook in ("forward", "input"):
        lines += [
            f"add chain {table} {hook} {{ type filter hook {hook} priority {PRIORITY}; "
            "policy accept; }",
            f"flush chain {table} {hook}",
        ]
        if hook == "forward":
            # Bridged traffic enters and leaves by the same bridge, which `same` holds; from
            # one of our bridges to another is routed, and dropped.
            lines.append(
                f"add rule {table} forward iifname @bridges oifname @bridges "
                'iifname . oifname != @same counter drop comment "tools reach only their '
                'own networks (MACHETE)"'
            )
        # A metadata service is reached through the host (forward) or, behind a local
        # metadata proxy, on it (input).
        lines += [
            f'add rule {table} {hook} {rule} counter drop comment "no cloud metadata '
            'for tools (MACHETE)"'
            for rule in metadata
        ]
    return "\n".join([*lines, ""])


def elements_script(verb: str, bridges: Iterable[str], set_name: str = "bridges") -> str:
    """Adding (``add``) or removing (``delete``) bridges: from ``bridges`` and ``same``
    together, or from another set (``no_metadata``)."""
    names = sorted({_quote(b) for b in bridges})
    if not names:
        return ""
    script = f"{verb} element {FAMILY} {TABLE} {set_name} {{ {', '.join(names)} }}\n"
    if set_name == "bridges":
        pairs = ", ".join(f"{n} . {n}" for n in names)
        script += f"{verb} element {FAMILY} {TABLE} same {{ {pairs} }}\n"
    return script


class NftError(Exception):
    pass


def run_nft(script: str | None = None, *args: str) -> str:
    """``nft -f -`` with ``script``, or ``nft ARGS``; its output, or :class:`NftError`."""
    command = ["nft", *args] if script is None else ["nft", "-f", "-"]
    try:
        done = subprocess.run(
            command, input=script, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NftError(str(exc)) from None
    if done.returncode != 0:
        raise NftError(done.stderr.strip() or f"nft exited with {done.returncode}")
    return done.stdout


def listed_bridges(set_name: str = "bridges") -> set[str]:
    """The bridges a set of the table holds now (empty when there is no table)."""
    try:
        text = run_nft(None, "-j", "list", "set", FAMILY, TABLE, set_name)
    except NftError:
        return set()
    found: set[str] = set()
    try:
        items = json.loads(text).get("nftables", [])
    except (ValueError, AttributeError):
        return found  # nothing to prune this time; the table is made again anyway
    for item in items:
        for element in (item.get("set") or {}).get("elem", []):
            if isinstance(element, str):
                found.add(element)
    return found


class NetworkGuard:
    """The table for one runtime: checked on first use and every :data:`RECHECK_SECONDS`,
    and told of each network the runtime makes before a container joins it."""

    def __init__(
        self,
        mode: str,
        *,
        installation: str = "",
        allow_metadata: bool = False,
        nft: Any = run_nft,
        listed: Any = listed_bridges,
        euid: Any = os.geteuid,
        which: Any = shutil.which,
        sys_net: Path = SYS_NET,
    ) -> None:
        if mode not in MODES:
            raise InvalidInputError(
                f"setting MACHETE_NETWORK_GUARD={mode!r}: expected one of {', '.join(MODES)}"
            )
        self.mode = mode
        #: Whose bridges this guard keeps from the metadata services (or lets reach them).
        self.installation, self.allow_metadata = installation, allow_metadata
        self._nft, self._listed, self._euid, self._which = nft, listed, euid, which
        self._sys_net = sys_net
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._warned = False
        #: Why the rules cannot be kept here (None: they are, or the guard is off).
        self.problem: str | None = None

    def unavailable(self, sample_bridge: str) -> str | None:
        """Why this process cannot keep the rules, or None."""
        if self._which("nft") is None:
            return "the nft command is missing (Debian: apt-get install nftables)"
        if self._euid() != 0:
            return "the server does not run as root, and only root may change the firewall"
        if not (self._sys_net / sample_bridge).exists():
            return (
                f"the engine's bridge {sample_bridge} is not on this host (a remote engine, or "
                "MACHETE runs in a container): keep the rules on the engine's host"
            )
        return None

    def check(self, client: Any, *, force: bool = False) -> None:
        """Make or repair the table and match its elements to the engine's networks: every
        MACHETE bridge in, every bridge no longer on the engine out."""
        if self.mode == "off":
            return
        with self._lock:
            now = time.monotonic()
            if (
                not force
                and self._checked_at is not None
                and now - self._checked_at < RECHECK_SECONDS
            ):
                return
            self._checked_at = now
            networks = client.api.networks(filters={"label": [labels.INSTALLATION]})
            ours = {b for b in (bridge_of(n) for n in networks) if b}
            mine = {
                b
                for n in networks
                if (n.get("Labels") or {}).get(labels.INSTALLATION) == self.installation
                and (b := bridge_of(n))
            }
            self.problem = self.unavailable("docker0" if not ours else sorted(ours)[0])
            if self.problem:
                self._complain()
                return
            held = self._listed()
            held_no_metadata = self._listed("no_metadata")
            script = table_script() + elements_script("add", ours)
            if not self.allow_metadata:
                script += elements_script("add", mine, "no_metadata")
            try:
                self._nft(script)
            except NftError as exc:
                self.problem = f"nft refused the rules: {exc}"
                self._complain()
                return
            gone = [b for b in held | held_no_metadata if not (self._sys_net / b).exists()]
            stale = {b for b in gone if b not in ours}
            # An installation that now allows the metadata services takes its bridges out.
            allowed = mine & held_no_metadata if self.allow_metadata else set()
            for verb_script in (
                elements_script("delete", stale & held),
                elements_script("delete", (stale & held_no_metadata) | allowed, "no_metadata"),
            ):
                if not verb_script:
                    continue
                try:
                    self._nft(verb_script)
                except NftError as exc:  # another installation pruned them first
                    log.debug("network guard: pruning: %s", exc)

    def guard(self, client: Any, network: Mapping[str, Any]) -> None:
        """Put a network the runtime just made under the rules, before anything joins it."""
        if self.mode == "off":
            return
        # A problem seen before this network existed (e.g. no bridge to tell whether the
        # engine is on this host) is looked at again now that there is one.
        self.check(client, force=self.problem is not None)
        bridge = bridge_of(network)
        if bridge is None or self.problem:
            return
        script = elements_script("add", [bridge])
        if not self.allow_metadata:
            script += elements_script("add", [bridge], "no_metadata")
        try:
            self._nft(script)
        except NftError as exc:
            # A table removed since the last check: make it again, with this bridge.
            log.info("network guard: %s; checking the table again", exc)
            self.check(client, force=True)

    def _complain(self) -> None:
        message = (
            f"tools' networks are kept apart by Docker's rules alone, which lapse while "
            f"networks are made or removed: {self.problem}"
        )
        if self.mode == "required":
            raise NetworkGuardUnavailableError(
                message + ". Fix that, or let tools run without MACHETE's rules with "
                "MACHETE_NETWORK_GUARD=auto"
            )
        if not self._warned:
            self._warned = True
            log.warning("%s (MACHETE_NETWORK_GUARD=off silences this)", message)
