"""``/api/tools/{tool}/domains`` (a tool's custom domains), ``/api/domains`` (every tool's)
and ``/api/ingress`` (what serves the tools, each tool's route against it, its CA root)."""

from __future__ import annotations

from aiohttp import web

from machete_web.api.common import body_as, machete, respond
from machete_web.ingress_host import with_listener
from machete_web.keys import TOOLS_LISTENER, core
from machete_web.schemas import (
    DomainCreate,
    DomainEnvelope,
    DomainList,
    IngressEnvelope,
    RootCertificate,
)

T = "/api/tools/{tool}"


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/domains", list_all)
    # Before the tools module: POST /api/tools/{tool}/{action} would take this path.
    r.add_get(T + "/domains", list_tool)
    r.add_post(T + "/domains", add)
    r.add_delete(T + "/domains/{name}", remove)
    r.add_get("/api/ingress", ingress)
    r.add_get("/api/ingress/ca", ca)


async def list_all(request: web.Request) -> web.Response:
    return respond(DomainList(await core(request, machete(request).domains.list)))


async def list_tool(request: web.Request) -> web.Response:
    found = await core(request, machete(request).domains.list, request.match_info["tool"])
    return respond(DomainList(found))


async def add(request: web.Request) -> web.Response:
    given = await body_as(request, DomainCreate)
    added = await core(
        request, machete(request).domains.add, request.match_info["tool"], given.name, given.tls
    )
    return respond(DomainEnvelope(added), status=201)


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await core(request, machete(request).domains.remove, request.match_info["tool"], name)
    return web.json_response({"removed": name})


async def ingress(request: web.Request) -> web.Response:
    found = await core(request, machete(request).domains.ingress)
    return respond(IngressEnvelope(with_listener(found, request.app[TOOLS_LISTENER])))


async def ca(request: web.Request) -> web.Response:
    pem = await core(request, machete(request).domains.root_certificate)
    return respond(RootCertificate(pem))
