"""What each route of the API needs: ``public``, any signed-in principal, or an action of the
core's permission table (checked by ``authorize`` before the handler runs, on the URL's tool
when it names one). A route without an entry is refused: default deny. The route-walking
tests read this table and the app's router and fail when either has something the other has
not."""

from __future__ import annotations

from aiohttp import web

#: Anyone, signed in or not.
PUBLIC = "public"
#: Any signed-in principal, even a session that must still enrol a second factor.
ENROL = "enrol"
#: Any signed-in principal.
SIGNED_IN = "signed_in"
#: A person signed in with a session (never a token), even one that must still enrol.
PERSON = "person"

T = "/api/tools/{tool}"
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/health/"): PUBLIC,
    ("GET", "/api/health/db"): SIGNED_IN,
    ("GET", "/api/openapi.json"): PUBLIC,
    # Prometheus: from loopback without credentials (LOOPBACK below), else the right to read.
    ("GET", "/metrics"): "metrics.read",
    ("*", "/tools/{tool}"): PUBLIC,
    ("*", "/tools/{tool}/{tail}"): PUBLIC,
    # sign-in
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/token"): PUBLIC,
    ("POST", "/api/auth/device"): PUBLIC,
    ("POST", "/api/auth/device/token"): PUBLIC,
    ("POST", "/api/auth/setup"): PUBLIC,
    ("POST", "/api/auth/logout"): ENROL,
    ("GET", "/api/auth/me"): ENROL,
    ("POST", "/api/auth/password"): PERSON,
    ("POST", "/api/auth/totp"): PERSON,
    ("POST", "/api/auth/totp/confirm"): PERSON,
    # tools
    ("GET", "/api/plugins"): "plugins.read",
    ("GET", "/api/tools"): "tools.read",
    ("GET", "/api/tools/"): "tools.read",
    ("POST", "/api/tools"): "tools.install",
    ("POST", "/api/tools/"): "tools.install",
    ("POST", "/api/tools/install"): "tools.install",
    ("GET", T): "tools.read",
    ("PATCH", T): "tools.config",
    ("DELETE", T): "tools.remove",
    ("GET", T + "/status"): "tools.read",
    ("GET", T + "/health"): "tools.read",
    ("GET", T + "/health/history"): "tools.read",
    ("GET", T + "/releases"): "tools.read",
    ("GET", T + "/operations"): "tools.read",
    ("GET", T + "/logs"): "tools.logs",
    ("GET", T + "/logs/follow"): "tools.logs",
    ("POST", T + "/{action}"): "tools.operate",
    ("GET", T + "/config"): "tools.config",
    ("PUT", T + "/config"): "tools.config",
    ("DELETE", T + "/config/{key}"): "tools.config",
    ("PUT", T + "/access"): "tools.access",
    ("GET", T + "/grants"): "tools.grants",
    ("PUT", T + "/grants"): "tools.grants",
    ("DELETE", T + "/grants/{kind}/{name}"): "tools.grants",
    # operations and events
    ("GET", "/api/operations"): "tools.read",
    ("GET", "/api/operations/{op}"): "tools.read",
    ("GET", "/api/operations/{op}/log"): "tools.read",
    ("GET", "/api/operations/{op}/log/follow"): "tools.read",
    ("GET", "/api/operations/{op}/progress"): "tools.read",
    ("POST", "/api/operations/{op}/cancel"): "tools.operate",
    ("GET", "/api/events"): "events.read",
    # people and programs
    ("GET", "/api/users"): "users.read",
    ("POST", "/api/users"): "users.manage",
    ("PATCH", "/api/users/{user}"): "users.manage",
    ("POST", "/api/users/{user}/password"): "users.manage",
    ("GET", "/api/teams"): "users.read",
    ("POST", "/api/teams"): "users.manage",
    ("DELETE", "/api/teams/{team}"): "users.manage",
    ("PUT", "/api/teams/{team}/members/{user}"): "users.manage",
    ("DELETE", "/api/teams/{team}/members/{user}"): "users.manage",
    ("GET", "/api/tokens"): "tokens.own",
    ("POST", "/api/tokens"): "tokens.own",
    ("DELETE", "/api/tokens/{token}"): "tokens.own",
    ("GET", "/api/audit"): "audit.read",
    # deploy triggers: a delivery proves itself with its signature, not a sign-in
    ("POST", "/api/hooks/{hook}"): PUBLIC,
    ("GET", T + "/hook"): "tools.hooks",
    ("PUT", T + "/hook"): "tools.hooks",
    ("DELETE", T + "/hook"): "tools.hooks",
    ("POST", T + "/hook/rotate"): "tools.hooks",
    ("PUT", T + "/hook/poll"): "tools.hooks",
    ("GET", T + "/hook/deliveries"): "tools.hooks",
    # notifications: a channel route is decided by the core (its tool's maintainers, or admins
    # for the instance's; one the asker may not manage is a 404)
    ("GET", "/api/domains"): "settings.read",
    ("GET", T + "/domains"): "tools.read",
    ("POST", T + "/domains"): "tools.domains",
    ("DELETE", T + "/domains/{name}"): "tools.domains",
    ("GET", "/api/ingress"): "settings.read",
    ("GET", "/api/ingress/ca"): SIGNED_IN,
    ("GET", "/api/notifications"): "notifications.manage",
    ("POST", "/api/notifications"): "notifications.manage",
    ("GET", T + "/notifications"): "tools.notifications",
    ("POST", T + "/notifications"): "tools.notifications",
    ("GET", "/api/notifications/{channel}"): SIGNED_IN,
    ("PATCH", "/api/notifications/{channel}"): SIGNED_IN,
    ("DELETE", "/api/notifications/{channel}"): SIGNED_IN,
    ("POST", "/api/notifications/{channel}/test"): SIGNED_IN,
    ("GET", "/api/notifications/{channel}/deliveries"): SIGNED_IN,
}

