"""The ``caddy`` ingress: Caddy's admin API, never its files. Managed (the server runs Caddy
as its child; ``MACHETE_CADDY_ADMIN`` empty) or external (an operator's Caddy, whose admin
endpoint is given; MACHETE touches only the routes and TLS policies it tagged)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from machete_core.domain.records import Endpoint
from machete_core.domain.routes import PublishedRoute, RouteSet
from machete_core.errors import IngressError, InvalidInputError
from machete_core.routing import ingress_secret
from machete_core.settings import Settings
from machete_plugins.caddy import config
from machete_plugins.caddy.admin import AdminClient, NotFound
from machete_plugins.caddy.process import ManagedCaddy


class CaddyIngress:
    def __init__(self, settings: Settings) -> None:
        if settings.tools_domain_tls not in ("internal", "acme"):
            raise InvalidInputError(
                f"MACHETE_TOOLS_DOMAIN_TLS is {settings.tools_domain_tls!r}: use internal or acme"
            )
        if settings.caddy_cpus < 0:
            raise InvalidInputError(
                f"MACHETE_CADDY_CPUS is {settings.caddy_cpus}: give a number of CPUs, or 0 for "
                "half of this machine's"
            )
        self.settings = settings
        self.managed = None if settings.caddy_admin else ManagedCaddy(settings)
        self.client = self.managed.client if self.managed else AdminClient(settings.caddy_admin)
        self._lock = threading.Lock()

    # -- supervision (the server) -----------------------------------------------------------

    def start(self, on_restart: Callable[[], None]) -> None:
        if self.managed is not None:
            self.managed.start(on_restart)
        else:
            self._ensure_server()

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop()

    def _absent(self) -> bool:
        """Managed Caddy runs only with a server: without one, nothing serves and there is
        nothing to change (the server publishes every route when it starts Caddy)."""
        return self.managed is not None and not self.managed.socket.exists()

    # -- the Ingress protocol -----------------------------------------------------------------

    def publish(self, route: RouteSet) -> None:
        if self._absent():
            return
        settings = self.settings
        with self._lock:
            self._ensure_server()
            policy = config.tls_policy(settings, route)
            policy_id = config.tls_policy_id(settings, route.tool)
            if policy is not None:
                # Before the route: Caddy asks for certificates when it loads the route.
                self._ensure_path("apps", "tls", "automation", "policies", empty=[])
                self._put(policy_id, policy, "/config/apps/tls/automation/policies")
            else:
                self._delete(policy_id)
            body = config.route_config(settings, route, ingress_secret(settings))
            self._put(config.route_id(settings, route.tool), body, self._routes_path())

    def withdraw(self, tool: str) -> None:
        if self._absent():
            return
        with self._lock:
            self._delete(config.route_id(self.settings, tool))
            self._delete(config.tls_policy_id(self.settings, tool))

    def published(self) -> list[PublishedRoute]:
        if self._absent():
            return []
        try:
            routes = self.client.call("GET", self._routes_path())
        except NotFound:
            return []
        return config.parse_published(self.settings, routes if isinstance(routes, list) else [])

    def drain(self, tool: str, upstreams: Sequence[Endpoint], seconds: float) -> None:
        """Wait the drain time. Caddy 2.6 forgets an upstream's count of requests in flight
        when the route that named it is replaced (the requests themselves go on), so there
        is nothing to ask that would allow returning sooner without cutting one short."""
        time.sleep(max(0.0, seconds))

    def health(self) -> str | None:
        if self._absent():
            return "Caddy is not running (machete serve starts it)"
        return self.client.answers()

    def root_certificate(self) -> str | None:
        if self._absent():
            return None
        try:
            found = self.client.call("GET", "/pki/ca/local")
        except NotFound:
            return None
        pem = found.get("root_certificate") if isinstance(found, dict) else None
        return str(pem) if pem else None

    # -- admin API helpers --------------------------------------------------------------------

    def _routes_path(self) -> str:
        return f"/config/apps/http/servers/{config.server_name(self.settings)}/routes"

    def _put(self, object_id: str, body: dict[str, Any], array_path: str) -> None:
        """Replace the object tagged ``object_id`` in one call; insert it when there is none."""
        try:
            self.client.call("PATCH", f"/id/{object_id}", body)
            return
        except NotFound:
            pass
        try:
            # First: the operator's catch-all routes (external Caddy) must not shadow it.
            self.client.call("PUT", f"{array_path}/0", body)
        except IngressError as exc:
            if not isinstance(exc, NotFound) and "out of bounds" not in exc.message:
                raise
            self.client.call("POST", array_path, body)  # an empty list: appended

    def _delete(self, object_id: str) -> None:
        try:
            self.client.call("DELETE", f"/id/{object_id}")
        except NotFound:
            pass

    def _ensure_path(self, *parts: str, empty: Any) -> None:
        """Make ``/config/<parts>`` exist (an operator's Caddy may have no such app yet)."""
        for depth in range(len(parts), 0, -1):
            path = "/config/" + "/".join(parts[:depth])
            try:
                if self.client.call("GET", path) is not None:
                    break
            except NotFound:
                continue
        else:
            depth = 0
        for at in range(depth, len(parts)):
            value: Any = empty if at == len(parts) - 1 else {}
            try:
                self.client.call("PUT", "/config/" + "/".join(parts[: at + 1]), value)
            except IngressError as exc:
                if "already exists" not in exc.message:
                    raise

    def _ensure_server(self) -> None:
        name = config.server_name(self.settings)
        try:
            found = self.client.call("GET", f"/config/apps/http/servers/{name}")
        except NotFound:
            found = None
        if found is not None:
            if isinstance(found, dict) and "routes" not in found:
                self.client.call("PUT", f"/config/apps/http/servers/{name}/routes", [])
            return
        self._ensure_path("apps", "http", "servers", empty={})
        self.client.call(
            "PUT",
            f"/config/apps/http/servers/{name}",
            config.server_config(self.settings, managed=self.managed is not None),
        )
