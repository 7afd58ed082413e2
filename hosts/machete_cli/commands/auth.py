"""Choosing the server: ``machete login``, ``logout`` and ``auth status``/``switch``.

``login`` keeps a CLI-kind token per server in ``$XDG_CONFIG_HOME/machete/hosts.toml``
(0600) and makes that server current; every later command goes there (docs/cli.md)."""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import click

from machete_cli.client import hosts_file
from machete_cli.client.errors import RemoteError
from machete_cli.client.http import ApiClient, normalize_url
from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import emit_json


def _secret_line(what: str) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError(f"no {what} on standard input")
    return line


@click.command()
@click.argument("url")
@click.option("--username", "-u", help="Your name on the server (asked when not given).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (no prompt)."
)
@click.option("--with-token", is_flag=True, help="Read an API token from standard input instead.")
@click.option(
    "--device",
    is_flag=True,
    help="Print a code to approve on the dashboard (signed in there) instead of a password.",
)
@json_option
def login(
    url: str,
    username: str | None,
    password_stdin: bool,
    with_token: bool,
    device: bool,
    as_json: bool,
) -> None:
    """Sign in to the server at URL and make it the current one.

    Asks for your name and password (and your second-factor code when your account has one),
    and keeps a CLI token for that server (revoked by `machete logout`, by a password change
    and when your role changes). --with-token keeps a token you give instead (CI). --device
    prints a code and a link: approve it on the dashboard, where you are signed in.
    """
    url = normalize_url(url)
    if device:
        token, user = _device_sign_in(url)
    elif with_token:
        token = _secret_line("token")
        me = ApiClient(url, token).get("/api/auth/me")
        user = str(me.get("name") or "")
    else:
        token, user = _sign_in(url, username, password_stdin)
    path = hosts_file.remember(url, token, user)
    output(
        {"url": url, "user": user, "hosts_file": str(path)},
        as_json,
        lambda: click.echo(f"signed in to {url} as {user}; its token is kept in {path}"),
    )


def _sign_in(url: str, username: str | None, password_stdin: bool) -> tuple[str, str]:
    if password_stdin:
        if not username:
            raise click.UsageError("--password-stdin needs --username")
        password = _secret_line("password")
    else:
        if not sys.stdin.isatty():
            raise click.UsageError(
                "no terminal to ask for the password: pass --username and --password-stdin, "
                "or --with-token"
            )
        username = username or click.prompt("username", err=True)
        password = click.prompt("password", hide_input=True, err=True)
    client = ApiClient(url, None)
    request: dict[str, Any] = {
        "username": username,
        "password": password,
        "label": f"machete CLI on {socket.gethostname()}"[:100],
    }
    try:
        answer = client.call("POST", "/api/auth/token", data=request)
    except RemoteError as exc:
        if exc.code != "totp_required" or not sys.stdin.isatty():
            raise
        request["totp"] = click.prompt("second-factor code", err=True)
        answer = client.call("POST", "/api/auth/token", data=request)
    return str(answer["token"]), str(answer["user"])


def _device_sign_in(url: str) -> tuple[str, str]:
    """RFC 8628's device flow: show the code, poll at the server's interval until a person
    approves it (or refuses it, or it expires)."""
    client = ApiClient(url, None)
    label = f"machete CLI on {socket.gethostname()}"[:100]
    start = client.call("POST", "/api/auth/device", data={"label": label})
    click.echo(
        f"Open {start['verification_uri_complete']}\n"
        f"and approve the code {start['user_code']} "
        f"(it expires in {int(start['expires_in']) // 60} minutes). Waiting...",
        err=True,
    )
    interval = float(start["interval"])
    while True:
        time.sleep(interval)
        try:
            answer = client.call(
                "POST", "/api/auth/device/token", data={"device_code": start["device_code"]}
            )
        except RemoteError as exc:
            if exc.code == "authorization_pending":
                continue
            if exc.code == "slow_down":
                interval += 5  # what RFC 8628 asks of a client told to slow down
                continue
            raise
        return str(answer["token"]), str(answer["user"])


@click.command()
@click.argument("url", required=False)
@pass_ctx
def logout(obj: Context, url: str | None) -> None:
    """Revoke this CLI's token on the server (URL, or the current one) and forget it.

    A token given with `login --with-token` belongs to a person or a program: it is only
    forgotten here, not revoked."""
    hosts = hosts_file.load()
    url = normalize_url(url) if url else hosts.current
    entry = hosts.entries.get(url) if url else None
    if url is None or entry is None:
        raise click.UsageError(
            "not signed in to any server" if url is None else f"not signed in to {url}"
        )
    revoked = False
    try:
        answer = ApiClient(url, entry.token).call("POST", "/api/auth/logout")
        revoked = bool(answer.get("token_revoked"))
    except Exception as exc:  # the token is forgotten even when the server cannot be told
        click.secho(f"warning: {url} was not told ({exc}); forgetting the token anyway", err=True)
    hosts_file.forget(url)
    click.echo(f"signed out of {url}" + ("; its token is revoked" if revoked else ""))


@click.group()
def auth() -> None:
    """Which server the CLI talks to, and as whom: status, switch."""


@auth.command("status")
@json_option
@pass_ctx
def auth_status(obj: Context, as_json: bool) -> None:
    """Who you are, where: the server this CLI talks to now (or this machine's state)."""
    target = obj.target
    hosts = hosts_file.load()
    data: dict[str, Any] = {
        "mode": "local" if target.url is None else "client",
        "url": target.url,
        "via": target.via,
        "home": str(target.home),
        "user": None if target.url is None else obj.backend.whoami(),
        "hosts": [
            {"url": e.url, "user": e.user, "current": e.url == hosts.current}
            for e in sorted(hosts.entries.values())
        ],
    }
    if as_json:
        emit_json(data)
        return
    if target.url is None:
        click.echo(f"local mode: this machine's state at {target.home} (no server running)")
    else:
        me = data["user"]
        where = {
            "env": "from MACHETE_URL",
            "hosts": "the current server",
            "this-machine": f"the server on this machine's state {target.home}",
        }[target.via]
        role = f" ({me['role']})" if me.get("role") else ""
        click.echo(f"{target.url} ({where}): signed in as {me['kind']}:{me['name']}{role}")
    for entry in data["hosts"]:
        mark = "*" if entry["current"] else " "
        click.echo(f"{mark} {entry['url']}  {entry['user']}")


@auth.command("switch")
@click.argument("url")
def auth_switch(url: str) -> None:
    """Make URL (one signed in to before) the current server."""
    url = normalize_url(url)
    hosts_file.switch(url)
    click.echo(f"{url} is now the current server")
