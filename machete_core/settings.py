"""Settings: one frozen record, read from the environment by the hosts and overridable in code."""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from machete_core.errors import InvalidInputError
from machete_core.home import default_home
from machete_core.settings_file import read_settings_file

ENV_PREFIX = "MACHETE_"


def _split(value: str) -> frozenset[str]:
    return frozenset(p.strip() for p in value.split(",") if p.strip())


# The hash is kept: per-request caches are keyed on the settings.
@attrs.frozen(kw_only=True, cache_hash=True)
class Settings:
    """Everything an installation can configure. Each field's env var is ``MACHETE_<FIELD>``."""

    home: Path = attrs.field(factory=default_home, converter=Path)
    #: Any SQLAlchemy URL; empty means SQLite at ``<home>/machete.db``.
    database_url: str = ""
    #: Labels every runtime object so two installations on one engine never touch each other.
    installation: str = "default"
    #: Source URL schemes allowed; ``file`` also allows plain local paths.
    allowed_schemes: frozenset[str] = frozenset({"https"})
    #: Seconds a new instance has to answer its health check with HTTP 200.
    health_timeout: float = 60.0
    health_interval: float = 0.5
    #: Seconds of 404 from a tool's health path after which the gate gives up (the path
    #: does not exist; waiting longer changes nothing).
    health_not_found_grace: float = 10.0
    #: Seconds an old instance keeps serving after a new release takes over.
    drain_seconds: float = 2.0
    #: Seconds between health-monitor rounds in ``machete serve`` (0 turns the monitor off).
    health_check_interval: float = 15.0
    #: Health probes in flight at once during a monitor round.
    health_concurrency: int = 32
    #: Seconds between reconciler rounds in ``machete serve`` (0 turns the periodic rounds off).
    reconcile_interval: float = 30.0
    #: Seconds a router may serve from its cached idea of where a tool runs.
    route_cache_seconds: float = 1.0
    build_timeout: float = 1800.0
    #: Seconds an operation's lease lasts without renewal; its process renews it about every
    #: second, so a holder that died is found out this long after its last heartbeat.
    lease_seconds: float = 15.0
    #: Lifecycle events kept in the database for the event streams (older ones are pruned).
    events_kept: int = 10_000
    #: Images kept per tool for rollback; older ones are pruned after each deploy.
    keep_images: int = 5
    #: Builds running at once in one process; more wait their turn.
    max_concurrent_builds: int = 2
    #: Refuse to build below this much free disk (where the engine keeps images, else <home>).
    min_free_disk_bytes: int = 2 * 1024**3
    #: Build on an engine whose runc or BuildKit is below the floors of threats.md (runc
    #: 1.1.12, BuildKit 0.12.5, i.e. Docker 25.0.2): an admin's explicit acceptance.
    accept_engine_below_floor: bool = False
    #: Base images tools may build on although MACHETE built them (shared internal bases).
    allowed_base_images: tuple[str, ...] = ()
    #: Allow ``# syntax=`` frontends in Dockerfiles (they run code of the author's choosing).
    allow_dockerfile_frontends: bool = False
    #: Frontends (repositories) a Dockerfile's ``# syntax=`` line may name; each is pinned by
    #: digest for the build. Docker's official ones by default.
    allowed_dockerfile_frontends: tuple[str, ...] = ("docker/dockerfile",)
    #: A company proxy for builds: passed to every build as Docker's predefined proxy build
    #: arguments (which never end up in the image unless its Dockerfile copies them).
    build_http_proxy: str = ""
    build_https_proxy: str = ""
    build_no_proxy: str = ""
    #: A PEM file of extra CA certificates builds may trust: offered to BuildKit builds as the
    #: secret ``machete_ca`` (mounted only where a ``RUN --mount=type=secret`` asks for it).
    build_ca_bundle: str = ""
    #: ``auto`` picks ``buildx`` where it is installed, else ``docker``.
    default_builder: str = "auto"
    default_runtime: str = "docker"
    #: Where runtimes that need one (``swarm``) push images: ``host:port[/path]``.
    registry: str = ""
    registry_username: str = ""
    #: A secret: read from the environment, never shown (repr, logs, API).
    registry_password: str = attrs.field(default="", repr=False)
    #: Hardening fields an admin accepts the Swarm engine not applying (e.g.
    #: ``no_new_privileges`` on engines before API 1.44); anything else missing fails a deploy.
    swarm_accept_missing: tuple[str, ...] = ()
    #: Entry-point names of plugins not to load; ``*`` disables every non-bundled plugin.
    disable_plugins: frozenset[str] = frozenset()
    #: Networks (CIDR) sources may reach besides public addresses, e.g. ``10.0.0.0/8``.
    allowed_networks: tuple[str, ...] = ()
    #: Limits on one fetch (Git or archive download): bytes on the wire and seconds.
    fetch_max_bytes: int = 1024**3
    fetch_timeout: float = 600.0
    #: Limits on an unpacked archive: total bytes, bytes of one member, number of members.
    archive_max_bytes: int = 1024**3
    archive_max_member_bytes: int = 512 * 1024**2
    archive_max_members: int = 20_000
    #: An upload whose client sends nothing for this many seconds is dropped (408)...
    upload_idle_timeout: float = 30.0
    #: ...and one that takes longer than this in all.
    upload_timeout: float = 3600.0
    #: Uploads no tool or running operation references are removed after this many seconds.
    upload_grace_seconds: float = 600.0
    #: Limits for tools whose manifest sets none (Kubernetes-style quantities).
    default_memory: str = "1Gi"
    default_cpu: str = "1"
    pids_limit: int = 512
    #: Capabilities an admin lets tools keep (all others are dropped), e.g. ``NET_BIND_SERVICE``.
    allowed_capabilities: tuple[str, ...] = ()
    #: Tools (by name) an admin allows to get the Docker socket (``permissions.docker: true``).
    docker_socket_tools: tuple[str, ...] = ()
    #: Absolute host paths tools may mount (admin allow-list); relative paths live in the data dir.
    allowed_host_paths: tuple[str, ...] = ()
    #: Where tools' networks get their small subnets, so the engine's default address pools
    #: (about 30 networks) are never the ceiling; each network a /``network_prefix``.
    network_pool: str = "10.213.0.0/16"
    network_prefix: int = 27
    #: Rules of MACHETE's own (nftables) that keep tools' networks apart while Docker rewrites
    #: its own: ``auto`` keeps them where the server can (root, ``nft``, the engine on this
    #: host) and warns where it cannot, ``required`` refuses to run tools without them,
    #: ``off`` leaves isolation to Docker alone (docs/security.md).
    network_guard: str = "auto"
    #: Let this installation's tools reach the cloud's instance metadata services (the
    #: machine's credentials); the network guard keeps them out otherwise.
    allow_cloud_metadata: bool = False
    #: Worker threads the web host uses for core work.
    workers: int = 4
    host: str = "127.0.0.1"
    port: int = 8080
    #: The tools' own listener (never the API's origin); 0 means ``port + 1``.
    tools_port: int = 0
    #: Serve each tool at ``<tool>.<tools_domain>`` (its own browser origin), e.g. ``localhost``
    #: or ``tools.example.com`` with a wildcard DNS record; empty: ``/tools/<name>/`` only.
    tools_domain: str = ""
    #: What serves the tools' origin: ``builtin`` (the server's own proxy) or ``caddy``
    #: (docs/ingress.md), or an ingress a plugin offers.
    ingress: str = "builtin"
    #: Caddy's admin endpoint (``unix//path/admin.sock`` or ``http://127.0.0.1:2019``) when
    #: an operator runs Caddy; empty: the server runs Caddy itself, as its child.
    caddy_admin: str = ""
    #: The server (in Caddy's ``apps.http.servers``) MACHETE adds its routes to; empty: one
    #: of its own, ``machete-<installation>``, listening on the tools ports.
    caddy_server: str = ""
    #: The ``caddy`` program the server runs (managed mode).
    caddy_binary: str = "caddy"
    #: Where managed Caddy serves tools over TLS (``<tool>.<tools_domain>``, custom domains);
    #: 0 means ``tools_port + 1``. Plain HTTP stays on the tools port.
    caddy_https_port: int = 0
    #: How many CPUs managed Caddy works on at once (its ``GOMAXPROCS``); 0: half of this
    #: machine's, at least one, so the tools behind it keep the rest (docs/ingress.md).
    caddy_cpus: int = 0
    #: Where the server answers Caddy's questions (may this request reach this tool?):
    #: empty, a unix socket in the state directory; else ``host:port`` (a Caddy elsewhere).
    ingress_auth_listen: str = ""
    #: Certificates for ``<tool>.<tools_domain>``: ``internal`` (Caddy's own CA, for a
    #: domain nobody outside resolves) or ``acme`` (public names, Let's Encrypt and co.).
    tools_domain_tls: str = "internal"
    #: Host names the server answers to (DNS rebinding); empty: the loopback names, the listen
    #: address and the host of ``public_url``. Entries starting with ``.`` match subdomains.
    allowed_hosts: tuple[str, ...] = ()
    #: How people reach this server (``https://machete.example.com``), when behind a proxy.
    public_url: str = ""
    #: Reverse proxies in front of MACHETE whose ``X-Forwarded-For`` is believed (0: none).
    trusted_proxies: int = 0
    #: Export Prometheus metrics at ``/metrics`` (docs/metrics.md); off, nothing is counted.
    metrics: bool = True
    #: Networks (CIDR) notification targets may reach besides public addresses.
    notify_allowed_networks: tuple[str, ...] = ()
    #: Consecutive failed health checks before a tool is reported unhealthy.
    notify_unhealthy_after: int = 3
    #: Seconds during which a repeated notice (unhealthy, recovered, refused webhook) of one
    #: tool is not sent again to a channel.
    notify_repeat_seconds: float = 1800.0
    #: Seconds between the server's rounds of sending notifications (0: it sends none).
    notify_interval: float = 2.0
    #: Days before an API token's expiry when its owner's channels are told.
    token_expiry_warning_days: int = 7
    #: The SMTP server e-mail notifications go through (empty: no e-mail).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "machete@localhost"
    smtp_username: str = ""
    #: A secret: read from the environment, never shown.
    smtp_password: str = attrs.field(default="", repr=False)
    smtp_starttls: bool = False
    #: ``all``: every signed-in member sees every tool as a viewer (at least); ``granted``: people
    #: below admin see only the tools they (or their teams) hold a grant on.
    tool_visibility: str = "all"
    #: A session ends after this many seconds without a request...
    session_idle_seconds: float = 8 * 3600.0
    #: ...and this many seconds after sign-in, whatever happens.
    session_max_seconds: float = 7 * 86400.0
    #: People at or above this role must use a TOTP second factor (empty: nobody must).
    require_totp_from: str = ""
    #: Days an API token lasts when its creator names none.
    token_default_days: int = 90
    #: Days audit rows are kept (pruned by the reconciler, apart from the events table).
    audit_retention_days: int = 90
    #: Failed sign-ins for one name or address before each further one must wait (doubling).
    login_free_attempts: int = 5
    #: Requests per second a token, session or address may make to the API, and the burst.
    api_rate: float = 50.0
    api_burst: int = 200
    #: Origins allowed to call the API from a browser (CORS); empty: CORS stays off.
    cors_origins: tuple[str, ...] = ()
    #: Seconds between WebSocket heartbeats; a stream whose session or token is revoked closes
    #: within one.
    ws_heartbeat: float = 30.0
    #: Seconds the tool proxy waits for a tool's answer before a 504 (manifest: proxy_timeout).
    proxy_read_timeout: float = 60.0
    #: Connections to one tool at once; further requests wait for a slot...
    proxy_tool_connections: int = 64
    #: ...at most this many seconds, then get a 503.
    proxy_queue_timeout: float = 5.0

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'machete.db'}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def tools_data_dir(self) -> Path:
        return self.home / "tools"

    @property
    def effective_tools_port(self) -> int:
        return self.tools_port or self.port + 1

    @property
    def effective_caddy_https_port(self) -> int:
        return self.caddy_https_port or self.effective_tools_port + 1

    @property
    def effective_caddy_cpus(self) -> int:
        if self.caddy_cpus > 0:
            return self.caddy_cpus
        return max(1, (os.cpu_count() or 2) // 2)

    @property
    def run_dir(self) -> Path:
        """Sockets of this installation: in the state directory, unless its path is too long
        for a unix socket (108 bytes), then a private folder named after it in /tmp."""
        here = self.home / "run"
        if len(str(here)) <= 80:
            return here
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"machete-{digest}"

    @property
    def ingress_auth_socket(self) -> Path:
        return self.run_dir / "ingress-auth.sock"

    @property
    def ingress_auth_dial(self) -> str:
        """The address Caddy dials for ``forward_auth`` (Caddy's own notation)."""
        return self.ingress_auth_listen or f"unix/{self.ingress_auth_socket}"

    @property
    def no_plugins(self) -> bool:
        return "*" in self.disable_plugins

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``<home>/machete.toml``, then ``MACHETE_*`` variables (which win); keyword
        overrides win over both."""
        env = os.environ if environ is None else environ
        home = Path(overrides["home"]) if "home" in overrides else default_home(env)
        values: dict[str, Any] = {"home": home}
        stored = read_settings_file(home)
        for field in attrs.fields(cls):
            if field.name == "home":
                continue
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None:
                raw = stored.get(field.name)
            if raw is not None:
                values[field.name] = _coerce(field.type, raw, field.name)
        values.update(overrides)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """Every setting as the ``MACHETE_*`` variable that gives it this value, secrets too:
        :meth:`from_env` reads it back to an equal record (lists come back sorted, as they do
        from any variable). A server hands its settings to its own child processes this way;
        never log or show it."""
        out = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, frozenset | tuple):
                text = ",".join(sorted(str(v) for v in value))
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            out[ENV_PREFIX + field.name.upper()] = text
        return out

    def shown(self) -> list[tuple[str, str]]:
        """Every setting as ``(MACHETE_NAME, value)`` for people to read: secrets (the fields
        kept out of ``repr``) masked when set, and any password in a URL hidden."""
        out = []
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if not field.repr:
                text = "***" if value else ""
            elif isinstance(value, frozenset | tuple | list):
                text = ", ".join(sorted(str(v) for v in value))
            else:
                text = _without_password(str(value))
            out.append((ENV_PREFIX + field.name.upper(), text))
        return out

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings a file or a variable may set (all but ``home``)."""
        return tuple(f.name for f in attrs.fields(cls) if f.name != "home")

    @classmethod
    def check_name(cls, name: str) -> None:
        """Refuse a name that is no setting, suggesting the close one."""
        if name not in cls.names():
            close = difflib.get_close_matches(name, cls.names(), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidInputError(f"there is no setting {name!r}{hint}")

    @classmethod
    def check(cls, name: str, raw: str) -> Any:
        """``raw`` as the value of setting ``name``, or a clear error."""
        cls.check_name(name)
        return _coerce(attrs.fields_dict(cls)[name].type, raw, name)


def _coerce(type_: Any, raw: str, name: str) -> Any:
    text = str(type_)
    try:
        if "frozenset" in text:
            return _split(raw)
        if "tuple" in text:
            return tuple(sorted(_split(raw)))
        if text in ("float", "<class 'float'>"):
            return float(raw)
        if text in ("int", "<class 'int'>"):
            return int(raw)
        if text in ("bool", "<class 'bool'>"):
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("expected true or false")
            return raw.strip().lower() in ("1", "true", "yes")
    except ValueError as exc:
        raise InvalidInputError(f"setting MACHETE_{name.upper()}={raw!r}: {exc}") from None
    return raw


def _without_password(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` (database URLs)."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text
    userinfo, _, host = rest.partition("@")
    user, colon, _secret = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
