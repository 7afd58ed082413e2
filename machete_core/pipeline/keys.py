"""Release and image keys: the same key as the live release means nothing to do."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def image_key(digest: str, spec: dict[str, Any], builder: str) -> str:
    """What determines the image: releases with the same image key can share one image."""
    return _hash({"digest": digest, "spec": spec, "builder": builder})


def release_key(
    digest: str, spec: dict[str, Any], builder: str, runtime: str, config_version: int = 0
) -> str:
    """What determines the running release: the image plus runtime and configuration.

    Configuration enters by version number, so no secret value is ever hashed into the database.
    """
    return _hash(
        {
            "image": image_key(digest, spec, builder),
            "runtime": runtime,
            "config": config_version,
        }
    )
