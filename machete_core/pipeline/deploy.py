"""Deploy: fetch -> manifest -> key -> build -> start beside the old -> health gate -> promote.

Install is a deploy of a tool that does not exist yet; build stops after the image.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from machete_core.context import Core
from machete_core.diskspace import check_free_disk, engine_data_root
from machete_core.domain import labels
from machete_core.domain.naming import (
    image_repository,
)
from machete_core.domain.operations import (
    BuildParams,
    DeployParams,
    InstallParams,
    OperationKind,
    RollbackParams,
)
from machete_core.domain.quantities import parse_cpu
from machete_core.domain.records import (
    BuildRequest,
    Image,
    Locator,
    Mount,
    Revision,
)
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import ReleaseStatus, ToolStatus
from machete_core.errors import (
    BuildError,
    BuildTimeoutError,
    CancelledError,
    DockerAccessRefusedError,
    InvalidInputError,
    MacheteError,
    ResourcesExceedHostError,
)
from machete_core.manifest.converter import spec_from_data, spec_to_data
from machete_core.manifest.dockerfile import base_images, check_build_args
from machete_core.pipeline.build_env import build_secrets, proxy_build_args
from machete_core.pipeline.build_failures import with_cause
from machete_core.pipeline.buildcheck import (
    check_base_images,
    prescan_dockerfile,
)
from machete_core.pipeline.frontends import pin_frontend
from machete_core.pipeline.instances import instance_running
from machete_core.pipeline.keys import image_key, release_key
from machete_core.pipeline.promote import fail_release, start_and_promote
from machete_core.pipeline.tool_spec import read_tool
from machete_core.pipeline.volumes import resolve_mounts
from machete_core.plugins.protocols import InspectsImages, Source
from machete_core.state.views import ReleaseRecord, ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun

DOCKER_SOCKET = "/var/run/docker.sock"


@attrs.frozen
class _Wanted:
    """What a deploy fetches and how, whichever kind of operation asked."""

    url: str
    ref: str | None
    source_kind: str
    force: bool = False
    build_only: bool = False
    #: Only for installs: the new tool's name, a hint for it, its sealed credentials.
    install: InstallParams | None = None


def run_deploy(run: OperationRun) -> None:
    """Install (a new tool) or deploy (an installed one): every step of DESIGN §3."""
    core = run.core
    if run.kind == OperationKind.INSTALL:
        install = run.params(InstallParams)
        wanted = _Wanted(install.url, install.ref, install.source_kind, install=install)
        try:
            _deploy(run, None, wanted)
        except MacheteError as exc:
            _never_ran(run, exc)
            raise
        return
    params = run.params(DeployParams)
    assert run.tool_id is not None
    tool = core.store.get_tool(run.tool_id)
    # A deploy may bring a new source (an uploaded archive); the tool keeps it once it is live.
    url = params.url or tool.source_url
    source_kind = params.source_kind or tool.source_kind
    _deploy(run, tool, _Wanted(url, tool.source_ref, source_kind, force=params.force))
    if params.url:
        core.store.update_tool(tool.id, source_url=url, source_kind=source_kind)


def _never_ran(run: OperationRun, exc: MacheteError) -> None:
    """An install that failed before a release existed: the tool (if it got that far) says
    why, rather than staying ``pending`` in silence."""
    if run.tool_id is None:
        return
    tool = run.core.store.find_tool(run.tool_id)
    if tool is not None and tool.current_release_id is None and tool.status == ToolStatus.PENDING:
        run.core.store.update_tool(
            tool.id, status=ToolStatus.FAILED, status_reason=run.redact(exc.message)
        )


def run_build(run: OperationRun) -> None:
    """Fetch and build the tool's source without starting it."""
    assert run.tool_id is not None
    tool = run.core.store.get_tool(run.tool_id)
    params = run.params(BuildParams)
    wanted = _Wanted(
        tool.source_url, tool.source_ref, tool.source_kind, force=params.force, build_only=True
    )
    _deploy(run, tool, wanted)


