"""Local mode: the core on this machine's state directory, as the host's ``local`` actor
(whoever can read the state holds every key anyway). Answers are rendered as the API renders
them, with the same helpers, so both modes print the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from machete_cli.backend.base import Backend, Data, Progress
from machete_cli.render import waiting_line
from machete_core.access.audit import as_data
from machete_core.access.principal import local
from machete_core.domain.operations import LOCAL_CLI, StepProgress, StepState
from machete_core.domain.spec import ToolOverrides
from machete_core.errors import MacheteError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_core.state.people_views import token_summary, user_summary
from machete_core.state.views import OperationRecord
from machete_core.views import to_data


class LocalBackend(Backend):
    def __init__(self, settings: Settings) -> None:
        from machete_plugins import BUILTIN_PLUGINS

        self.m: Machete = create_machete(settings, builtins=BUILTIN_PLUGINS).acting_as(
            local(LOCAL_CLI)
        )

    def close(self) -> None:
        self.m.close()

    # -- tools -----------------------------------------------------------------------------

    def tools(self) -> list[Data]:
        return list(to_data(self.m.list_tools()))

    def tool(self, name: str) -> Data:
        return dict(to_data(self.m.get(name)))

    def health(self, name: str) -> Data:
        probe = self.m.health(name)
        history = self.m.health_history(name, limit=20)
        return {"healthy": probe.healthy, "error": probe.error, "history": to_data(history)}

    def logs(self, name: str, tail: int) -> list[str]:
        return list(self.m.logs(name, tail=tail))

    def follow_logs(self, name: str, tail: int) -> Iterator[str]:
        return self.m.follow_tool(name, tail=tail)

    def releases(self, name: str) -> list[Data]:
        return list(to_data(self.m.releases(name)))

    def config(self, name: str) -> list[Data]:
        return list(to_data(self.m.config(name)))

    def change_config(
        self, name: str, values: dict[str, str], secret: bool, unset: tuple[str, ...]
    ) -> Data | None:
        op = self.m.change_config(name, values, secret=secret, unset=unset, actor=LOCAL_CLI)
        return None if op is None else dict(to_data(op))

    def set_tool(
        self,
        name: str,
        overrides: Data,
        clear: tuple[str, ...],
        enabled: bool | None,
        auto_start: bool | None,
        builder: str | None,
    ) -> Data:
        if overrides or clear:
            self.m.set_overrides(name, ToolOverrides(**overrides), clear=clear)
        view = self.m.set_flags(name, enabled=enabled, auto_start=auto_start, builder=builder)
        return dict(to_data(view))

    # -- operations ------------------------------------------------------------------------

    def install(
        self,
        url: str,
        name: str | None,
        ref: str | None,
        credentials: tuple[str, str] | None,
        overrides: Data,
    ) -> Data:
        from machete_core.secrets import Credentials

        creds = (
            Credentials(username=credentials[0], password=credentials[1]) if credentials else None
        )
        op = self.m.submit_install(
            url,
            name=name,
            ref=ref,
            credentials=creds,
            overrides=ToolOverrides(**overrides),
            actor=LOCAL_CLI,
        )
        return dict(to_data(op))

    def upload(
        self,
        stream: BinaryIO,
        *,
        name: str | None = None,
        filename: str | None = None,
        tool: str | None = None,
        overrides: Data | None = None,
    ) -> Data:
        op = self.m.submit_upload(
            stream,
            tool=tool,
            name=name,
            filename=filename,
            overrides=ToolOverrides(**overrides) if overrides else None,
            actor=LOCAL_CLI,
        )
        return dict(to_data(op))

    def submit(self, kind: str, name: str, wait: bool, params: Data) -> Data:
        def busy(op: OperationRecord) -> None:
            waiting_line(f"{op.tool_name} is busy with operation {op.id} ({op.kind})")

        op = self.m.submit(
            kind,
            name,
            actor=LOCAL_CLI,
            wait=float("inf") if wait else None,
            on_wait=busy,
            **params,
        )
        return dict(to_data(op))

    def run(self, op: Data, progress: Progress | None) -> Data:
        def step(report: StepProgress) -> None:
            if progress is not None and report.state == StepState.STARTED:
                progress.step(report.index, report.total, report.step)

        try:
            self.m.run(op["id"], on_line=progress.line if progress else None, on_step=step)
        except MacheteError:
            pass  # recorded on the operation, which the command reports
        return dict(to_data(self.m.operation(op["id"])))

    @property
    def can_detach(self) -> bool:
        return False

    def operations(self, tool: str | None) -> list[Data]:
        return list(to_data(self.m.operations(tool)))

    def operation(self, op_id: str) -> Data:
        return dict(to_data(self.m.operation(op_id)))

    def operation_log(self, op_id: str) -> str:
        return self.m.operation_log(op_id)[0]

    def follow_operation_log(self, op_id: str) -> Iterator[str]:
        return self.m.follow_operation(op_id)

    def cancel(self, op_id: str) -> bool:
        return self.m.cancel(op_id)

    def events(self, last: int, tool: str | None, follow: bool) -> Iterator[Data]:
        for event in self.m.events_log(last=last, tool=tool, follow=follow):
            yield dict(to_data(event))

    def plugins(self) -> list[Data]:
        return self.m.plugin_report()

    # -- people and programs -----------------------------------------------------------------

    def whoami(self) -> Data:
        return {"name": "cli", "kind": "local", "role": None, "token": None}

    def users(self) -> list[Data]:
        return [user_summary(u) for u in self.m.access.users()]

    def add_user(self, name: str, role: str, password: str | None, service: bool) -> Data:
        return user_summary(self.m.access.add_user(name, role, password=password, service=service))

    def change_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> Data:
        user = None
        if role is not None:
            user = self.m.access.set_role(name, role)
        if disabled is not None:
            user = self.m.access.set_disabled(name, disabled)
        assert user is not None
        return user_summary(user)

    def reset_password(self, name: str, password: str) -> Data:
        return user_summary(self.m.access.reset_password(name, password))

    def teams(self) -> list[Data]:
        return [
            {"name": t.name, "members": list(t.members), "created_at": t.created_at}
            for t in self.m.access.teams()
        ]

    def add_team(self, name: str) -> Data:
        return {"name": self.m.access.add_team(name).name, "members": []}

    def delete_team(self, name: str) -> None:
        self.m.access.delete_team(name)

    def set_member(self, team: str, user: str, member: bool) -> None:
        self.m.access.set_member(team, user, member)

    def grant(self, tool: str, role: str | None, *, user: str | None, team: str | None) -> None:
        self.m.access.grant(tool, role, user=user, team=team)

    def tokens(self, user: str | None) -> list[Data]:
        return [token_summary(t) for t in self.m.access.tokens(user)]

    def create_token(
        self,
        name: str,
        scopes: tuple[str, ...],
        tools: tuple[str, ...],
        days: int | None,
        user: str | None,
    ) -> Data:
        text, record = self.m.access.create_token(
            name, scopes, tools=tools, expires_days=days, user=user
        )
        return {"token": text, "record": token_summary(record)}

    def revoke_token(self, token_id: str) -> None:
        self.m.access.revoke_token(token_id)

    def audit(
        self, tool: str | None, actor: str | None, since: float | None, limit: int
    ) -> list[Data]:
        rows = self.m.access.audit(tool=tool, actor=actor, since=since, limit=limit)
        return [as_data(r) for r in rows]

    def hook(self, tool: str, change: str, value: int | None = None) -> Data:
        from machete_core.triggers.webhooks import HookSecret, HookView

        hooks = self.m.hooks
        made: HookSecret | HookView | None
        if change == "show":
            made = hooks.show(tool)
        elif change == "enable":
            made = hooks.enable(tool)
        elif change == "disable":
            made = hooks.disable(tool)
        elif change == "rotate":
            made = hooks.rotate(tool, value if value is not None else 3600)
        else:
            made = hooks.set_poll(tool, value)
        secret = made.secret if isinstance(made, HookSecret) else None
        view = made.hook if isinstance(made, HookSecret) else made
        # Without a server, the URL is known only when MACHETE_PUBLIC_URL says where it is.
        public = self.m.settings.public_url.rstrip("/")
        url = public + view.path if view is not None and public else None
        return {"hook": to_data(view), "url": url, "secret": secret}

    def hook_deliveries(self, tool: str, limit: int) -> list[Data]:
        return list(to_data(self.m.hooks.deliveries(tool, limit)))

    def notify_channels(self, tool: str | None) -> list[Data]:
        return list(to_data(self.m.notifications.channels(tool)))

    def notify_add(
        self,
        name: str,
        kind: str,
        target: str,
        *,
        events: list[str],
        tools: list[str],
        tool: str | None,
    ) -> Data:
        added = self.m.notifications.add(name, kind, target, events=events, tools=tools, tool=tool)
        return {"channel": to_data(added.channel), "secret": added.secret}

    def notify_change(self, name: str, *, enabled: bool | None, events: list[str] | None) -> Data:
        return dict(to_data(self.m.notifications.update(name, enabled=enabled, events=events)))

    def notify_remove(self, name: str) -> None:
        self.m.notifications.remove(name)

    def notify_test(self, name: str) -> int:
        return self.m.notifications.test(name)

    def notify_deliveries(self, name: str, limit: int) -> list[Data]:
        return list(to_data(self.m.notifications.deliveries(name, limit)))

    def domains(self, tool: str | None) -> list[Data]:
        return list(to_data(self.m.domains.list(tool)))

    def domain_add(self, tool: str, name: str, tls: str) -> Data:
        return dict(to_data(self.m.domains.add(tool, name, tls)))

    def domain_remove(self, tool: str, name: str) -> None:
        self.m.domains.remove(tool, name)

    def ingress(self) -> Data:
        return dict(to_data(self.m.domains.ingress()))

    def ingress_ca(self) -> str | None:
        return self.m.domains.root_certificate()
