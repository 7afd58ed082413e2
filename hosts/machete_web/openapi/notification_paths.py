"""The notification routes of the OpenAPI document (``paths.py`` takes them in)."""

from __future__ import annotations

from machete_web import schemas as s
from machete_web.openapi.operation import Link, Op, Query

T = "/api/tools/{tool}"
C = "/api/notifications/{channel}"
_LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "How many (50).")
_FOLLOW = {
    "test": Link("POST", C + "/test", "channel", "$response.body#/channel/name"),
    "deliveries": Link("GET", C + "/deliveries", "channel", "$response.body#/channel/name"),
    "remove": Link("DELETE", C, "channel", "$response.body#/channel/name"),
}
_CREATED = {409: "A channel of that name exists (`channel_exists`)."}

NOTIFICATION_OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/api/notifications"): Op(
        "The instance's notification channels (every tool's too)",
        "notifications",
        response=s.ChannelList,
    ),
    ("POST", "/api/notifications"): Op(
        "A new instance channel (a webhook's signing secret is in this answer only)",
        "notifications",
        status=201,
        body=s.ChannelCreate,
        response=s.ChannelWithSecret,
        errors=_CREATED,
        links=_FOLLOW,
    ),
    ("GET", T + "/notifications"): Op(
        "The channels subscribed for a tool",
        "notifications",
        response=s.ChannelList,
    ),
    ("POST", T + "/notifications"): Op(
        "Subscribe a channel for a tool (it hears of that tool only)",
        "notifications",
        status=201,
        body=s.ChannelCreate,
        response=s.ChannelWithSecret,
        errors=_CREATED,
        links=_FOLLOW,
    ),
    ("GET", C): Op("A notification channel", "notifications", response=s.ChannelEnvelope),
    ("PATCH", C): Op(
        "Turn a channel on or off, or change the types it takes",
        "notifications",
        body=s.ChannelPatch,
        response=s.ChannelEnvelope,
    ),
    ("DELETE", C): Op(
        "Remove a channel (its pending notifications go with it)",
        "notifications",
        response={
            "type": "object",
            "properties": {"removed": {"type": "string"}},
            "required": ["removed"],
            "additionalProperties": False,
        },
    ),
    ("POST", C + "/test"): Op(
        "Send the channel a test notification (queued like any other)",
        "notifications",
        status=202,
        response=s.TestQueued,
    ),
    ("GET", C + "/deliveries"): Op(
        "A channel's recent notifications, each with its attempts",
        "notifications",
        response=s.NotificationDeliveries,
        query=(_LIMIT,),
    ),
}
