"""The API's request and response bodies as typed records, in one place.

Requests are parsed with :func:`parse`: unknown fields and wrong types are refused with
``invalid_input`` (422) naming the field's path (``$.replicas``); the core then validates what
it owns (URLs, names, values). Responses are built from records and rendered by the core's one
converter, so the OpenAPI document and the dashboard can reuse both.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError

from machete_core.domain.operations import OperationKind
from machete_core.domain.spec import ToolOverrides
from machete_core.domains import DomainView, IngressView
from machete_core.errors import InvalidInputError
from machete_core.notify.channels import ChannelView, DeliveryView
from machete_core.state.trigger_views import DeliveryRecord
from machete_core.state.views import HealthEventRecord, OperationRecord, ReleaseRecord
from machete_core.triggers.webhooks import HookView
from machete_core.views import ConfigView, ToolView, to_data

T = TypeVar("T")
#: Actions of ``POST /api/tools/{tool}/{action}`` (remove is ``DELETE``).
ACTIONS = tuple(
    k.value for k in OperationKind if k not in (OperationKind.INSTALL, OperationKind.REMOVE)
)


@attrs.frozen
class CredentialsIn:
    """A password or token for a private source (a token alone uses the user ``git``)."""

    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class OverridesIn:
    """What an operator sets for a tool (over its manifest and Dockerfile)."""

    port: int | None = None
    #: A path, or ``none`` for the connect check.
    health_path: str | None = None
    subdir: str | None = None
    dockerfile: str | None = None
    target: str | None = None
    build_args: dict[str, str] | None = None

    def record(self) -> ToolOverrides:
        """These fields (of a subclass too) as the core's record."""
        fields = {f.name: getattr(self, f.name) for f in attrs.fields(OverridesIn)}
        fields["build_args"] = fields["build_args"] or {}
        return ToolOverrides(**fields)


@attrs.frozen
class InstallRequest(OverridesIn):
    url: str = attrs.field(kw_only=True)
    name: str | None = None
    ref: str | None = None
    credentials: CredentialsIn | None = None


@attrs.frozen
class ToolPatch(OverridesIn):
    enabled: bool | None = None
    auto_start: bool | None = None
    #: A builder's name, ``auto``, or null for the installation's default.
    builder: str | None = None
    #: Settings to forget (``port``, ``health_path``, ``subdir``, ...).
    clear: list[str] | None = None


@attrs.frozen
class ActionRequest:
    """The body of ``POST /api/tools/{tool}/{action}``; each action reads its own fields."""

    force: bool = False
    release: int | None = None
    replicas: int | None = None


@attrs.frozen
class ConfigChange:
    values: dict[str, str] = attrs.Factory(dict)
    secret: bool = False
    #: Keys to remove, in the same change (one release).
    unset: list[str] = attrs.Factory(list)


@attrs.frozen
class Links:
    operation: str
    log: str


@attrs.frozen
class Accepted:
    """202: an operation was recorded and runs in the background."""

    message: str
    operation_id: str
    operation: OperationRecord
    links: Links
    success: bool = True


@attrs.frozen
class ToolEnvelope:
    tool: ToolView


@attrs.frozen
class ToolStatus:
    name: str
    status: str
    health: str | None
    reason: str | None


@attrs.frozen
class ToolHealth:
    healthy: bool
    status: str
    status_code: int | None
    error: str | None


@attrs.frozen
class HealthHistory:
    history: list[HealthEventRecord]


@attrs.frozen
class LogLines:
    lines: list[str]


@attrs.frozen
class Releases:
    releases: list[ReleaseRecord]


@attrs.frozen
class Operations:
    operations: list[OperationRecord]


@attrs.frozen
class OperationEnvelope:
    operation: OperationRecord


@attrs.frozen
class OperationLogChunk:
    """The log from ``offset``: complete lines only; read on from ``next_offset``."""

    text: str
    offset: int
    next_offset: int
    done: bool


@attrs.frozen
class Cancelling:
    operation_id: str
    cancelling: bool


@attrs.frozen
class ServerHealth:
    status: str
    version: str
    api_version: int


@attrs.frozen
class DatabaseHealth:
    status: str
    database: str


@attrs.frozen
class ConfigList:
    config: list[ConfigView]


@attrs.frozen
class ConfigSaved:
    """200: a configuration saved for the next deploy (the tool was never deployed)."""

    config: list[ConfigView]
    message: str = "saved for the next deploy"


def _exactly(kind: type[Any]) -> Any:
    def check(value: Any, _type: Any) -> Any:
        # JSON is typed: "2" is not a number and 1 is not true (bool is an int in Python).
        if type(value) is not kind and not (kind is float and type(value) is int):
            raise TypeError(f"expected {_JSON_NAMES[kind]}")
        return value

    return check


