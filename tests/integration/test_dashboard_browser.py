"""The dashboard in a real Chromium (Debian's, driven by Playwright) against a real
``machete serve`` and real tools built from Git on the engine (issue 15).

An owner signs in, installs a tool and watches its log arrive on the operation page, sees it
appear on the Tools page without a reload, opens it, deploys a good change and then a failing
one (the reason shown, the good release still serving), rolls back from the releases table,
sets a secret that appears in no page and no response, stops and starts it, follows its output
live and removes it. A viewer is offered no action and the server refuses the forms anyway;
without JavaScript the forms still do everything; axe-core finds nothing on any page; a
keyboard deploys; and a 100,000-line log streams into a bounded page.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import request
from tests.support.images import http_tool_files
from tests.support.people import PASSWORD
from tests.support.server import call, running_server, tools_base, wait_op

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "dashboard-secret-4b1d9"
#: Set to a folder to keep the suite's screenshots (docs/images/ for docs/dashboard.md).
SHOTS = os.environ.get("MACHETE_SCREENSHOTS")
UI = (
    "ui:\n  icon: \N{GLOBE WITH MERIDIANS}\n  color: '#2b7a78'\n"
    "  routes:\n    - path: /\n      title: Home\n    - path: /health\n"
    "      title: Health\n      description: the health endpoint\n"
)


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[str]:
    with running_server(env) as (base, _proc):
        for name, role in (("olive", "owner"), ("vic", "viewer")):
            status, body = call(
                "POST", f"{base}/api/users", {"name": name, "role": role, "password": PASSWORD}
            )
            assert status == 201, body
        yield base


@contextmanager
def chromium(javascript: bool = True) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#signin button")
    page.wait_for_url(f"{base}/")


def repo(git_server: GitHTTPServer, files: dict[str, str]) -> tuple[str, Path]:
    name = f"dash{uuid.uuid4().hex[:8]}"
    work = make_repo(git_server.root, name, files)
    return git_server.url(f"{name}.git"), work


def tool_files(body: str) -> dict[str, str]:
    """The busybox HTTP tool with a category and the manifest's ``ui`` block."""
    files = http_tool_files(body, extra_manifest="  category: devops\n")
    files["machete.yml"] += UI
    return files


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def wait_status(page: Page, status: str, timeout: float = 180_000) -> None:
    """Until the operation's badge (updated live, or on each load without a script) says it
    has ended, then that it ended as ``status``. Locators only: the pages' policy forbids
    the evaluated strings of ``wait_for_function``."""
    from playwright.sync_api import expect

    done = re.compile(r"^\s*(succeeded|failed|cancelled)\s*$")
    expect(page.locator("#op-status")).to_have_text(done, timeout=timeout)
    assert page.locator("#op-status").inner_text().strip() == status, page.content()[-3000:]


def served(base: str, name: str) -> str:
    status, body = request(f"{tools_base(base)}/tools/{name}/", timeout=10)
    return f"{status} {body.decode(errors='replace').strip()}"


def install_through_page(page: Page, base: str, url: str, name: str) -> str:
    page.goto(f"{base}/install")
    page.fill("#url", url)
    page.fill("#name", name)
    page.click("#install-form button[type=submit]")
    page.wait_for_url("**/operation/*")
    return page.url.rsplit("/", 1)[-1]


