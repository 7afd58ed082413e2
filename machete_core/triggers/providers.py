"""Git hosts' push webhooks: which host sent a delivery, whether its signature is good, and
what it says. Everything here reads the raw body and headers only; nothing is trusted before
:func:`verify` said yes.

Header shapes follow each host's documentation: GitHub signs the body with HMAC-SHA256 in
``X-Hub-Signature-256: sha256=<hex>``; Gitea and Forgejo in ``X-Gitea-Signature`` /
``X-Forgejo-Signature`` (bare hex); GitLab sends the secret itself in ``X-Gitlab-Token``; the
generic form is ``X-Machete-Signature: sha256=<hex>`` with ``X-Machete-Event`` and
``X-Machete-Delivery``, for any other sender (a CI job, a script with ``openssl``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import attrs

from machete_core.errors import InvalidInputError

#: A ref's all-zero commit: the branch or tag was deleted.
ZERO = "0" * 40


@attrs.frozen
class Provider:
    name: str
    #: The header that names the event (and tells the provider apart).
    event_header: str
    delivery_header: str
    signature_header: str
    #: ``sha256=`` before the hex digest, or nothing.
    prefix: str = ""
    #: The header carries the secret itself (GitLab), not an HMAC.
    plain_token: bool = False


#: In the order they are recognised: Forgejo also sends Gitea's headers, and both send
#: GitHub's (``X-GitHub-Event``, ``X-Hub-Signature-256``) for GitHub-compatible receivers.
PROVIDERS = (
    Provider("forgejo", "x-forgejo-event", "x-forgejo-delivery", "x-forgejo-signature"),
    Provider("gitea", "x-gitea-event", "x-gitea-delivery", "x-gitea-signature"),
    Provider("gitlab", "x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-token", plain_token=True),
    Provider("github", "x-github-event", "x-github-delivery", "x-hub-signature-256", "sha256="),
    Provider("generic", "x-machete-event", "x-machete-delivery", "x-machete-signature", "sha256="),
)


@attrs.frozen
class Delivery:
    """What a verified delivery says, in the same words whichever host sent it."""

    provider: str
    #: ``push``, ``ping``, or the host's own name of another event.
    event: str
    delivery_id: str | None
    ref: str | None = None
    deleted: bool = False
    #: The repository's default branch, when the payload names it.
    default_branch: str | None = None


def detect(headers: Mapping[str, str]) -> Provider | None:
    """The provider whose event header the delivery carries (headers in lower case)."""
    for provider in PROVIDERS:
        if provider.event_header in headers:
            return provider
    return None


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether the delivery was made with ``secret``: compared in constant time, always."""
    given = headers.get(provider.signature_header, "")
    if provider.plain_token:
        return hmac.compare_digest(given.encode(), secret.encode())
    expected = provider.prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def sign(provider: Provider, body: bytes, secret: str) -> str:
    """The header value a sender computes (tests and documentation examples)."""
    if provider.plain_token:
        return secret
    return provider.prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    kind = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            # GitHub's "form" content type: the JSON is the ``payload`` field.
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
            text = form.get("payload", [""])[0]
        else:
            text = body.decode("utf-8")
        data = json.loads(text) if text.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInputError("the delivery's body is not the JSON a push sends") from None
    if not isinstance(data, dict):
        raise InvalidInputError("the delivery's body is not a JSON object")
    return data


def _text(data: Mapping[str, Any], *path: str) -> str | None:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, str) else None


def _event(provider: Provider, raw: str) -> str:
    raw = raw.strip().lower()
    if provider.name == "gitlab":
        return {"push hook": "push", "tag push hook": "push"}.get(raw, raw)
    return raw


def read(provider: Provider, headers: Mapping[str, str], body: bytes) -> Delivery:
    """The delivery's event and ref (call only after :func:`verify`)."""
    event = _event(provider, headers.get(provider.event_header, ""))
    delivery_id = (
        headers.get("idempotency-key") if provider.name == "gitlab" else None
    ) or headers.get(provider.delivery_header)
    delivery_id = delivery_id.strip()[:100] if delivery_id else None
    if event != "push":
        return Delivery(provider.name, event[:64] or "unknown", delivery_id)
    data = _payload(headers, body)
    after = _text(data, "after")
    deleted = data.get("deleted") is True or after == ZERO
    default = _text(data, "repository", "default_branch") or _text(
        data, "project", "default_branch"
    )
    return Delivery(
        provider.name,
        "push",
        delivery_id,
        ref=(_text(data, "ref") or "")[:255] or None,
        deleted=deleted,
        default_branch=default,
    )