def _deploy(run: OperationRun, tool: ToolRecord | None, wanted: _Wanted) -> None:
    core = run.core
    url, ref, source_kind = wanted.url, wanted.ref, wanted.source_kind
    build_only, install = wanted.build_only, wanted.install
    source = core.source(source_kind)
    credentials = core.source_credentials(
        tool.source_credentials if tool else install.credentials if install else None
    )
    if credentials is not None:
        run.add_secrets(credentials.secrets)
    locator = Locator(
        url=url, ref=ref, kind=source_kind, credentials=credentials, cancel=run.cancel
    )
    if tool is not None and not build_only and not wanted.force:
        if _unchanged_upstream(run, tool, source, locator):
            return
    workspace = core.settings.work_dir / run.op.id
    try:
        src = workspace / "src"
        src.mkdir(parents=True)
        with run.step("fetch"):
            run.log.write(f"fetching {url}" + (f" ({ref})" if ref else ""))
            revision = source.fetch(locator, src, run.log)
            run.log.write(f"fetched {revision.commit or ''} {revision.digest}".replace("  ", " "))
        with run.step("manifest"):
            tree = read_tool(run, src, tool, install, url, ref, source_kind)
            tool, spec, root = tree.tool, tree.spec, tree.root
            mounts = mounts_for(core, tool, spec)
            check_resources(spec, core.settings)
        builder_name = core.resolve_builder(spec.builder or tool.builder)
        runtime_name = spec.runtime or tool.runtime or core.settings.default_runtime
        spec_data = spec_to_data(spec)
        key = release_key(
            revision.digest, spec_data, builder_name, runtime_name, tool.config_version
        )
        img_key = image_key(revision.digest, spec_data, builder_name)
        current = (
            core.store.get_release(tool.current_release_id) if tool.current_release_id else None
        )
        if (
            not build_only
            and not wanted.force
            and current is not None
            and current.key == key
            and current.status == ReleaseStatus.LIVE
            and instance_running(core, current)
        ):
            run.log.write(f"release {current.number} already runs this exact source and spec")
            core.store.update_tool(
                tool.id, spec=spec_data, status=ToolStatus.RUNNING, status_reason=None
            )
            return
        release = core.store.create_release(
            tool.id,
            key=key,
            image_key=img_key,
            commit=revision.commit,
            digest=revision.digest,
            ref=revision.ref,
            spec=spec_data,
            builder=builder_name,
            runtime=runtime_name,
            status=ReleaseStatus.BUILDING,
            operation_id=run.op.id,
            trigger=run.actor.describe(),
        )
        core.store.update_tool(
            tool.id, spec=spec_data, status=ToolStatus.BUILDING, status_reason=None
        )
        try:
            # --force means a fresh build; otherwise an identical earlier image is reused.
            reused = (
                None if wanted.force else _reusable_image(run, tool, release, img_key, builder_name)
            )
            image = reused or _build(run, tool, release, spec, root, builder_name)
        except MacheteError as exc:
            fail_release(run, tool, release, current, f"build failed: {exc.message}")
            raise
        if build_only:
            core.store.update_release(
                release.id, status=ReleaseStatus.BUILT, finished_at=time.time()
            )
            _settle_tool(run, tool, current)
            return
        start_and_promote(run, tool, release, spec, image, mounts, current, runtime_name, revision)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def check_resources(spec: ToolSpec, settings: Any) -> None:
    """Refuse, before building, limits no engine on this machine could grant (the engine would
    answer with its own text at start)."""
    cpus = os.cpu_count() or 1
    nano = parse_cpu(spec.resources.cpu or settings.default_cpu)
    if nano > cpus * 1_000_000_000:
        raise ResourcesExceedHostError(
            f"resources.cpu asks for {nano / 1e9:g} CPUs; this machine has {cpus}"
        )


