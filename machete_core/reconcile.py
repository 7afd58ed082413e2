"""The reconciler: make what runs match what the database wants, and finish what was cut off.

Run at server start, periodically, and by ``machete reconcile``. It only ever touches objects
labelled with this installation, and it never recreates an instance that still exists, so a
platform restart leaves the same containers running.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

from machete_core.context import Core
from machete_core.domain import labels
from machete_core.domain.status import ReleaseStatus, ToolStatus
from machete_core.errors import MacheteError, StateMissingError
from machete_core.leases import holder_process_gone
from machete_core.observe import refresh_observed
from machete_core.pipeline.abandon import end_abandoned
from machete_core.plugins.protocols import ListsImages
from machete_core.routing import EVERY_TOOL, reconcile_routes

if TYPE_CHECKING:
    from machete_core.state.views import ReleaseRecord, ToolRecord

#: Restart attempts back off: 5 s, 10 s, 20 s ... up to 5 minutes between tries.
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 300.0
LOCK = "reconciler"
#: A round that dies without unlocking blocks others this long at most.
LOCK_SECONDS = 300.0


@attrs.define
class ReconcileReport:
    abandoned: list[str] = attrs.Factory(list)
    orphans_removed: list[str] = attrs.Factory(list)
    uploads_removed: list[str] = attrs.Factory(list)
    images_removed: list[str] = attrs.Factory(list)
    workspaces_removed: list[str] = attrs.Factory(list)
    #: True when another process was reconciling: this round did nothing.
    skipped: bool = False
    stopped: list[str] = attrs.Factory(list)
    restarted: list[str] = attrs.Factory(list)
    missing: list[str] = attrs.Factory(list)
    routes_published: list[str] = attrs.Factory(list)
    routes_withdrawn: list[str] = attrs.Factory(list)
    #: Tools whose routes the ingress did not take, with why (their instances are kept).
    routes_failed: dict[str, str] = attrs.Factory(dict)


class Reconciler:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._backoff: dict[str, tuple[int, float]] = {}

    def run(self, *, forget_unknown: bool = False) -> ReconcileReport:
        """One round, unless another process (a second server on the same database) is in
        the middle of one: two reconcilers never act on the same objects at once."""
        report = ReconcileReport()
        store, holder = self.core.store, self.core.holder_id
        # A holder killed mid-round (on this host) does not block reconciling for the lock's
        # whole time: its lock is taken over at once.
        if not store.try_lock(LOCK, holder, LOCK_SECONDS, holder_gone=holder_process_gone):
            report.skipped = True
            return report
        try:
            busy = self._finish_abandoned(report)
            # Read once (after abandoned operations were undone) for both sweeps.
            by_tool = self.core.store.releases_by_tool()
            releases = [(t, by_tool.get(t.id, [])) for t in self.core.store.list_tools()]
            if not releases and not forget_unknown:
                self._refuse_unknown_objects()
            self._enforce_tools(report, busy, releases)
            # Routes before orphans: after a crash between a promotion and its route, the
            # ingress still sends requests to the old instance until it is told otherwise.
            routes = reconcile_routes(self.core, busy, self.core.tool_busy)
            report.routes_published = routes.published
            report.routes_withdrawn = routes.withdrawn
            report.routes_failed = routes.failed
            busy = busy | set(routes.failed)
            if EVERY_TOOL in routes.failed:
                busy = busy | {tool.name for tool, _rels in releases}
            self._remove_orphans(report, busy, releases)
            self._retire_superseded(busy, releases)
            self._remove_orphan_images(report, busy, releases)
            self._remove_workspaces(report)
            self._sweep_uploads(report, [tool for tool, _rels in releases])
            # Views read observed state: each round brings it up to date (observe.py).
            refresh_observed(self.core)
            store.prune_events(self.core.settings.events_kept)
            # The audit log keeps its own retention; ended sessions and old sign-in failures go.
            self.core.access.prune()
        finally:
            store.unlock(LOCK, holder)
        return report

    def _refuse_unknown_objects(self) -> None:
        """A database with no tool that has never run an operation, beside engine objects of
        this installation, is not a fresh installation: it is a lost or replaced database (an
        empty file, a wrong URL). Removing those objects would delete tools; refuse instead."""
        core = self.core
        if core.store.list_operations(None, limit=1):
            return  # this state has lived: its tools were removed, so are their leftovers
        # With no release recorded, the default runtime is the only one to ask.
        try:
            found = core.runtime(core.settings.default_runtime).list(
                labels.owned_by(core.settings.installation)
            )
        except MacheteError:
            return  # cannot be asked now: nothing will be removed this round either
        names = {s.labels.get(labels.TOOL, "") or s.name for s in found}
        if names:
            raise StateMissingError(
                f"the database has no record of tools this installation "
                f"({core.settings.installation}) runs on the engine: {', '.join(sorted(names))}. "
                "Restore the database from a backup (machete restore FILE) or point "
                "MACHETE_DATABASE_URL at the right one; to remove those objects for good, an "
                "admin runs `machete reconcile --forget-unknown`"
            )

    def _finish_abandoned(self, report: ReconcileReport) -> set[str]:
        """Operations whose process died are ended; their half-made releases undone.

        Returns the names of tools with an operation still really running (left alone).
        """
        core = self.core
        busy: set[str] = set()
        for op in core.store.list_operations(limit=500):
            if op.done:
                continue
            if core.holder_alive(op):
                if op.tool_name:
                    busy.add(op.tool_name)
                continue
            end_abandoned(self.core, op)
            report.abandoned.append(op.id)
        return busy

    def _remove_orphans(
        self,
        report: ReconcileReport,
        busy: set[str],
        releases: list[tuple[ToolRecord, list[ReleaseRecord]]],
    ) -> None:
        """Instances of ours that no tool's live release uses (and no running operation)."""
        core = self.core
        wanted: set[str] = set()
        runtimes = {core.settings.default_runtime}
        for tool, rels in releases:
            for rel in rels:
                runtimes.add(rel.runtime)
                if rel.instance_id and (rel.id == tool.current_release_id or tool.name in busy):
                    wanted.add(rel.instance_id)
        for name in sorted(runtimes):
            try:
                runtime = core.runtime(name)
                found = runtime.list(labels.owned_by(core.settings.installation))
            except MacheteError:
                continue  # a runtime that cannot be asked now (or any more): next round
            known = {tool.name for tool, _rels in releases}
            gone: set[str] = set()
            for state in found:
                tool_name = state.labels.get(labels.TOOL, "")
                if state.id in wanted or tool_name in busy:
                    continue
                runtime.stop(state.id, timeout=5)
                runtime.remove(state.id)
                report.orphans_removed.append(state.name)
                if tool_name and tool_name not in known:
                    gone.add(tool_name)
            for tool_name in sorted(gone):
                # The tool itself is gone: its network goes with its last instance.
                try:
                    runtime.cleanup(labels.owned_by(core.settings.installation, tool_name))
                except MacheteError:
                    continue

    def _retire_superseded(
        self, busy: set[str], releases: list[tuple[ToolRecord, list[ReleaseRecord]]]
    ) -> None:
        """A release still marked live that its tool no longer points at: its operation
        was cut off between the promotion and the retirement (its instance is an orphan)."""
        for tool, rels in releases:
            if tool.name in busy:
                continue
            for rel in rels:
                if rel.status == ReleaseStatus.LIVE and rel.id != tool.current_release_id:
                    self.core.store.update_release(rel.id, status=ReleaseStatus.RETIRED)

    def _remove_orphan_images(
        self,
        report: ReconcileReport,
        busy: set[str],
        releases: list[tuple[ToolRecord, list[ReleaseRecord]]],
    ) -> None:
        """Images of ours that no release records, e.g. built by a process that died before
        it could write the image down. Only builders that can list images take part."""
        core = self.core
        everything = [r for _tool, rels in releases for r in rels]
        recorded = {r.image_id for r in everything if r.image_id}
        names = {core.resolve_builder(None)} | {r.builder for r in everything}
        seen: set[str] = set()
        for name in sorted(names):
            builder = core.builder(name)
            if not isinstance(builder, ListsImages):
                continue
            for image in builder.list_images(labels.owned_by(core.settings.installation)):
                tool_name = image.labels.get(labels.TOOL, "")
                if image.id in recorded or image.id in seen or tool_name in busy:
                    continue
                if self.core.tool_busy(tool_name):
                    continue  # an operation began since this round started; its build may be it
                seen.add(image.id)
                core.builder(name).remove_image(image.id)
                report.images_removed.append(image.tags[0] if image.tags else image.id[:19])

    def _sweep_uploads(self, report: ReconcileReport, tools: list[ToolRecord]) -> None:
        """Uploaded archives that no tool's source and no unfinished operation names: failed
        uploads and superseded ones would otherwise fill the disk."""
        from machete_core.sources.uploads import sweep_uploads

        core = self.core
        referenced = {t.source_url for t in tools}
        referenced |= {
            str(op.params.get("url", ""))
            for op in core.store.list_operations(limit=500)
            if not op.done
        }
        report.uploads_removed.extend(sweep_uploads(core.settings, referenced, time.time()))

    def _remove_workspaces(self, report: ReconcileReport) -> None:
        """Work directories (fetched sources, build contexts) of operations that have ended."""
        import shutil

        work = self.core.settings.work_dir
        if not work.is_dir():
            return
        for entry in work.iterdir():
            try:
                op = self.core.store.get_operation(entry.name)
            except MacheteError:
                op = None
            if op is not None and not op.done:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            report.workspaces_removed.append(entry.name)

    def _enforce_tools(
        self,
        report: ReconcileReport,
        busy: set[str],
        releases: list[tuple[ToolRecord, list[ReleaseRecord]]],
    ) -> None:
        """``enabled`` off stops a tool; a running tool whose instance stopped is restarted
        (with backoff, if ``auto_start``); a vanished instance is reported as failed."""
        core = self.core
        # The tools as read at the round's start: an operation that began since holds
        # its lease, and the next round sees what it changed.
        for tool, rels in releases:
            if tool.name in busy or tool.current_release_id is None:
                continue
            release = next((r for r in rels if r.id == tool.current_release_id), None)
            if release is None or not release.instance_id:
                continue
            runtime = core.runtime(release.runtime)
            try:
                state = runtime.inspect(release.instance_id)
            except MacheteError:
                continue  # the engine cannot be asked now; try again next round
            if state.state == "missing":
                if tool.status != ToolStatus.FAILED:
                    core.store.update_tool(
                        tool.id,
                        status=ToolStatus.FAILED,
                        status_reason="its container is gone; redeploy to recreate it",
                    )
                    report.missing.append(tool.name)
                continue
            if not tool.enabled:
                if state.state == "running":
                    runtime.stop(release.instance_id)
                    core.store.update_tool(
                        tool.id, status=ToolStatus.STOPPED, status_reason="disabled"
                    )
                    report.stopped.append(tool.name)
                continue
            if state.state == "stopped" and tool.status == ToolStatus.RUNNING and tool.auto_start:
                if self._may_retry(tool.name):
                    runtime.resume(release.instance_id)
                    report.restarted.append(tool.name)
                    core.events.publish("tool.restarted", tool=tool.name, reason="reconciler")
            elif state.state == "running":
                self._backoff.pop(tool.name, None)

    def _may_retry(self, tool: str) -> bool:
        attempts, not_before = self._backoff.get(tool, (0, 0.0))
        now = time.monotonic()
        if now < not_before:
            return False
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempts)
        self._backoff[tool] = (attempts + 1, now + delay)
        return True
