"""A schemathesis check for the walk with another tool's token (``SCHEMATHESIS_HOOKS``):
whatever is asked about the hidden tool or its operation is answered exactly as the same
request about something that does not exist, so a token learns nothing of what it may not
see (threats.md, IDOR). Usually that is 404; a request refused before any lookup (a malformed
query, a method the route lacks) gets the same refusal either way."""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis

#: ``name=path prefix`` pairs of the hidden objects (set by the test).
HIDDEN = dict(
    item.split("=", 1) for item in os.environ.get("MACHETE_TEST_HIDDEN", "").split(",") if item
)
MISSING = "no-such-thing-0000"


@schemathesis.check
def hidden_objects_are_not_found(ctx: Any, response: Any, case: Any) -> None:
    path = case.formatted_path
    name = next(
        (n for n, prefix in HIDDEN.items() if path == prefix or path.startswith(prefix + "/")),
        None,
    )
    if name is None or response.status_code == 404:
        return
    sent = response.request
    assert sent.url is not None
    twin = requests.request(
        sent.method or "GET",
        sent.url.replace(f"/{name}", f"/{MISSING}", 1),
        headers=dict(sent.headers),
        data=sent.body,
        timeout=30,
    )
    if twin.status_code != response.status_code:
        raise AssertionError(
            f"{case.method} {path} answered {response.status_code} to a token that may not "
            f"see it, but {twin.status_code} for something that does not exist"
        )