def test_an_owner_runs_a_tool_from_the_dashboard(server: str, git_server: GitHTTPServer) -> None:
    base = server
    url, work = repo(git_server, tool_files("version one"))
    responses: list[str] = []
    with chromium() as browser:
        context = browser.new_context()
        tools_tab = context.new_page()
        sign_in(tools_tab, base, "olive")
        tools_tab.evaluate("window.__noReload = true")
        events_tab = context.new_page()
        events_tab.goto(f"{base}/events")
        events_tab.evaluate("window.__noReload = true")
        page = context.new_page()
        page.on("response", lambda r: responses.append(_body(r)))
        violations: list[str] = []
        for tab in (tools_tab, events_tab, page):
            tab.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
        op_id = install_through_page(page, base, url, "web")
        # The log arrives while the operation runs: lines are added without a navigation.
        page.evaluate("window.__noReload = true")
        page.locator(".log .line").nth(3).wait_for()
        wait_status(page, "succeeded")
        assert page.evaluate("window.__noReload") is True
        assert page.locator("#steps li").count() >= 3
        # The whole log is on the page: nothing earlier to load.
        assert not page.locator("button", has_text="Load earlier lines").is_visible()
        shot(page, "operation")
        # The Tools page, untouched since, shows the tool: an event refreshed its list.
        tools_tab.wait_for_selector("li[data-tool=web] .badge.status-running", timeout=30_000)
        assert tools_tab.evaluate("window.__noReload") is True
        # The Events page, open since before the install, has its events, live.
        events_tab.locator("#event-rows tr", has_text="web").first.wait_for(timeout=30_000)
        assert events_tab.evaluate("window.__noReload") is True
        card = tools_tab.locator("li[data-tool=web]")
        assert "\N{GLOBE WITH MERIDIANS}" in card.inner_text() and "web" in card.inner_text()
        assert card.locator("a", has_text="Health").count() == 1
        shot(tools_tab, "tools")
        # Open: through the ticket, on the tools' own origin.
        with context.expect_page() as opened:
            card.locator("a", has_text="Open").click(modifiers=["Control"])
        tool_page = opened.value
        tool_page.wait_for_load_state()
        assert "version one" in tool_page.content()
        tool_page.close()

        # A good change, then a failing one: the reason is shown and v2 keeps serving.
        commit_and_push(work, {"www/index.html": "version two\n"})
        page.goto(f"{base}/tool/web")
        page.click("button[data-action=deploy]")
        page.wait_for_url("**/operation/*")
        wait_status(page, "succeeded")
        # A secret: set through the form (a new release), then never seen again.
        page.goto(f"{base}/tool/web")
        page.fill("#config-key", "API_KEY")
        page.fill("#config-value", SECRET)
        page.check("#config-secret")
        page.click("#config-form button[type=submit]")
        page.wait_for_url("**/operation/*")
        wait_status(page, "succeeded")
        page.goto(f"{base}/tool/web")
        assert "API_KEY" in page.content() and "user:olive" in page.content()
        shot(page, "tool")

        _break_health(work)
        page.goto(f"{base}/tool/web")
        page.click("button[data-action=deploy]")
        page.wait_for_url("**/operation/*")
        wait_status(page, "failed")
        failure = page.locator("#failure")
        failure.wait_for(state="visible")
        assert "health" in failure.inner_text().lower()
        shot(page, "operation-failed")
        assert served(base, "web") == "200 version two"

        # Roll back to release 1 from the releases table.
        page.goto(f"{base}/tool/web")
        page.click("button:has-text('Roll back to #1')")
        page.wait_for_url("**/operation/*")
        wait_status(page, "succeeded")
        assert served(base, "web") == "200 version one"

        # Stop and start from the header.
        for action, status in (("stop", "stopped"), ("start", "running")):
            page.goto(f"{base}/tool/web")
            page.click(f"button[data-action={action}]")
            page.wait_for_url("**/operation/*")
            wait_status(page, "succeeded")
            page.goto(f"{base}/tool/web")
            assert page.locator("#tool-status").inner_text().strip() == status

        # The tool's output, live: requests to the tool show up without a reload (busybox
        # httpd logs each answer), and the filter keeps only the matching lines.
        page.goto(f"{base}/tool/web")
        lines = page.locator("live-log .line")
        lines.first.wait_for()
        page.evaluate("window.__noReload = true")
        before = lines.count()
        for _ in range(3):
            request(f"{tools_base(base)}/tools/web/missing-page", timeout=10)
        lines.nth(before).wait_for(timeout=30_000)
        assert page.evaluate("window.__noReload") is True
        page.fill("live-log input[type=search]", "response:404")
        visible = page.locator("live-log .line:visible")
        assert visible.count() >= 1
        assert all("response:404" in t for t in visible.all_inner_texts())

        for path in ("/events", "/people", "/audit", "/plugins", "/settings", "/install"):
            page.goto(base + path)
            shot(page, path.strip("/"))

        # Remove, typing the name.
        page.goto(f"{base}/tool/web")
        page.fill("#confirm", "web")
        page.click("button:has-text('Remove web')")
        page.wait_for_url("**/operation/*")
        wait_status(page, "succeeded")
        tools_tab.wait_for_selector("li[data-tool=web]", state="detached", timeout=30_000)
        context.close()
    assert violations == [], violations
    assert op_id
    assert not [r for r in responses if SECRET in r], "the secret came back in a response"


def _break_health(work: Path) -> None:
    """The next release answers its health path with 404: the gate fails it."""
    (work / "www" / "health").unlink()
    from tests.support.git_server import git

    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "break health", cwd=work)
    git("push", "-q", "served", "main", cwd=work)


def _body(response: Any) -> str:
    try:
        if "event-stream" in (response.headers.get("content-type") or ""):
            return ""
        return str(response.text())
    except Exception:
        return ""


