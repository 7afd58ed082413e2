"""A tool's configuration (environment variables, secrets sealed) and its settings (enabled,
auto-start, builder). A configuration change of a deployed tool is a new release."""

from __future__ import annotations

import re
from typing import Any

import attrs

from machete_core.context import Core
from machete_core.domain.operations import Actor, DeployParams, OperationKind
from machete_core.domain.spec import ToolOverrides
from machete_core.errors import InvalidInputError
from machete_core.manifest.converter import converter
from machete_core.manifest.inference import check_overrides
from machete_core.pipeline.submit import check_not_busy, submit_change
from machete_core.state.views import OperationRecord, ToolRecord
from machete_core.views import ConfigView

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
MAX_VALUE = 128 * 1024


def config_views(core: Core, ident: str | int) -> list[ConfigView]:
    """The tool's configuration; secret values are shown as ``***``."""
    tool = core.store.get_tool(ident)
    return [
        ConfigView(
            key=c.key,
            value="***" if c.secret else c.value,
            secret=c.secret,
            updated_at=c.updated_at,
            updated_by=c.updated_by,
        )
        for c in core.store.config(tool.id)
    ]


def check_config_change(values: dict[str, str], unset: tuple[str, ...]) -> None:
    for key in [*values, *unset]:
        if not ENV_KEY.match(key):
            raise InvalidInputError(
                f"{key!r} is not a valid variable name "
                "(letters, digits and '_', not starting with a digit)"
            )
    for key, value in values.items():
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInputError(
                f"the value of {key!r} contains a NUL character, which no environment "
                "variable can hold"
            )
        if len(value) > MAX_VALUE:
            raise InvalidInputError(f"the value of {key!r} is longer than 128 KiB")
    if not values and not unset:
        raise InvalidInputError("nothing to change: give KEY=VALUE pairs or keys to unset")


def change_config(
    core: Core,
    ident: str | int,
    values: dict[str, str],
    *,
    secret: bool,
    unset: tuple[str, ...],
    actor: Actor,
) -> OperationRecord | None:
    """Store a configuration change; a deployed tool gets a new release through the gate.

    Returns the deploy operation to run (None when the tool has never been deployed).
    """
    check_config_change(values, unset)
    tool = core.store.get_tool(ident)
    check_not_busy(core, tool.name)
    sealed = {
        k: (core.secrets.seal({"value": v}) if secret else v, secret) for k, v in values.items()
    }
    core.store.change_config(tool.id, sealed, list(unset), by=actor.describe())
    core.events.publish(
        "tool.configured", tool=tool.name, actor=actor, keys=sorted([*values, *unset])
    )
    if tool.current_release_id is None:
        return None
    return submit_change(core, OperationKind.DEPLOY, tool.name, DeployParams(), actor)


def set_overrides(
    core: Core, ident: str | int, overrides: ToolOverrides, *, clear: tuple[str, ...] = ()
) -> ToolRecord:
    """Merge ``overrides`` into what is stored for the tool (``clear`` names fields to drop,
    ``build_args`` drops them all); they apply from the next deploy."""
    tool = core.store.get_tool(ident)
    stored: ToolOverrides = converter().structure(tool.overrides, ToolOverrides)
    unknown = sorted(set(clear) - set(attrs.fields_dict(ToolOverrides)))
    if unknown:
        raise InvalidInputError(f"cannot clear {', '.join(unknown)}: no such setting")
    emptied: dict[str, Any] = {name: ({} if name == "build_args" else None) for name in clear}
    cleared = attrs.evolve(stored, **emptied)
    merged = check_overrides(cleared.merged(overrides))
    return core.store.update_tool(tool.id, overrides=converter().unstructure(merged))


def set_flags(
    core: Core,
    ident: str | int,
    *,
    enabled: bool | None = None,
    auto_start: bool | None = None,
    builder: str | None = None,
) -> ToolRecord:
    """Tool settings. ``builder``: a builder's name, ``auto``, or ``""`` for the default;
    it applies from the next deploy (a manifest's ``machete.builder`` still wins)."""
    tool = core.store.get_tool(ident)
    fields: dict[str, Any] = {}
    if builder is not None:
        known = core.plugins.providers("builder")
        if builder and builder != "auto" and builder not in known:
            names = ", ".join(sorted(known))
            raise InvalidInputError(f"no builder named {builder!r} (available: auto, {names})")
        fields["builder"] = builder or None
    if enabled is not None:
        fields["enabled"] = enabled
    if auto_start is not None:
        fields["auto_start"] = auto_start
    if fields:
        tool = core.store.update_tool(tool.id, **fields)
    return tool
