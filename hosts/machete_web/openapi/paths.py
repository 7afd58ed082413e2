"""Every operation of the HTTP API, described: the table the OpenAPI document is built from.

Keys are the route tables' ``(method, path)``; ``POST /api/tools/{tool}/{action}`` is listed
once per action, as clients call it. Bodies and answers are the records of
``machete_web.schemas`` and the core where handlers use them, else JSON Schemas written here.
The tests fail when a route of the app is missing here or an answer the suite sees does not
match what is written here.
"""

from __future__ import annotations

from typing import Any

from machete_core.domain.operations import StepProgress
from machete_core.plugins.records import PluginInfo
from machete_core.state.people_views import AuditRecord, GrantRecord
from machete_core.state.views import EventRecord
from machete_web import schemas as s
from machete_web.openapi.domain_paths import DOMAIN_OPERATIONS
from machete_web.openapi.notification_paths import NOTIFICATION_OPERATIONS
from machete_web.openapi.operation import Link, Op, Query

_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_MAYBE_STR = {"type": ["string", "null"]}
_MAYBE_NUM = {"type": ["number", "null"]}
_STRINGS = {"type": "array", "items": _STR}


def obj(**properties: Any) -> dict[str, Any]:
    """A closed object whose fields are all present."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def body(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    """A request object: the named fields required, no others accepted."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def limit(default: int, most: int, what: str) -> Query:
    return Query(
        "limit", {"type": "integer", "minimum": 1, "maximum": most, "default": default}, what
    )


USER = obj(name=_STR, kind=_STR, role=_STR, disabled=_BOOL, totp_enabled=_BOOL, created_at=_NUM)
TOKEN = obj(
    id=_STR,
    prefix=_STR,
    kind=_STR,
    user=_STR,
    name=_STR,
    last_four=_STR,
    scopes=_STRINGS,
    tools=_STRINGS,
    created_by=_MAYBE_STR,
    created_at=_NUM,
    expires_at=_MAYBE_NUM,
    revoked_at=_MAYBE_NUM,
    last_used_at=_MAYBE_NUM,
    last_used_from=_MAYBE_STR,
)
SIGNED_IN = obj(user=_STR, role=_STR, must_enrol_totp=_BOOL)
NEW_CLI_TOKEN = obj(token=_STR, user=_STR, record=ref("Token"))
TEAM = obj(name=_STR, members=_STRINGS, created_at=_NUM)
GRANTS = obj(grants={"type": "array", "items": ref("GrantRecord")})
#: The original API's spellings (``api/legacy.py``): kept, marked deprecated.
LEGACY = {
    ("GET", "/health"),
    ("GET", "/api/health/"),
    ("GET", "/api/tools/"),
    ("POST", "/api/tools/"),
    ("POST", "/api/tools/install"),
}
#: Components written here (the rest are generated from records).
WRITTEN = {"User": USER, "Token": TOKEN}
#: Records used only inside written schemas, generated too.
RECORDS = (GrantRecord, AuditRecord, EventRecord, StepProgress, PluginInfo)

T = "/api/tools/{tool}"
OP = "/api/operations/{op}"
_BAD_SIGN_IN = {401: "Wrong name, password or code (`unauthenticated`)."}
_WAIT = Query(
    "wait",
    {"type": "integer", "minimum": 0, "maximum": 600, "default": 0},
    "Seconds to wait for a busy tool instead of answering 409.",
)
_BUSY = {409: "The tool is busy with another operation (`tool_busy`)."}
INGRESS_FAILED = {
    502: "The ingress did not take the tool's new route (`ingress_failed`): the change is "
    "saved and the reconciler publishes it when the ingress answers."
}
_OFFSET = Query(
    "offset", {"type": "integer", "minimum": 0, "default": 0}, "A byte offset in the log."
)


#: Where an accepted operation is followed.
_FOLLOW = {
    "operation": Link("GET", "/api/operations/{op}", "op", "$response.body#/operation_id"),
    "cancel": Link("POST", "/api/operations/{op}/cancel", "op", "$response.body#/operation_id"),
}