def install_api(base: str, url: str, name: str) -> None:
    status, body = call("POST", f"{base}/api/tools", {"url": url, "name": name})
    assert status == 202, body
    assert wait_op(base, body["operation_id"])["status"] == "succeeded"


def test_a_viewer_is_offered_no_action_and_the_forms_are_refused(
    server: str, git_server: GitHTTPServer
) -> None:
    base = server
    url, _work = repo(git_server, tool_files("for viewers"))
    install_api(base, url, "shown")
    ops_before = len(call("GET", f"{base}/api/operations")[1]["operations"])
    with chromium() as browser:
        page = browser.new_page()
        sign_in(page, base, "vic")
        page.locator("li[data-tool=shown]").wait_for()
        assert page.locator("nav a", has_text="Install").count() == 0
        assert page.locator("nav a", has_text="People").count() == 0
        page.goto(f"{base}/tool/shown")
        assert page.locator("button[data-action]").count() == 0
        assert page.locator("main form[method=post]").count() == 0  # no action at all
        assert page.locator("live-log").count() == 1  # viewers may follow the output
        # Posted anyway (with the page's own origin, as a browser form would): refused.
        for path, form in [
            ("/tool/shown/operate", {"action": "stop"}),
            ("/tool/shown/remove", {"confirm": "shown"}),
            ("/tool/shown/config", {"key": "A", "value": "b"}),
            ("/tool/shown/access", {"access": "public"}),
            ("/install", {"url": url, "name": "sneaky"}),
            ("/people/users", {"name": "eve", "role": "owner", "password": "e" * 14}),
        ]:
            resp = page.request.post(
                base + path, form=form, headers={"Origin": base}, max_redirects=0
            )
            assert resp.status == 403, (path, resp.status)
    assert len(call("GET", f"{base}/api/operations")[1]["operations"]) == ops_before
    assert call("GET", f"{base}/api/tools/sneaky")[0] == 404
    assert call("GET", f"{base}/api/tools/shown")[1]["tool"]["access"] == "members"


