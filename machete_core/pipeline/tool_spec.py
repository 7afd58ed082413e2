"""The manifest step of a deploy: find the tool's folder in the fetched tree, load its
manifest, complete it from the Dockerfile with the tool's overrides, and on install create
(or, after an install that never became healthy, take over) the tool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from machete_core.domain.naming import choose_name
from machete_core.domain.operations import InstallParams
from machete_core.domain.spec import ToolOverrides, ToolSpec
from machete_core.domain.status import ToolStatus
from machete_core.errors import ToolExistsError
from machete_core.manifest.converter import converter, spec_to_data
from machete_core.manifest.inference import locate_tool, resolve
from machete_core.pipeline.submit import check_not_busy
from machete_core.state.views import ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun


@attrs.frozen
class ToolTree:
    """The tool as fetched: its record, its resolved spec, and its folder (the build context)."""

    tool: ToolRecord
    spec: ToolSpec
    root: Path


def overrides_of(tool: ToolRecord | None, install: InstallParams | None) -> ToolOverrides:
    if tool is not None:
        stored: ToolOverrides = converter().structure(tool.overrides, ToolOverrides)
        return stored
    return install.overrides if install is not None else ToolOverrides()


def read_tool(
    run: OperationRun,
    src: Path,
    tool: ToolRecord | None,
    install: InstallParams | None,
    url: str,
    ref: str | None,
    source_kind: str,
) -> ToolTree:
    overrides = overrides_of(tool, install)
    root, loaded = locate_tool(src, overrides)
    if root != src.resolve():
        run.log.write(f"the tool is in the folder {root.relative_to(src.resolve())}")
    for warning in loaded.warnings:
        run.log.write(f"warning: {warning}")
    if tool is None:
        # Made before the Dockerfile is read, so an install that fails on it leaves a tool
        # that says why (failed, with the reason), not nothing at all.
        assert install is not None
        name = choose_name(
            explicit=install.name,
            manifest=loaded.spec.name,
            package_json=loaded.package_name,
            url=install.name_hint or url,
        )
        fields = {
            "source_kind": source_kind,
            "source_url": url,
            "source_ref": ref,
            "source_credentials": install.credentials,
            "spec": spec_to_data(loaded.spec),
            "overrides": converter().unstructure(install.overrides),
        }
        tool = _retry_of_failed_install(run, name, fields)
        if tool is None:
            tool = run.core.store.create_tool(name=name, status=ToolStatus.PENDING, **fields)
        run.attach_tool(tool.id, tool.name)
        run.publish("tool.installed")
    resolved = resolve(loaded.spec, root, overrides)
    for note in resolved.notes:
        run.log.write(note)
    return ToolTree(tool, resolved.spec, root)


def _retry_of_failed_install(
    run: OperationRun, name: str, fields: dict[str, object]
) -> ToolRecord | None:
    """A tool of that name that never had a healthy release is this install's to retry (with
    the new source and overrides); one that ever ran is not."""
    store = run.core.store
    existing = store.find_tool(name)
    if existing is None:
        return None
    if existing.current_release_id is not None:
        raise ToolExistsError(
            f"a tool named {name!r} already exists: use `machete deploy {name}` to update it, "
            "or install this one under another name (--name)"
        )
    check_not_busy(run.core, name, besides=run.op.id)
    run.log.write(f"{name} was installed before but never became healthy: trying again")
    return store.update_tool(existing.id, status=ToolStatus.PENDING, status_reason=None, **fields)
