"""The Tools page: every visible tool as a card (icon, colour, category, status, health and
the age of its last check, current release, last operation, links to open it)."""

from __future__ import annotations

from aiohttp import web

from machete_web.api.common import machete
from machete_web.dashboard.pages import render
from machete_web.keys import core


def setup(app: web.Application) -> None:
    app.router.add_get("/", tools_page)


async def tools_page(request: web.Request) -> web.Response:
    cards = await core(request, machete(request).tool_cards)
    query = request.query.get("q", "").strip().lower()
    category = request.query.get("category", "")
    categories = sorted({c.view.category for c in cards})
    shown = [
        c
        for c in cards
        if (not query or query in c.view.name.lower())
        and (not category or c.view.category == category)
    ]
    groups: dict[str, list[object]] = {}
    for card in shown:
        groups.setdefault(card.view.category, []).append(card)
    context = {
        "title": "Tools",
        "groups": sorted(groups.items()),
        "count": len(cards),
        "categories": categories,
        "q": request.query.get("q", ""),
        "category": category,
    }
    # The live region asks for the list alone when an event says something changed.
    template = "_tool_cards.html" if request.query.get("fragment") else "tools.html"
    return await render(request, template, context)
