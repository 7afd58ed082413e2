"""Which images a tool keeps: those of its newest releases (``MACHETE_KEEP_IMAGES``) and the
live one, so rollbacks need no rebuild; older ones go after each successful deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from machete_core.state.views import ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun


def prune_images(run: OperationRun, tool: ToolRecord) -> None:
    """Keep the images of the tool's newest releases (and the live one); remove older ones.

    Only images recorded for this tool's releases are touched: never anything MACHETE does not
    own, never the shared build cache.
    """
    core = run.core
    keep_n = core.settings.keep_images
    releases = core.store.list_releases(tool.id)
    current = core.store.get_tool(tool.id).current_release_id
    kept: set[str] = set()
    for rel in releases:
        if rel.image_id and (len(kept) < keep_n or rel.id == current):
            kept.add(rel.image_id)
    for rel in releases:
        if rel.image_id and rel.image_id not in kept:
            builder = core.builder(rel.builder)
            if builder.image_exists(rel.image_id):
                builder.remove_image(rel.image_tag or rel.image_id)
                if rel.image_tag and builder.image_exists(rel.image_id):
                    builder.remove_image(rel.image_id)
                run.log.write(f"pruned the image of release {rel.number} (keeping {keep_n})")
