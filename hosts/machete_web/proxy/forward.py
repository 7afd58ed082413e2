"""Forwarding one HTTP request to a tool and streaming its answer back.

Bodies stream both ways (never buffered whole). What a tool answers is hostile input: a
malformed status line or headers, or a body cut short, give the client a 502 or a closed
connection, never a 500 and never a second response inside the first one's body. A tool that
does not answer within its read timeout gives a 504; one whose connection slots are all busy
(a hanging tool) gives a 503 after a bounded wait, so it cannot starve the other tools.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from machete_core.views import Route
from machete_web.keys import HTTP_CLIENT, LIMITS, MACHETE, METRICS, PLATFORM
from machete_web.problems import RESPONSE_STARTED, problem
from machete_web.proxy import headers as hdrs
from machete_web.proxy.routing import Target, route
from machete_web.request_log import HEADER, REQUEST_ID

#: The tool the request was routed to (set once routing found it: only installed tools'
#: names become metric labels).
ROUTED_TOOL = web.RequestKey("routed_tool", str)


def upstream_url(request: web.Request, target: Target, found: Route) -> URL:
    """The raw path exactly as received (never decoded and encoded again), minus the prefix
    unless the tool asks to keep it."""
    path = target.raw_path if found.strip_prefix or not target.prefix else request.raw_path
    return URL(found.endpoint.base_url + path, encoded=True)


def forwarded_headers(request: web.Request, target: Target) -> CIMultiDict[str]:
    """What the tool is sent (see headers.request_headers), for HTTP and WebSocket alike."""
    settings = request.app[PLATFORM][MACHETE].settings
    headers = hdrs.request_headers(
        request.headers,
        peer=request.remote or "",
        host=request.host,
        scheme=request.scheme,
        prefix=target.prefix,
        trusted_proxies=settings.trusted_proxies,
    )
    if REQUEST_ID in request:
        # The tool's own logs can name the request (a malformed one from the client was
        # replaced by the request middleware).
        headers[HEADER] = request[REQUEST_ID]
    return headers


def upstream_error(request: web.Request, tool: str, reason: str) -> None:
    request.app[PLATFORM][METRICS].upstream_error(tool, reason)


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def proxy_http(request: web.Request, target: Target) -> web.StreamResponse:
    platform = request.app[PLATFORM]
    settings = platform[MACHETE].settings
    found = await route(request, target.tool)
    request[ROUTED_TOOL] = target.tool
    slots = request.app[LIMITS].slots(target.tool)
    if not slots.locked():
        await slots.acquire()  # a free slot is taken at once, without a timer
    else:
        try:
            await asyncio.wait_for(slots.acquire(), settings.proxy_queue_timeout)
        except TimeoutError:
            upstream_error(request, target.tool, "busy")
            return problem(
                503,
                "tool_busy",
                f"{target.tool} has {settings.proxy_tool_connections} requests in flight "
                "already; try again (MACHETE_PROXY_TOOL_CONNECTIONS raises the limit)",
            )
    metrics = platform[METRICS]
    metrics.proxy_started(target.tool)
    try:
        if client_gone(request):
            # The client left while waiting: its request is never replayed at the tool.
            raise asyncio.CancelledError
        return await _exchange(request, target, found)
    finally:
        metrics.proxy_ended(target.tool)
        slots.release()


async def _exchange(request: web.Request, target: Target, found: Route) -> web.StreamResponse:
    platform = request.app[PLATFORM]
    settings = platform[MACHETE].settings
    session = platform[HTTP_CLIENT]
    read_timeout = found.read_timeout or settings.proxy_read_timeout
    forwarded = forwarded_headers(request, target)
    # aiohttp would add these itself; the tool must see only what the client sent.
    skip = {"Accept-Encoding", "User-Agent", "Content-Type"} - set(forwarded.keys())
    for attempt in (1, 2):
        try:
            upstream = await session.request(
                request.method,
                upstream_url(request, target, found),
                headers=forwarded,
                data=request.content if request.body_exists else None,
                allow_redirects=False,
                auto_decompress=False,
                skip_auto_headers=skip,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=read_timeout),
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            # Nothing was sent: the instance is gone (retired, restarted; the address of a
            # removed container refuses nothing, it just never answers). Ask again, once.
            if attempt == 2 or request.body_exists:
                upstream_error(request, target.tool, "unreachable")
                return problem(502, "tool_unreachable", f"{target.tool} does not answer")
            found = await route(request, target.tool, fresh=True)
            continue
        except TimeoutError:
            upstream_error(request, target.tool, "timeout")
            return problem(
                504,
                "tool_timeout",
                f"{target.tool} did not answer within {read_timeout:g} s "
                "(machete.proxy_timeout in its manifest sets another limit)",
            )
        except (aiohttp.ClientError, ValueError):
            upstream_error(request, target.tool, "bad_response")
            return problem(502, "bad_upstream_response", f"{target.tool} sent an invalid response")
        break
    # Where the tool may think it is: its own address, or the host the client used.
    own_hosts = frozenset(
        {f"{found.endpoint.host}:{found.endpoint.port}".lower(), request.host.lower()}
    )
    prefix = target.prefix if found.strip_prefix else ""
    try:
        return await _stream_back(request, upstream, prefix, own_hosts, target.tool)
    finally:
        upstream.release()


class _WholeAnswer(web.StreamResponse):
    """An answer whose whole body came with its headers: the headers wait for the body, so
    both leave in one write. (aiohttp's own ``Response`` does this through the same private
    flag; test_proxy holds it to one write. A stream sends its headers at once, which an
    answer still arriving needs.)"""

    _send_headers_immediately = False


async def _stream_back(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    prefix: str,
    own_hosts: frozenset[str],
    tool: str,
) -> web.StreamResponse:
    # Most answers are small and arrive in one read: the body is all here already.
    kind = _WholeAnswer if upstream.content.is_eof() else web.StreamResponse
    response = kind(status=upstream.status, reason=upstream.reason)
    response.headers.extend(
        hdrs.response_headers(upstream.headers, prefix=prefix, own_hosts=own_hosts)
    )
    length = upstream.headers.get("Content-Length")
    if length is not None and length.isdigit():
        response.content_length = int(length)
    await response.prepare(request)
    request[RESPONSE_STARTED] = True
    try:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        # The status line is gone already: the only honest signal left is a broken
        # connection (a client then knows the body is incomplete).
        upstream_error(request, tool, "broken_body")
        if request.transport is not None:
            request.transport.abort()
        with contextlib.suppress(Exception):
            response.force_close()
    return response