def _action(summary: str, request: type[Any] | None = None) -> Op:
    return Op(
        summary,
        "operate",
        status=202,
        response=s.Accepted,
        body=request,
        body_optional=True,
        query=(_WAIT,),
        errors=_BUSY,
        links=_FOLLOW,
    )


_SERVER_HEALTH = Op("The server's health", "system", response=s.ServerHealth)
_LIST_TOOLS = Op(
    "The tools you may see",
    "tools",
    response=obj(tools={"type": "array", "items": ref("ToolView")}),
)
_INSTALL = Op(
    "Install a tool from a Git repository or an archive",
    "tools",
    status=202,
    response=s.Accepted,
    body=s.InstallRequest,
    uploads=("application/gzip", "application/x-tar", "application/zip"),
    query=(
        Query("name", _STR, "Upload only: the tool's name (else the archive's)."),
        Query("filename", _STR, "Upload only: the archive's file name (tells its format)."),
    ),
    links=_FOLLOW,
    errors={
        408: "The upload was too slow (`upload_timeout`).",
        409: "A tool of that name exists (`tool_exists`).",
        413: "The body is too large.",
        507: "The server's disk is too full to take the archive (`disk_full`).",
    },
    description="A JSON body names a source; an archive body (upload) is streamed with limits.",
)

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/health"): _SERVER_HEALTH,
    ("GET", "/api/health"): _SERVER_HEALTH,
    ("GET", "/api/health/"): _SERVER_HEALTH,
    ("GET", "/api/health/db"): Op("The database's health", "system", response=s.DatabaseHealth),
    ("GET", "/api/openapi.json"): Op("This document", "system", response={"type": "object"}),
    # sign-in
    ("POST", "/api/auth/login"): Op(
        "Sign in: a session cookie",
        "auth",
        errors=_BAD_SIGN_IN,
        body=body(("username", "password"), username=_STR, password=_STR, totp=_STR),
        response=SIGNED_IN,
    ),
    ("POST", "/api/auth/token"): Op(
        "A CLI token for a user's name and password",
        "auth",
        errors=_BAD_SIGN_IN,
        status=201,
        body=body(("username", "password"), username=_STR, password=_STR, totp=_STR, label=_STR),
        response=NEW_CLI_TOKEN,
    ),
    ("POST", "/api/auth/device"): Op(
        "Start a device login (the CLI shows the code to approve)",
        "auth",
        status=201,
        body=body(label=_STR),
        body_optional=True,
        response=obj(
            device_code=_STR,
            user_code=_STR,
            verification_uri=_STR,
            verification_uri_complete=_STR,
            expires_in=_INT,
            interval=_INT,
        ),
    ),
    ("POST", "/api/auth/device/token"): Op(
        "The CLI token of an approved device login",
        "auth",
        status=201,
        body=body(("device_code",), device_code=_STR),
        response=NEW_CLI_TOKEN,
        errors={
            400: "Not yet approved (`authorization_pending`), or too late (`expired_token`).",
            403: "The person denied it (`access_denied`).",
        },
    ),
    ("POST", "/api/auth/setup"): Op(
        "Make the first owner with the one-time setup token",
        "auth",
        status=201,
        body=body(("token", "username", "password"), token=_STR, username=_STR, password=_STR),
        response=SIGNED_IN,
        errors={**_BAD_SIGN_IN, 409: "An owner exists already."},
    ),
    ("POST", "/api/auth/logout"): Op(
        "Sign out (a CLI token signs out by being revoked)",
        "auth",
        response=obj(signed_out=_BOOL, token_revoked=_BOOL),
    ),
    ("GET", "/api/auth/me"): Op(
        "Who you are",
        "auth",
        response=obj(
            name=_STR,
            kind=_STR,
            role=_MAYBE_STR,
            token={
                "anyOf": [
                    obj(id=_STR, scopes=_STRINGS, tools=_STRINGS),
                    {"type": "null"},
                ]
            },
            must_enrol_totp=_BOOL,
        ),
    ),
    ("POST", "/api/auth/password"): Op(
        "Change your password",
        "auth",
        body=body(("current", "new"), current=_STR, new=_STR),
        response=obj(changed=_BOOL),
    ),
    ("POST", "/api/auth/totp"): Op(
        "Start enrolling a second factor", "auth", response=obj(otpauth_uri=_STR)
    ),
    ("POST", "/api/auth/totp/confirm"): Op(
        "Confirm the second factor with a code",
        "auth",
        body=body(("code",), code=_STR),
        response=obj(totp_enabled=_BOOL),
    ),
    # tools
    ("GET", "/api/plugins"): Op(
        "Plugins and their providers",
        "system",
        response=obj(plugins={"type": "array", "items": ref("PluginInfo")}),
    ),
    ("GET", "/api/tools"): _LIST_TOOLS,
    ("GET", "/api/tools/"): _LIST_TOOLS,
    ("POST", "/api/tools"): _INSTALL,
    ("POST", "/api/tools/"): _INSTALL,
    ("POST", "/api/tools/install"): Op(
        "Install (the original API's spelling: `git_url`, `branch`)",
        "tools",
        status=202,
        response=s.Accepted,
        body={"type": "object"},
        errors={409: "A tool of that name exists (`tool_exists`)."},
    ),
    ("GET", T): Op("One tool", "tools", response=s.ToolEnvelope),
    ("PATCH", T): Op(
        "Change a tool's settings", "tools", body=s.ToolPatch, response=s.ToolEnvelope
    ),
    ("DELETE", T): Op(
        "Remove a tool",
        "operate",
        status=202,
        response=s.Accepted,
        query=(_WAIT, Query("purge", _STR, "`true` also deletes its volumes' data.")),
        errors=_BUSY,
    ),
    ("GET", T + "/status"): Op("A tool's status", "tools", response=s.ToolStatus),
    ("GET", T + "/health"): Op("Probe a tool's health now", "tools", response=s.ToolHealth),
    ("GET", T + "/health/history"): Op(
        "A tool's recent health checks",
        "tools",
        response=s.HealthHistory,
        query=(limit(100, 1000, "How many, newest first."),),
    ),
    ("GET", T + "/releases"): Op("A tool's releases", "tools", response=s.Releases),
    ("GET", T + "/operations"): Op("A tool's operations", "tools", response=s.Operations),
    ("GET", T + "/logs"): Op(
        "The last lines of a tool's output",
        "tools",
        response=s.LogLines,
        query=(Query("tail", {"type": "integer", "minimum": 0, "maximum": 100000}, "Lines."),),
    ),
    ("GET", T + "/logs/follow"): Op(
        "Follow a tool's output (WebSocket of text lines)", "tools", websocket=True
    ),
    ("POST", T + "/deploy"): Op(
        "Build the tracked ref's newest revision and switch to it",
        "operate",
        status=202,
        response=s.Accepted,
        body=s.ActionRequest,
        body_optional=True,
        uploads=("application/gzip", "application/x-tar", "application/zip"),
        query=(_WAIT,),
        errors={**_BUSY, 413: "The uploaded archive is too large."},
        links=_FOLLOW,
    ),
    ("POST", T + "/build"): _action("Build without switching", s.ActionRequest),
    ("POST", T + "/start"): _action("Start the current release"),
    ("POST", T + "/stop"): _action("Stop the tool"),
    ("POST", T + "/restart"): _action("Restart the current release"),
    ("POST", T + "/rollback"): _action("Go back to an earlier release", s.ActionRequest),
    ("POST", T + "/scale"): _action("Run a number of copies", s.ActionRequest),
    ("GET", T + "/config"): Op("A tool's configuration", "config", response=s.ConfigList),
    ("PUT", T + "/config"): Op(
        "Set configuration values (deploys them when the tool runs)",
        "config",
        body=s.ConfigChange,
        response=s.ConfigSaved,
        errors={202: "Saved, and a deploy of it started.", **_BUSY},
    ),
    ("DELETE", T + "/config/{key}"): Op(
        "Remove one configuration value",
        "config",
        response=s.ConfigSaved,
        errors={202: "Removed, and a deploy without it started.", **_BUSY},
    ),
    ("PUT", T + "/access"): Op(
        "Who may open the tool's pages",
        "access",
        body=body(("access",), access={"enum": ["public", "members", "granted"]}),
        response=s.ToolEnvelope,
        errors=INGRESS_FAILED,
    ),
    ("GET", T + "/grants"): Op("Grants on a tool", "access", response=GRANTS),
    ("PUT", T + "/grants"): Op(
        "Grant a user or a team a role on a tool",
        "access",
        body=body(("role",), role=_STR, user=_STR, team=_STR),
        response=GRANTS,
    ),
    ("DELETE", T + "/grants/{kind}/{name}"): Op(
        "Revoke a grant", "access", response=obj(revoked=_STR)
    ),
    # operations and events
    ("GET", "/api/operations"): Op(
        "Recent operations",
        "operations",
        response=s.Operations,
        query=(limit(50, 500, "How many, newest first."),),
    ),
    ("GET", OP): Op("One operation", "operations", response=s.OperationEnvelope),
    ("GET", OP + "/log"): Op(
        "An operation's log from an offset",
        "operations",
        response=s.OperationLogChunk,
        query=(_OFFSET,),
    ),
    ("GET", OP + "/log/follow"): Op(
        "Follow an operation's log (WebSocket of text lines)",
        "operations",
        query=(_OFFSET,),
        websocket=True,
    ),
    ("GET", OP + "/progress"): Op(
        "Follow an operation's steps and lines (WebSocket of JSON messages)",
        "operations",
        websocket=True,
    ),
    ("POST", OP + "/cancel"): Op(
        "Cancel a running operation",
        "operations",
        status=202,
        response=s.Cancelling,
        errors={409: "The operation has ended already (`operation_ended`)."},
    ),
    ("GET", "/api/events"): Op(
        "Lifecycle events: the newest as JSON, or followed over a WebSocket",
        "operations",
        websocket=True,
        response=obj(events={"type": "array", "items": ref("EventRecord")}, last_id=_INT),
        query=(
            Query("last", {"type": "integer", "minimum": 0, "maximum": 10000}, "How many."),
            Query("after", {"type": "integer", "minimum": 0}, "WebSocket: replay after this id."),
            Query("tool", _STR, "One tool's events only."),
        ),
    ),
    # people and programs
    ("GET", "/api/users"): Op(
        "Users and service accounts",
        "people",
        response=obj(users={"type": "array", "items": ref("User")}),
    ),
    ("POST", "/api/users"): Op(
        "Add a user or a service account",
        "people",
        status=201,
        body=body(("name", "role"), name=_STR, role=_STR, password=_STR, service=_BOOL),
        response=obj(user=ref("User")),
        errors={409: "The name is taken."},
        links={
            "change": Link("PATCH", "/api/users/{user}", "user", "$response.body#/user/name"),
            "password": Link(
                "POST", "/api/users/{user}/password", "user", "$response.body#/user/name"
            ),
        },
    ),
    ("PATCH", "/api/users/{user}"): Op(
        "Change a user's role or disable them",
        "people",
        body=body(role=_STR, disabled=_BOOL),
        response=obj(user=ref("User")),
        errors={409: "The last owner cannot be demoted or disabled."},
    ),
    ("POST", "/api/users/{user}/password"): Op(
        "Set a user's password",
        "people",
        body=body(("password",), password=_STR),
        response=obj(user=ref("User")),
    ),
    ("GET", "/api/teams"): Op(
        "Teams", "people", response=obj(teams={"type": "array", "items": TEAM})
    ),
    ("POST", "/api/teams"): Op(
        "Add a team",
        "people",
        status=201,
        body=body(("name",), name=_STR),
        response=obj(team=obj(name=_STR, members=_STRINGS)),
        errors={409: "The name is taken."},
        links={"delete": Link("DELETE", "/api/teams/{team}", "team", "$response.body#/team/name")},
    ),
    ("DELETE", "/api/teams/{team}"): Op("Delete a team", "people", response=obj(deleted=_STR)),
    ("PUT", "/api/teams/{team}/members/{user}"): Op(
        "Add a user to a team", "people", response=obj(team=_STR, added=_STR)
    ),
    ("DELETE", "/api/teams/{team}/members/{user}"): Op(
        "Take a user out of a team", "people", response=obj(team=_STR, removed=_STR)
    ),
    ("GET", "/api/tokens"): Op(
        "API tokens (your own; an admin may name a user)",
        "people",
        response=obj(tokens={"type": "array", "items": ref("Token")}),
        query=(Query("user", _STR, "Admins: another user's tokens."),),
    ),
    ("POST", "/api/tokens"): Op(
        "Make an API token (its text is in this answer only)",
        "people",
        status=201,
        body=body(
            ("name", "scopes"),
            name=_STR,
            scopes=_STRINGS,
            tools=_STRINGS,
            expires_days={"type": ["integer", "null"]},
            user=_STR,
        ),
        response=obj(token=_STR, record=ref("Token")),
        links={
            "revoke": Link("DELETE", "/api/tokens/{token}", "token", "$response.body#/record/id")
        },
    ),
    ("DELETE", "/api/tokens/{token}"): Op("Revoke a token", "people", response=obj(revoked=_STR)),
    # deploy triggers
    ("POST", "/api/hooks/{hook}"): Op(
        "A Git host's push delivery (GitHub, GitLab, Gitea, Forgejo, or the generic form)",
        "hooks",
        status=202,
        response=s.DeliveryAnswer,
        body={"type": "object"},
        body_optional=True,
        errors={
            200: "Recorded without a deploy: a ping, an ignored event or ref, a duplicate.",
            401: "The signature does not match the webhook's secret (`bad_signature`).",
            413: "The delivery is larger than 1 MiB (refused before any HMAC work).",
        },
        description="Authenticated by the signature over the raw body (see docs/hooks.md).",
    ),
    ("GET", T + "/hook"): Op("A tool's webhook and polling", "hooks", response=s.HookEnvelope),
    ("PUT", T + "/hook"): Op(
        "Turn a tool's webhook on (its secret is in this answer the first time only)",
        "hooks",
        response=s.HookWithSecret,
    ),
    ("DELETE", T + "/hook"): Op("Turn a tool's webhook off", "hooks", response=s.HookEnvelope),
    ("POST", T + "/hook/rotate"): Op(
        "A new webhook secret (the old one stays good for `grace` seconds)",
        "hooks",
        body=s.RotateRequest,
        body_optional=True,
        response=s.HookWithSecret,
    ),
    ("PUT", T + "/hook/poll"): Op(
        "Poll a tool's source every `seconds` (or null: off)",
        "hooks",
        body=s.PollRequest,
        response=s.HookEnvelope,
    ),
    ("GET", T + "/hook/deliveries"): Op(
        "A tool's recent webhook deliveries",
        "hooks",
        response=s.Deliveries,
        query=(limit(50, 500, "How many, newest first."),),
    ),
    ("GET", "/api/audit"): Op(
        "The audit log",
        "people",
        response=obj(audit={"type": "array", "items": ref("AuditRecord")}),
        query=(
            Query("tool", _STR, "One tool's rows."),
            Query("actor", _STR, "One actor's rows (`kind:name` or a name)."),
            Query("since", _STR, "Seconds ago, or a UNIX time."),
            Query("after", {"type": "integer", "minimum": 0}, "Rows after this id."),
            limit(1000, 100000, "How many."),
            Query("format", {"enum": ["json", "jsonl"]}, "`jsonl`: one JSON row per line."),
        ),
        alternatives={"application/x-ndjson": {"type": "string"}},
    ),
}
OPERATIONS.update(NOTIFICATION_OPERATIONS)
OPERATIONS.update(DOMAIN_OPERATIONS)