def mounts_for(core: Core, tool: ToolRecord, spec: ToolSpec) -> tuple[Mount, ...]:
    """The host directories an instance gets, after the volume and Docker-socket policies."""
    mounts = resolve_mounts(spec.volumes, core.settings, tool.name)
    if spec.permissions.docker:
        if tool.name not in core.settings.docker_socket_tools:
            raise DockerAccessRefusedError(
                f"{tool.name} asks for the Docker socket (permissions.docker: true), "
                "which gives full control of the host; an admin can allow it for this "
                "tool with MACHETE_DOCKER_SOCKET_TOOLS"
            )
        mounts += (Mount(source=DOCKER_SOCKET, target=DOCKER_SOCKET),)
    return mounts


def run_rollback(run: OperationRun) -> None:
    """Deploy a retained release again, through the same gate, without building anything."""
    core = run.core
    assert run.tool_id is not None
    tool = core.store.get_tool(run.tool_id)
    releases = core.store.list_releases(tool.id)
    current = core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    wanted = run.params(RollbackParams).release
    with run.step("choose"):
        if wanted is not None:
            target = next((r for r in releases if r.number == int(wanted)), None)
            if target is None:
                raise InvalidInputError(f"{tool.name} has no release {wanted}")
        else:
            target = next(
                (
                    r
                    for r in releases
                    if r.status in (ReleaseStatus.RETIRED, ReleaseStatus.LIVE)
                    and (current is None or r.number < current.number)
                    and r.image_id
                ),
                None,
            )
            if target is None:
                raise InvalidInputError(f"{tool.name} has no earlier release to roll back to")
        if not target.image_id or not core.builder(target.builder).image_exists(target.image_id):
            raise InvalidInputError(
                f"release {target.number}'s image is no longer kept (retention); redeploy instead"
            )
        run.log.write(f"rolling back to release {target.number} ({(target.commit or '')[:12]})")
    spec = spec_from_data(target.spec)
    runtime_name = spec.runtime or tool.runtime or core.settings.default_runtime
    release = core.store.create_release(
        tool.id,
        key=release_key(
            target.digest or "", target.spec, target.builder, runtime_name, tool.config_version
        ),
        image_key=target.image_key,
        commit=target.commit,
        digest=target.digest,
        ref=target.ref,
        spec=target.spec,
        builder=target.builder,
        runtime=runtime_name,
        image_id=target.image_id,
        image_tag=target.image_tag,
        status=ReleaseStatus.STARTING,
        operation_id=run.op.id,
        trigger=f"rollback to {target.number}",
    )
    image = Image(id=target.image_id, tags=(target.image_tag or "",))
    revision = Revision(digest=target.digest or "", commit=target.commit, ref=target.ref)
    start_and_promote(
        run,
        tool,
        release,
        spec,
        image,
        mounts_for(core, tool, spec),
        current,
        runtime_name,
        revision,
    )


def _unchanged_upstream(
    run: OperationRun, tool: ToolRecord, source: Source, locator: Locator
) -> bool:
    """Skip even the fetch when the source's cheap ``resolve`` shows the live release's commit.

    The same commit means the same tree and manifest; the key also covers the builder and
    runtime in force now, so a settings change still redeploys.
    """
    core = run.core
    current = core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    if current is None or current.status != ReleaseStatus.LIVE or not current.commit:
        return False
    with run.step("resolve"):
        upstream = source.resolve(locator)
        run.log.write(f"upstream is at {upstream or 'an unknown revision'}")
        if upstream != current.commit or current.digest is None:
            return False
        spec = spec_from_data(current.spec)
        key = release_key(
            current.digest,
            current.spec,
            core.resolve_builder(spec.builder or tool.builder),
            spec.runtime or tool.runtime or core.settings.default_runtime,
            tool.config_version,
        )
        if key != current.key or not instance_running(core, current):
            return False
        run.log.write(f"release {current.number} already runs {upstream}: nothing to do")
    core.store.update_tool(tool.id, status=ToolStatus.RUNNING, status_reason=None)
    return True


