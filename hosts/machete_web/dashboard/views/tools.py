"""The Tools page: every visible tool as a card (icon, colour, category, status, health and
the age of its last check, current release, last operation, links to open it).

The cards of every tool are rendered once per change (``ListingCache``) and shared by everyone
who sees every tool; a search, a category or a narrower view renders its own."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp_jinja2
import attrs
import jinja2
from aiohttp import web
from markupsafe import Markup

from machete_core.machete import Machete
from machete_core.views import ToolCard
from machete_web.api.common import machete
from machete_web.dashboard.pages import page_context
from machete_web.keys import EVENT_FEED, EXECUTOR, MACHETE, core
from machete_web.listing import ListingCache


@attrs.frozen
class Cards:
    #: The cards' HTML, encoded once (a page is its head, these bytes and its tail).
    html: bytes
    categories: list[str]


#: Where the cards go in the rendered page (a comment no tool's text can produce: autoescaped).
SLOT = "<!--machete-cards-->"


CARDS_TTL_S = 10.0
CARDS = web.AppKey("dashboard_cards", ListingCache[Cards])


def setup(app: web.Application) -> None:
    app.router.add_get("/", tools_page)
    app.cleanup_ctx.append(_cards_ctx)


async def _cards_ctx(app: web.Application) -> AsyncIterator[None]:
    env = aiohttp_jinja2.get_env(app)
    host = app[MACHETE]  # the host itself: every tool
    # Every change MACHETE makes or hears of renews the cards at once; the time limit only
    # bounds changes behind its back, and rendering a thousand cards is not free.
    app[CARDS] = ListingCache(
        app[MACHETE], app[EXECUTOR], functools.partial(_all, env, host), ttl=CARDS_TTL_S
    )
    app[EVENT_FEED].listen(app[CARDS].changed)
    yield


def _all(env: jinja2.Environment, m: Machete) -> Cards:
    cards = m.tool_cards()
    return _render(env, cards, cards)


def _render(env: jinja2.Environment, shown: Sequence[ToolCard], every: Sequence[ToolCard]) -> Cards:
    groups: dict[str, list[ToolCard]] = {}
    for card in shown:
        groups.setdefault(card.view.category, []).append(card)
    html = env.get_template("_tool_cards.html").render(
        groups=sorted(groups.items()), count=len(every)
    )
    return Cards(html.encode(), sorted({c.view.category for c in every}))


async def tools_page(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip().lower()
    category = request.query.get("category", "")
    m = machete(request)
    if not query and not category and m.sees_every_tool():
        cards = await request.app[CARDS].get()
    else:
        env = aiohttp_jinja2.get_env(request.app)

        def narrowed() -> Cards:
            every = m.tool_cards()
            shown = [
                c
                for c in every
                if (not query or query in c.view.name.lower())
                and (not category or c.view.category == category)
            ]
            return _render(env, shown, every)

        cards = await core(request, narrowed)
    if request.query.get("fragment"):
        # The live region asks for the list alone when an event says something changed.
        return web.Response(body=cards.html, content_type="text/html", charset="utf-8")
    context: dict[str, Any] = {
        "title": "Tools",
        "cards": Markup(SLOT),
        "categories": cards.categories,
        "q": request.query.get("q", ""),
        "category": category,
    }
    # The shared cards are bytes already: joined as bytes, never rendered or encoded again.
    page = aiohttp_jinja2.get_env(request.app).get_template("tools.html")
    head, _slot, tail = page.render(await page_context(request, context)).partition(SLOT)
    body = b"".join((head.encode(), cards.html, tail.encode()))
    return web.Response(body=body, content_type="text/html", charset="utf-8")