_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


@functools.cache
def _request_converter() -> cattrs.Converter:
    """Requests are structured strictly, unlike manifests (whose YAML is loosely typed and
    which the core's converter reads leniently): a wrong JSON type is an error."""
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    for kind in _JSON_NAMES:
        conv.register_structure_hook(kind, _exactly(kind))
    return conv


def _problems(exc: Exception) -> list[str]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found = []
        for line in cattrs.transform_error(exc, path="$"):
            message, _sep, where = line.rpartition(" @ ")
            found.append(f"{where}: {message}" if where else line)
        return found
    return [f"$: {exc}"]


def parse(cls: type[T], data: dict[str, Any]) -> T:
    """``data`` as ``cls``, or ``invalid_input`` naming the first bad field's path."""
    # Empty strings mean "not given", as the original API's clients send them.
    cleaned = {k: v for k, v in data.items() if v != ""}
    try:
        record: T = _request_converter().structure(cleaned, cls)
    except Exception as exc:
        problems = _problems(exc)
        path = problems[0].partition(":")[0]
        raise InvalidInputError(problems[0], details={"path": path, "problems": problems}) from None
    return record


def render(record: Any) -> Any:
    """A response record as JSON-ready data. The records of this module are rendered field by
    field, so that core records inside them go through ``to_data`` (which never shows an
    operation's sealed credentials)."""
    if attrs.has(type(record)) and type(record).__module__ == __name__:
        return {f.name: render(getattr(record, f.name)) for f in attrs.fields(type(record))}
    if isinstance(record, list):
        return [render(item) for item in record]
    return to_data(record)


@attrs.frozen
class HookEnvelope:
    """A tool's webhook and polling (null when neither was ever set), and the delivery URL
    (under ``MACHETE_PUBLIC_URL``, else the origin the request came to)."""

    hook: HookView | None
    url: str | None


@attrs.frozen
class HookWithSecret:
    """The webhook and its delivery URL, and its secret when it was just made (shown here
    only), else null."""

    hook: HookView
    url: str
    secret: str | None


@attrs.frozen
class Deliveries:
    deliveries: list[DeliveryRecord]


@attrs.frozen
class DeliveryAnswer:
    """What came of a webhook delivery: ``deployed``, ``queued``, ``coalesced``, ``duplicate``,
    ``ignored`` or ``ping``, with the operation that deploys (or runs before the queued one)."""

    outcome: str
    message: str
    operation_id: str | None


@attrs.frozen
class RotateRequest:
    #: Seconds the previous secret stays good (default an hour; 0: not at all).
    grace: int = 3600


@attrs.frozen
class PollRequest:
    #: Seconds between polls (60-86400), or null for no polling.
    seconds: int | None


# -- notifications -----------------------------------------------------------------------------


@attrs.frozen
class ChannelCreate:
    """A new channel: ``kind`` is webhook, slack, discord or email; ``target`` its URL or
    address; ``events`` the notification types it takes and ``tools`` the tools it hears of
    (empty: all). On a tool's route, ``tools`` is that tool."""

    name: str
    kind: str
    target: str
    events: list[str] = attrs.Factory(list)
    tools: list[str] = attrs.Factory(list)


@attrs.frozen
class ChannelPatch:
    enabled: bool | None = None
    events: list[str] | None = None


@attrs.frozen
class ChannelEnvelope:
    channel: ChannelView


@attrs.frozen
class ChannelWithSecret:
    """A new channel; a webhook channel's signing secret (``whsec_...``) is here only."""

    channel: ChannelView
    secret: str | None


@attrs.frozen
class ChannelList:
    channels: list[ChannelView]


@attrs.frozen
class NotificationDeliveries:
    deliveries: list[DeliveryView]


@attrs.frozen
class TestQueued:
    """The test notification, queued: its delivery (see the channel's deliveries)."""

    delivery: int
    message: str


@attrs.frozen
class DomainCreate:
    """A host name to route to the tool, whole; ``tls``: ``internal`` (the ingress's own
    CA), ``acme`` (a public CA) or ``auto`` (the ingress decides from the name)."""

    name: str
    tls: str = "auto"


@attrs.frozen
class DomainEnvelope:
    domain: DomainView


@attrs.frozen
class DomainList:
    domains: list[DomainView]


@attrs.frozen
class IngressEnvelope:
    ingress: IngressView


@attrs.frozen
class RootCertificate:
    """The ingress's internal CA root (PEM); null when it has none."""

    root_certificate: str | None
