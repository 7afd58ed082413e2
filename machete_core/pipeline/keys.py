"""The release key: same key as the healthy current release means nothing to do."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def release_key(digest: str, spec: dict[str, Any], builder: str, runtime: str) -> str:
    payload = json.dumps(
        {"digest": digest, "spec": spec, "builder": builder, "runtime": runtime},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()
