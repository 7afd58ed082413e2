"""``/api/hooks/{hook}`` (Git hosts' push deliveries) and ``/api/tools/{tool}/hook``
(managing a tool's webhook and polling, and its deliveries)."""

from __future__ import annotations

from aiohttp import web

from machete_core.errors import MacheteError
from machete_core.triggers.webhooks import HookSecret, HookView
from machete_web.api.common import body_as, int_query, machete, respond, start_operation
from machete_web.authn import client_address
from machete_web.keys import MACHETE, METRICS, core
from machete_web.problems import problem
from machete_web.schemas import (
    Deliveries,
    DeliveryAnswer,
    HookEnvelope,
    HookWithSecret,
    PollRequest,
    RotateRequest,
)

#: The largest delivery read: push payloads are a few kilobytes to a few hundred.
MAX_DELIVERY = 1 << 20


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/hooks/{hook}", deliver)
    r.add_get("/api/tools/{tool}/hook", show)
    r.add_put("/api/tools/{tool}/hook", enable)
    r.add_delete("/api/tools/{tool}/hook", disable)
    r.add_post("/api/tools/{tool}/hook/rotate", rotate)
    r.add_put("/api/tools/{tool}/hook/poll", poll)
    r.add_get("/api/tools/{tool}/hook/deliveries", deliveries)


async def deliver(request: web.Request) -> web.Response:
    """Size first (no HMAC over a body too large), then the core: id, signature, parsing."""
    declared = request.content_length
    metrics = request.app[METRICS]
    if declared is not None and declared > MAX_DELIVERY:
        metrics.webhook_delivery("too_large")
        return problem(413, "too_large", f"a delivery is at most {MAX_DELIVERY} bytes")
    raw = await request.content.read(MAX_DELIVERY + 1)
    if len(raw) > MAX_DELIVERY:
        metrics.webhook_delivery("too_large")
        return problem(413, "too_large", f"a delivery is at most {MAX_DELIVERY} bytes")
    m = request.app[MACHETE]
    try:
        received, op = await core(
            request,
            m.hooks.receive,
            request.match_info["hook"],
            dict(request.headers),
            raw,
            address=client_address(request, m.settings),
        )
    except MacheteError as exc:
        metrics.webhook_delivery(exc.code)  # codes are a fixed set: a bounded label
        raise
    metrics.webhook_delivery(received.outcome)
    if op is not None:
        start_operation(request, op)
    answer = DeliveryAnswer(received.outcome, received.message, received.operation_id)
    return respond(answer, status=received.status)


def delivery_url(request: web.Request, view: HookView) -> str:
    """Where the Git host sends deliveries: the public URL when one is set, else the origin
    this request came to."""
    public = request.app[MACHETE].settings.public_url.rstrip("/")
    return (public or str(request.url.origin())) + view.path


def _envelope(request: web.Request, view: HookView | None) -> web.Response:
    return respond(HookEnvelope(view, delivery_url(request, view) if view else None))


def _with_secret(request: web.Request, view: HookView, secret: str | None) -> web.Response:
    return respond(HookWithSecret(view, delivery_url(request, view), secret))


async def show(request: web.Request) -> web.Response:
    view = await core(request, machete(request).hooks.show, request.match_info["tool"])
    return _envelope(request, view)


async def enable(request: web.Request) -> web.Response:
    made = await core(request, machete(request).hooks.enable, request.match_info["tool"])
    if isinstance(made, HookSecret):
        return _with_secret(request, made.hook, made.secret)
    return _with_secret(request, made, None)


async def disable(request: web.Request) -> web.Response:
    view = await core(request, machete(request).hooks.disable, request.match_info["tool"])
    return _envelope(request, view)


async def rotate(request: web.Request) -> web.Response:
    given = await body_as(request, RotateRequest)
    made = await core(
        request, machete(request).hooks.rotate, request.match_info["tool"], given.grace
    )
    return _with_secret(request, made.hook, made.secret)


async def poll(request: web.Request) -> web.Response:
    given = await body_as(request, PollRequest)
    view = await core(
        request, machete(request).hooks.set_poll, request.match_info["tool"], given.seconds
    )
    return _envelope(request, view)


async def deliveries(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 50, 1, 500)
    found = await core(
        request, machete(request).hooks.deliveries, request.match_info["tool"], limit
    )
    return respond(Deliveries(found))