def _reusable_image(
    run: OperationRun, tool: ToolRecord, release: ReleaseRecord, img_key: str, builder_name: str
) -> Image | None:
    """An earlier release's image built from the same source, spec and builder (e.g. when
    only the configuration changed): no need to build it again."""
    core = run.core
    builder = core.builder(builder_name)
    for earlier in core.store.list_releases(tool.id):
        if earlier.id == release.id or earlier.image_key != img_key or not earlier.image_id:
            continue
        if builder.image_exists(earlier.image_id):
            with run.step("build"):
                run.log.write(f"reusing the image of release {earlier.number}")
                core.store.update_release(
                    release.id, image_id=earlier.image_id, image_tag=earlier.image_tag
                )
            return Image(id=earlier.image_id, tags=(earlier.image_tag or "",))
    return None


def _build(
    run: OperationRun,
    tool: ToolRecord,
    release: ReleaseRecord,
    spec: ToolSpec,
    root: Path,
    builder_name: str,
) -> Image:
    core = run.core
    with run.step("build"):
        builder = core.builder(builder_name)
        check_build_args(spec.build_args)
        prescan_dockerfile(
            root / spec.dockerfile,
            allow_frontends=core.settings.allow_dockerfile_frontends,
            build_args=spec.build_args,
            allowed_frontends=core.settings.allowed_dockerfile_frontends,
        )
        pin_frontend(root / spec.dockerfile, builder, run.log.write)
        if isinstance(builder, InspectsImages):
            check_base_images(
                base_images(root / spec.dockerfile, spec.build_args),
                builder.image_labels,
                tool=tool.name,
                installation=core.settings.installation,
                allowed=core.settings.allowed_base_images,
                registry=core.settings.registry,
            )
        check_free_disk(engine_data_root(core.settings), core.settings.min_free_disk_bytes)
        tag = f"{image_repository(core.settings.installation, tool.name)}:r{release.number}"
        request = BuildRequest(
            tool=tool.name,
            context=root,
            dockerfile=spec.dockerfile,
            target=spec.target,
            tags=(tag,),
            labels=labels.for_release(core.settings.installation, tool.name, release.number),
            timeout=spec.build_timeout or core.settings.build_timeout,
            cancel=run.cancel,
            build_args={**proxy_build_args(core.settings, spec.build_args), **spec.build_args},
            secrets=build_secrets(core.settings, run.log.write),
        )
        with core.build_slot(run.cancel, run.log.write):
            started, outcome = time.monotonic(), "failed"
            try:
                image = builder.build(request, run.log)
                outcome = "succeeded"
            except BuildError as exc:
                outcome = "timeout" if isinstance(exc, BuildTimeoutError) else "failed"
                raise with_cause(exc, builder, root / spec.dockerfile, spec.build_args) from None
            except CancelledError:
                outcome = "cancelled"
                raise
            finally:
                # For observers (metrics): the build alone, without the wait for a slot.
                run.publish(
                    "build.finished",
                    builder=builder_name,
                    outcome=outcome,
                    seconds=round(time.monotonic() - started, 3),
                )
        core.store.update_release(release.id, image_id=image.id, image_tag=tag)
        run.log.write(f"built image {image.id[:19]} as {tag}")
    return image


def _settle_tool(run: OperationRun, tool: ToolRecord, current: ReleaseRecord | None) -> None:
    """After a build-only operation, the tool's status goes back to what runs."""
    core = run.core
    if current is not None and instance_running(core, current):
        core.store.update_tool(tool.id, status=ToolStatus.RUNNING)
    elif current is not None:
        core.store.update_tool(tool.id, status=ToolStatus.STOPPED)
    else:
        core.store.update_tool(
            tool.id, status=ToolStatus.PENDING, status_reason="built, not started"
        )