#: The dashboard's pages and forms (``dashboard/``): the same table, and their refusals are
#: answered as pages (``dashboard/pages.py``).
PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): "tools.read",
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("GET", "/setup"): PUBLIC,
    ("POST", "/setup"): PUBLIC,
    ("POST", "/sign-out"): ENROL,
    ("GET", "/profile"): PERSON,
    ("POST", "/profile/password"): PERSON,
    ("POST", "/profile/totp"): PERSON,
    ("POST", "/profile/totp/confirm"): PERSON,
    ("GET", "/device"): PERSON,
    ("POST", "/device"): PERSON,
    ("GET", "/tokens"): "tokens.own",
    ("POST", "/tokens"): "tokens.own",
    ("POST", "/tokens/{token}/revoke"): "tokens.own",
    ("GET", "/install"): "tools.install",
    ("POST", "/install"): "tools.install",
    ("GET", "/tool/{tool}"): "tools.read",
    ("POST", "/tool/{tool}/operate"): "tools.operate",
    ("POST", "/tool/{tool}/remove"): "tools.remove",
    ("POST", "/tool/{tool}/config"): "tools.config",
    ("POST", "/tool/{tool}/settings"): "tools.config",
    ("POST", "/tool/{tool}/access"): "tools.access",
    ("POST", "/tool/{tool}/grants"): "tools.grants",
    ("POST", "/tool/{tool}/hook"): "tools.hooks",
    ("POST", "/tool/{tool}/notifications"): "tools.notifications",
    ("POST", "/tool/{tool}/domains"): "tools.domains",
    ("POST", "/settings/notifications"): "notifications.manage",
    # The core decides per channel (its tool's maintainers, or admins): else a 404.
    ("POST", "/notifications/{channel}"): SIGNED_IN,
    ("GET", "/operation/{op}"): "tools.read",
    ("POST", "/operation/{op}/cancel"): "tools.operate",
    ("GET", "/events"): "events.read",
    ("GET", "/people"): "users.read",
    ("POST", "/people/users"): "users.manage",
    ("POST", "/people/users/{user}"): "users.manage",
    ("POST", "/people/teams"): "users.manage",
    ("POST", "/people/teams/{team}/members"): "users.manage",
    ("GET", "/audit"): "audit.read",
    ("GET", "/plugins"): "plugins.read",
    ("GET", "/settings"): "settings.read",
}
ROUTES.update(PAGES)
ROUTES.update(
    {
        # The dashboard's files and live streams (answered like the API's).
        ("GET", "/static/{digest}/{name}"): PUBLIC,
        ("GET", "/operation/{op}/lines"): "tools.read",
        ("GET", "/operation/{op}/stream"): "tools.read",
        ("GET", "/tool/{tool}/logs/stream"): "tools.logs",
        ("GET", "/events/stream"): "events.read",
    }
)

#: Routes a client on loopback may use without credentials: a Prometheus on the same machine
#: scrapes without a token. Behind trusted proxies the address is the proxies' client's.
LOOPBACK: frozenset[tuple[str, str]] = frozenset({("GET", "/metrics")})

#: What plugins' routes declared, filled in by the app factory.
PLUGIN_ROUTES = web.AppKey("plugin_route_policy", dict)


#: A request's route key, worked out once (the sign-in, the pages, the metrics ask it).
ROUTE_KEY = web.RequestKey("route_key", tuple)


def route_key(request: web.Request) -> tuple[str, str] | None:
    known = request.get(ROUTE_KEY)
    if known is not None:
        return known
    info = request.match_info
    route = getattr(info, "route", None)
    if route is None or route.resource is None:
        return None
    canonical = route.resource.canonical.replace("{tail:.*}", "{tail}")
    key = (route.method, canonical)
    request[ROUTE_KEY] = key
    return key


def policy_for(request: web.Request) -> str | None:
    key = route_key(request)
    if key is None:
        return PUBLIC  # no route matched: the 404/405 answer reveals nothing
    if key in ROUTES:
        return ROUTES[key]
    plugin = request.app.get(PLUGIN_ROUTES, {})
    return plugin.get(key)