def finish_without_script(page: Page, status: str, timeout: float = 180) -> None:
    """No script, no live badge: reload the operation's page until it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = page.locator("#op-status").inner_text().strip()
        if text in ("succeeded", "failed", "cancelled"):
            assert text == status, page.content()[-3000:]
            return
        time.sleep(1)
        page.reload()
    raise AssertionError("the operation did not end")


def test_without_javascript_the_forms_do_everything(server: str, git_server: GitHTTPServer) -> None:
    base = server
    url, work = repo(git_server, tool_files("plain one"))
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        sign_in(page, base, "olive")
        install_through_page(page, base, url, "plain")
        finish_without_script(page, "succeeded")
        commit_and_push(work, {"www/index.html": "plain two\n"})
        page.goto(f"{base}/tool/plain")
        page.click("button[data-action=deploy]")
        page.wait_for_url("**/operation/*")
        finish_without_script(page, "succeeded")
        assert served(base, "plain") == "200 plain two"
        page.goto(f"{base}/tool/plain")
        page.click("button:has-text('Roll back to #1')")
        page.wait_for_url("**/operation/*")
        finish_without_script(page, "succeeded")
        assert served(base, "plain") == "200 plain one"
        page.goto(f"{base}/tool/plain")
        page.fill("#config-key", "MODE")
        page.fill("#config-value", "quiet")
        page.click("#config-form button[type=submit]")
        page.wait_for_url("**/operation/*")
        finish_without_script(page, "succeeded")
        page.goto(f"{base}/tool/plain")
        assert "quiet" in page.locator("#config").inner_text()
        page.fill("#confirm", "plain")
        page.click("button:has-text('Remove plain')")
        page.wait_for_url("**/operation/*")
        finish_without_script(page, "succeeded")
        context.close()
    assert call("GET", f"{base}/api/tools/plain")[0] == 404


def test_every_page_passes_axe_and_a_keyboard_deploys(server: str, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    base = server
    archive = tmp_path / "a11y.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in tool_files("accessible").items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    axe = Axe()
    found: dict[str, list[str]] = {}
    with chromium() as browser:
        page = browser.new_page()
        for path in ("/sign-in", "/setup"):
            page.goto(base + path)
            found[path] = [v["id"] for v in axe.run(page).response["violations"]]
        sign_in(page, base, "olive")
        # Installed from an uploaded archive, with the progress bar of the script.
        page.goto(f"{base}/install")
        page.set_input_files("#archive", str(archive))
        page.fill("#name", "a11y")
        page.click("#install-form button[type=submit]")
        page.wait_for_url("**/operation/*")
        op_id = page.url.rsplit("/", 1)[-1]
        wait_status(page, "succeeded")
        for path in (
            "/",
            "/install",
            "/tool/a11y",
            f"/operation/{op_id}",
            "/events",
            "/people",
            "/audit",
            "/plugins",
            "/settings",
            "/profile",
            "/tokens",
            "/tool/ghost",  # the refusal page too
        ):
            page.goto(base + path)
            page.wait_for_load_state()
            found[path] = [
                f"{v['id']}: {v['nodes'][0]['target']}"
                for v in axe.run(page).response["violations"]
            ]
        assert {p: v for p, v in found.items() if v} == {}

        # Keyboard only: from the top of the tool's page, Tab to Deploy and press Enter; the
        # operation's page puts the focus on its live log.
        page.goto(f"{base}/tool/a11y")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.dataset.action") == "deploy":
                break
        else:
            raise AssertionError("Tab never reached the Deploy button")
        page.keyboard.press("Enter")
        page.wait_for_url("**/operation/*")
        page.locator("[role=log]:focus").wait_for(timeout=10_000)
        wait_status(page, "succeeded")


def test_a_long_log_streams_into_a_bounded_page(server: str, git_server: GitHTTPServer) -> None:
    """100,000 lines written to a running operation's log reach the page through a connection
    that is cut mid-way (a real TCP cut between browser and server): the page resumes with
    ``Last-Event-ID``, every line arrives once, the page keeps a window (the DOM and the heap
    stay bounded) and loads earlier lines on demand."""
    from tests.support.cut_proxy import CuttableProxy

    base = server
    files = tool_files("slow build")
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", f"COPY www /www\nRUN echo {uuid.uuid4().hex} && sleep 25\n"
    )
    url, _work = repo(git_server, files)
    status, body = call("POST", f"{base}/api/tools", {"url": url, "name": "chatty"})
    assert status == 202
    op_id = body["operation_id"]
    log_path = Path(call("GET", f"{base}/api/operations/{op_id}")[1]["operation"]["log_path"])
    total = 100_000
    proxy = CuttableProxy(int(base.rsplit(":", 1)[1]))
    via = f"http://127.0.0.1:{proxy.port}"
    try:
        with chromium() as browser:
            page = browser.new_page()
            sign_in(page, via, "olive")
            page.goto(f"{via}/operation/{op_id}")
            page.locator(".log .line").first.wait_for()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            heap_before = _heap(cdp)
            with log_path.open("a") as log:
                for start in range(0, total, 1000):
                    log.write("".join(f"bulk line {i:06d}\n" for i in range(start, start + 1000)))
            # The first batch is in: cut the stream while the rest is on its way.
            page.locator(".log .line", has_text="bulk line ").first.wait_for(timeout=60_000)
            proxy.cut()
            last = page.locator(".log .line", has_text=f"bulk line {total - 1:06d}")
            last.wait_for(timeout=120_000)
            shown = page.locator(".log .line").all_inner_texts()
            assert len(shown) <= 2000  # the window
            bulk = [int(t.split()[-1]) for t in shown if t.startswith("bulk line ")]
            assert bulk == list(range(bulk[0], total))  # in order, none lost or repeated
            heap_after = _heap(cdp)
            assert heap_after - heap_before < 64 * 1024 * 1024, (heap_before, heap_after)
            # Earlier lines on demand, right before the window's first line.
            page.click("button:has-text('Load earlier lines')")
            page.locator(".log .line", has_text=f"bulk line {bulk[0] - 1:06d}").wait_for()
            earlier = [
                int(t.split()[-1])
                for t in page.locator(".log .line").all_inner_texts()
                if t.startswith("bulk line ")
            ]
            assert earlier[: bulk[0] - earlier[0]] == list(range(earlier[0], bulk[0]))
            wait_status(page, "succeeded", timeout=240_000)
            page.locator("live-log[data-ended=true]").wait_for(timeout=30_000)
            log_el = page.locator("live-log")
            initial = int(log_el.get_attribute("data-initial") or 0)
            received = int(log_el.get_attribute("data-received") or 0)
            # Every line of the log exactly once: with the page, or through the stream.
            assert initial + received == len(log_path.read_bytes().splitlines())
            assert proxy.cuts == 1
    finally:
        proxy.close()


def _heap(cdp: Any) -> int:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return int(metrics["JSHeapUsedSize"])
