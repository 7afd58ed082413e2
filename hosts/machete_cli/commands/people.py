"""People and programs: users, teams, grants, API tokens, the audit log.

Through a server as the signed-in person (client mode), or on the state directory as the
host's own ``local`` actor (local mode: whoever can read the state holds every key anyway)."""

from __future__ import annotations

import sys

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import emit_json, table, when

ROLES = click.Choice(["viewer", "operator", "maintainer", "admin", "owner"])


def _password(prompt: bool) -> str:
    """From standard input (its first line), never from an argument (shell history)."""
    if prompt and sys.stdin.isatty():
        return str(click.prompt("password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@click.group()
def users() -> None:
    """People and service accounts: add, list, set-role, disable, enable, reset-password."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLES, required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--service", is_flag=True, help="A service account (tokens only, for CI).")
@json_option
@pass_ctx
def users_add(
    obj: Context, name: str, role: str, password_stdin: bool, service: bool, as_json: bool
) -> None:
    """Add a person (with a password of at least 12 characters) or a service account."""
    password = None if service else _password(not password_stdin)
    user = obj.backend.add_user(name, role, password, service)
    output(
        user, as_json, lambda: click.echo(f"added {user['kind']} {user['name']} ({user['role']})")
    )


@users.command("list")
@json_option
@pass_ctx
def users_list(obj: Context, as_json: bool) -> None:
    found = obj.backend.users()
    output(
        {"users": found},
        as_json,
        lambda: table(
            ["NAME", "KIND", "ROLE", "DISABLED", "TOTP", "CREATED"],
            [
                [
                    u["name"],
                    u["kind"],
                    u["role"],
                    "yes" if u["disabled"] else "",
                    "on" if u["totp_enabled"] else "",
                    when(u["created_at"]),
                ]
                for u in found
            ],
        ),
    )


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLES)
@json_option
@pass_ctx
def users_set_role(obj: Context, name: str, role: str, as_json: bool) -> None:
    """Change a user's role (a demotion ends their sessions and CLI sign-ins)."""
    user = obj.backend.change_user(name, role=role)
    output(user, as_json, lambda: click.echo(f"{user['name']} is now {user['role']}"))


@users.command("disable")
@click.argument("name")
@json_option
@pass_ctx
def users_disable(obj: Context, name: str, as_json: bool) -> None:
    """Disable a user: their sessions end and their tokens stop working."""
    user = obj.backend.change_user(name, disabled=True)
    output(user, as_json, lambda: click.echo(f"{user['name']} is disabled"))


@users.command("enable")
@click.argument("name")
@json_option
@pass_ctx
def users_enable(obj: Context, name: str, as_json: bool) -> None:
    user = obj.backend.change_user(name, disabled=False)
    output(user, as_json, lambda: click.echo(f"{user['name']} is enabled"))


@users.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@pass_ctx
def users_reset_password(obj: Context, name: str, password_stdin: bool, as_json: bool) -> None:
    """Set a new password (ends the user's sessions and CLI sign-ins)."""
    user = obj.backend.reset_password(name, _password(not password_stdin))
    output(user, as_json, lambda: click.echo(f"new password set for {user['name']}"))


@click.group()
def teams() -> None:
    """Named groups of users that grants can name."""


@teams.command("list")
@json_option
@pass_ctx
def teams_list(obj: Context, as_json: bool) -> None:
    found = obj.backend.teams()
    output(
        {"teams": found},
        as_json,
        lambda: table(["TEAM", "MEMBERS"], [[t["name"], ", ".join(t["members"])] for t in found]),
    )


@teams.command("create")
@click.argument("name")
@json_option
@pass_ctx
def teams_create(obj: Context, name: str, as_json: bool) -> None:
    team = obj.backend.add_team(name)
    output(team, as_json, lambda: click.echo(f"team {team['name']} created"))


@teams.command("delete")
@click.argument("name")
@json_option
@pass_ctx
def teams_delete(obj: Context, name: str, as_json: bool) -> None:
    obj.backend.delete_team(name)
    output({"deleted": name}, as_json, lambda: click.echo(f"team {name} deleted"))


@teams.command("add")
@click.argument("team")
@click.argument("user")
@json_option
@pass_ctx
def teams_add(obj: Context, team: str, user: str, as_json: bool) -> None:
    """Add USER to TEAM."""
    obj.backend.set_member(team, user, True)
    output({"team": team, "added": user}, as_json, lambda: click.echo(f"{user} is in {team}"))


@teams.command("remove")
@click.argument("team")
@click.argument("user")
@json_option
@pass_ctx
def teams_remove(obj: Context, team: str, user: str, as_json: bool) -> None:
    obj.backend.set_member(team, user, False)
    output({"team": team, "removed": user}, as_json, lambda: click.echo(f"{user} left {team}"))


@click.command()
@click.argument("name")
@click.option("--tool", required=True, help="The tool the role is on.")
@click.option("--role", type=click.Choice(["viewer", "operator", "maintainer"]), required=True)
@click.option("--team", is_flag=True, help="NAME is a team.")
@json_option
@pass_ctx
def grant(obj: Context, name: str, tool: str, role: str, team: bool, as_json: bool) -> None:
    """Give user (or team) NAME a role on one tool (at most maintainer)."""
    obj.backend.grant(tool, role, user=None if team else name, team=name if team else None)
    output(
        {"tool": tool, "subject": name, "role": role},
        as_json,
        lambda: click.echo(f"{name} is {role} on {tool}"),
    )


@click.command()
@click.argument("name")
@click.option("--tool", required=True)
@click.option("--team", is_flag=True, help="NAME is a team.")
@json_option
@pass_ctx
def revoke(obj: Context, name: str, tool: str, team: bool, as_json: bool) -> None:
    """Take away the grant of user (or team) NAME on a tool."""
    obj.backend.grant(tool, None, user=None if team else name, team=name if team else None)
    output(
        {"tool": tool, "revoked": name},
        as_json,
        lambda: click.echo(f"{name} no longer has a grant on {tool}"),
    )


@click.group()
def tokens() -> None:
    """API tokens for programs (CI, scripts): create, list, revoke."""


@tokens.command("create")
@click.option("--name", required=True, help="A label (what the token is for).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="tools:read, tools:operate, tools:write, admin:read, admin:write, "
    "metrics:read (repeat for several).",
)
@click.option("--tool", "tools_", multiple=True, help="Restrict it to this tool (repeatable).")
@click.option("--expires", "days", type=int, default=None, help="Days it lasts (default 90).")
@click.option("--user", default=None, help="Whose token (a service account for CI).")
@json_option
@pass_ctx
def tokens_create(
    obj: Context,
    name: str,
    scopes: tuple[str, ...],
    tools_: tuple[str, ...],
    days: int | None,
    user: str | None,
    as_json: bool,
) -> None:
    """Print a new token alone on standard output: it is shown this once."""
    if user is None and not obj.target.remote:
        # This machine's local actor is nobody: a token must belong to someone.
        raise click.UsageError("on the host, name the token's owner with --user")
    made = obj.backend.create_token(name, scopes, tools_, days, user)
    if as_json:
        emit_json(made)
    else:
        click.echo(made["token"])


@tokens.command("list")
@click.option("--user", default=None)
@json_option
@pass_ctx
def tokens_list(obj: Context, user: str | None, as_json: bool) -> None:
    """Tokens (their id and last four characters; never the secret)."""
    found = obj.backend.tokens(user)
    output(
        {"tokens": found},
        as_json,
        lambda: table(
            ["ID", "USER", "NAME", "SCOPES", "TOOLS", "LAST 4", "EXPIRES", "LAST USED", "REVOKED"],
            [
                [
                    t["id"],
                    t["user"],
                    t["name"],
                    " ".join(t["scopes"]),
                    " ".join(t["tools"]),
                    t["last_four"],
                    when(t["expires_at"]),
                    f"{when(t['last_used_at'])} {t['last_used_from'] or ''}".strip(),
                    when(t["revoked_at"]) if t["revoked_at"] else "",
                ]
                for t in found
            ],
        ),
    )


@tokens.command("revoke")
@click.argument("token_id")
@json_option
@pass_ctx
def tokens_revoke(obj: Context, token_id: str, as_json: bool) -> None:
    obj.backend.revoke_token(token_id)
    output({"revoked": token_id}, as_json, lambda: click.echo(f"token {token_id} revoked"))


@click.command()
@click.option("--tool", default=None)
@click.option("--actor", default=None, help="An actor's name or id.")
@click.option("--since", type=float, default=None, help="Seconds ago (or a UNIX time).")
@click.option("--limit", type=int, default=1000)
@click.option("--jsonl", is_flag=True, help="JSON Lines, one row each (an export).")
@json_option
@pass_ctx
def audit(
    obj: Context,
    tool: str | None,
    actor: str | None,
    since: float | None,
    limit: int,
    jsonl: bool,
    as_json: bool,
) -> None:
    """The audit log: who did (or was refused) what, when, from where."""
    import json
    import time

    if since is not None and since < 1e9:
        since = time.time() - since
    rows = obj.backend.audit(tool, actor, since, limit)
    if jsonl:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    output(
        {"audit": rows},
        as_json,
        lambda: table(
            ["WHEN", "ACTOR", "ACTION", "TARGET", "OUTCOME", "FROM", "REASON"],
            [
                [
                    when(r["at"]),
                    f"{r['actor_kind']}:{r['actor_name']}",
                    r["action"],
                    r["target"] or "",
                    r["outcome"],
                    r["address"] or "",
                    (r["reason"] or "")[:60],
                ]
                for r in rows
            ],
        ),
    )
