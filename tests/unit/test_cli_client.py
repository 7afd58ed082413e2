"""The CLI as a client: which server it picks, the hosts file, and the errors a person can act
on (no server, TLS, another API version, a page that is not the API), each one line with a
code; in client mode it loads neither the core's state and pipeline nor any engine or Git
library; shell completion asks the server for tool names."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_cli.client import discovery, hosts_file
from machete_cli.client.target import resolve
from machete_cli.main import COMMANDS, _load
from machete_core.errors import InvalidInputError
from tests.support.cli import run_cli
from tests.support.fake_api import fake_api
from tests.support.ports import free_port


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for key in ("MACHETE_URL", "MACHETE_TOKEN", "MACHETE_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield {**os.environ}


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args, stdin=stdin, check=False)


def test_the_hosts_file_is_private_and_keeps_several_servers(clean_env: dict[str, str]) -> None:
    path = hosts_file.remember("https://a.example", "mch_cli_one", 'al"ice')
    hosts_file.remember("https://b.example", "mch_cli_two", "bob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    hosts = hosts_file.load()
    assert hosts.current == "https://b.example"
    assert hosts.entries["https://a.example"].user == 'al"ice'  # quoted, not injected
    hosts_file.switch("https://a.example")
    assert hosts_file.load().current_entry() == hosts.entries["https://a.example"]
    with pytest.raises(InvalidInputError, match=r"machete login https://c\.example"):
        hosts_file.switch("https://c.example")
    hosts_file.forget("https://a.example")
    assert hosts_file.load().current == "https://b.example"  # another one becomes current


def test_which_server(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "data" / "machete"
    # Nothing chosen and nothing running: local mode.
    assert resolve(local=False, home=None, home_from_option=False).url is None
    # A server running on the state directory is used, with its local credential.
    with fake_api() as (url, _answer):
        discovery.publish(state, url, "mchl_secret")
        assert stat.S_IMODE(discovery.server_file(state).stat().st_mode) == 0o600
        here = resolve(local=False, home=None, home_from_option=False)
        assert (here.url, here.token, here.via, here.remote) == (
            url,
            "mchl_secret",
            "this-machine",
            False,
        )
        assert resolve(local=True, home=None, home_from_option=False).url is None
        # A server signed in to with `machete login` wins over the one running here.
        hosts_file.remember("https://far.example", "mch_cli_far", "alice")
        far = resolve(local=False, home=None, home_from_option=False)
        assert (far.url, far.token, far.remote) == ("https://far.example", "mch_cli_far", True)
        assert far.login_hint == "machete login https://far.example"
        # ... unless a state directory is named.
        assert resolve(local=False, home=str(state), home_from_option=True).url == url
        # MACHETE_URL and MACHETE_TOKEN win over everything.
        monkeypatch.setenv("MACHETE_URL", "https://ci.example/")
        monkeypatch.setenv("MACHETE_TOKEN", "mch_sat_x")
        ci = resolve(local=False, home=None, home_from_option=False)
        assert (ci.url, ci.token) == ("https://ci.example", "mch_sat_x")
        discovery.withdraw(state, "not-ours")
        assert discovery.server_file(state).exists()  # only its own server removes it
        discovery.withdraw(state, "mchl_secret")
        assert not discovery.server_file(state).exists()


def test_a_dead_server_s_file_means_local_mode(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    discovery.publish(state, f"http://127.0.0.1:{free_port()}", "mchl_x")  # nobody listens
    assert resolve(local=False, home=str(state), home_from_option=True).url is None
    monkeypatch.setenv("MACHETE_TOKEN", "mch_pat_x")
    with pytest.raises(InvalidInputError, match="set MACHETE_URL"):
        resolve(local=False, home=str(state), home_from_option=True)


def test_errors_a_person_can_act_on(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = {**clean_env, "MACHETE_TOKEN": "mch_pat_x"}
    nobody = cli({**env, "MACHETE_URL": f"http://127.0.0.1:{free_port()}"}, "ls")
    assert nobody.returncode == 1
    assert nobody.stderr.startswith("error [server_unreachable]: no MACHETE server answers at")
    with fake_api() as (url, answer):
        answer.json({"tools": []})
        answer.headers["Machete-API-Version"] = "2"
        newer = cli({**env, "MACHETE_URL": url}, "ls")
        assert newer.returncode == 1 and newer.stderr.count("\n") == 1
        assert newer.stderr.startswith("error [api_version_mismatch]: the server at")
        del answer.headers["Machete-API-Version"]
        answer.status, answer.body = 502, b"<html>Bad Gateway</html>"
        proxy = cli({**env, "MACHETE_URL": url}, "ls")
        assert proxy.returncode == 1 and proxy.stderr.startswith("error [bad_response]")
        answer.headers["Machete-API-Version"] = "1"
        answer.json(
            {
                "success": False,
                "error": {"code": "unauthenticated", "message": "this token has expired"},
            },
            401,
        )
        expired = cli({**env, "MACHETE_URL": url}, "ls")
        assert (
            expired.stderr
            == f"error [unauthenticated]: this token has expired: run machete login {url}\n"
        )
        assert "Traceback" not in newer.stderr + proxy.stderr + expired.stderr
        assert answer.requests[-1][2]["Machete-API-Version"] == "1"  # the client says its own


def test_a_tls_failure_is_one_line(clean_env: dict[str, str], tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with fake_api(context) as (url, answer):
        answer.json({"tools": []})
        env = {**clean_env, "MACHETE_URL": url, "MACHETE_TOKEN": "mch_pat_x"}
        refused = cli(env, "ls")
        assert refused.returncode == 1
        assert (
            refused.stderr.startswith("error [tls_failed]: TLS with")
            and "SSL_CERT_FILE" in refused.stderr
        )
        # The fix the message names: trust the server's CA.
        trusted = cli({**env, "SSL_CERT_FILE": str(cert)}, "ls", "--json")
        assert (trusted.returncode, json.loads(trusted.stdout)) == (0, [])


def test_client_mode_loads_no_core_state_engine_or_git(clean_env: dict[str, str]) -> None:
    with fake_api() as (url, answer):
        answer.json(
            {
                "tools": [
                    {"name": "a", "status": "running", "release": 1, "url": "u", "source_url": "s"}
                ]
            }
        )
        env = {**clean_env, "MACHETE_URL": url, "MACHETE_TOKEN": "mch_pat_x"}
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "machete_cli", "ls"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    assert out.stdout.splitlines()[1].split() == ["a", "running", "1", "u", "s"]
    loaded = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    heavy = ("sqlalchemy", "docker", "dulwich", "aiohttp", "websockets", "alembic", "cattrs")
    found = sorted(m for m in loaded if m.split(".")[0] in heavy)
    found += sorted(
        m
        for m in loaded
        if m.startswith(("machete_core.pipeline", "machete_core.state", "machete_plugins"))
    )
    assert found == []


@pytest.mark.parametrize("command", ["status", "deploy", "rm", "set"])
def test_shell_completion_asks_the_server_for_tool_names(
    clean_env: dict[str, str], command: str
) -> None:
    with fake_api() as (url, answer):
        answer.json({"tools": [{"name": "alpha"}, {"name": "beta"}, {"name": "alps"}]})
        env = {
            **clean_env,
            "MACHETE_URL": url,
            "MACHETE_TOKEN": "mch_pat_x",
            "_MACHETE_COMPLETE": "bash_complete",
            "COMP_WORDS": f"machete {command} al",
            "COMP_CWORD": "2",
        }
        out = subprocess.run(
            [sys.executable, "-c", "from machete_cli.main import cli; cli(prog_name='machete')"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    assert out.stdout.split() == ["plain,alpha", "plain,alps"]


def test_the_help_table_says_what_each_command_says() -> None:
    """``machete --help`` reads COMMANDS instead of importing every command."""
    for target, short_help in COMMANDS.values():
        assert _load(target).get_short_help_str(80) == short_help, target


def test_login_with_a_token_and_logout_forgets_it(clean_env: dict[str, str]) -> None:
    with fake_api() as (url, answer):
        answer.json({"name": "ci", "kind": "service", "role": "operator", "token": None})
        done = cli(clean_env, "login", url, "--with-token", stdin="mch_sat_given\n")
        assert done.returncode == 0 and "signed in to" in done.stdout
        kept = hosts_file.load().entries[url]
        assert (kept.token, kept.user) == ("mch_sat_given", "ci")
        answer.json({"signed_out": True, "token_revoked": False})
        out = cli(clean_env, "logout")
        assert out.stdout.strip() == f"signed out of {url}"  # a given token is only forgotten
        assert hosts_file.load().entries == {}
        assert answer.requests[-1][:2] == ("POST", "/api/auth/logout")
        no_terminal = cli(clean_env, "login", url)
        assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr


def test_json_documents_carry_no_envelope(clean_env: dict[str, str]) -> None:
    with fake_api() as (url, answer):
        answer.json({"tools": []})
        env = {**clean_env, "MACHETE_URL": url, "MACHETE_TOKEN": "mch_pat_x"}
        assert json.loads(cli(env, "ls", "--json").stdout) == []
