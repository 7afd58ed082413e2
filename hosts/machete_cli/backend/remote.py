"""Client mode: every command through a server's API. Plain requests use ``http.client``;
following (steps, logs, events) loads the WebSocket client only then."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from machete_cli.backend.base import Backend, Data, Progress
from machete_cli.client.errors import BadResponseError, RemoteError
from machete_cli.client.http import ApiClient, path
from machete_cli.render import waiting_line

#: The longest wait the API grants at once (``?wait=``); a longer wait asks again.
MAX_WAIT_S = 600


class RemoteBackend(Backend):
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def _follow(self, where: str, query: dict[str, Any] | None = None) -> Iterator[str]:
        from machete_cli.client.streams import messages

        return messages(self.client, where, query)

    def _follow_json(self, where: str, query: dict[str, Any] | None = None) -> Iterator[Any]:
        from machete_cli.client.streams import json_messages

        return json_messages(self.client, where, query)

    # -- tools -----------------------------------------------------------------------------

    def tools(self) -> list[Data]:
        return list(self.client.get("/api/tools")["tools"])

    def tool(self, name: str) -> Data:
        return dict(self.client.get(path("api", "tools", name))["tool"])

    def health(self, name: str) -> Data:
        probe = self.client.get(path("api", "tools", name, "health"))
        history = self.client.get(path("api", "tools", name, "health", "history"), {"limit": 20})
        return {"healthy": probe["healthy"], "error": probe["error"], "history": history["history"]}

    def logs(self, name: str, tail: int) -> list[str]:
        return list(self.client.get(path("api", "tools", name, "logs"), {"tail": tail})["lines"])

    def follow_logs(self, name: str, tail: int) -> Iterator[str]:
        return self._follow(path("api", "tools", name, "logs", "follow"), {"tail": tail})

    def releases(self, name: str) -> list[Data]:
        return list(self.client.get(path("api", "tools", name, "releases"))["releases"])

    def config(self, name: str) -> list[Data]:
        return list(self.client.get(path("api", "tools", name, "config"))["config"])

    def change_config(
        self, name: str, values: dict[str, str], secret: bool, unset: tuple[str, ...]
    ) -> Data | None:
        answer = self.client.call(
            "PUT",
            path("api", "tools", name, "config"),
            data={"values": values, "secret": secret, "unset": list(unset)},
        )
        op = answer.get("operation")
        return dict(op) if isinstance(op, dict) else None

    def set_tool(
        self,
        name: str,
        overrides: Data,
        clear: tuple[str, ...],
        enabled: bool | None,
        auto_start: bool | None,
        builder: str | None,
    ) -> Data:
        patch: Data = {**overrides}
        if clear:
            patch["clear"] = list(clear)
        for key, value in (("enabled", enabled), ("auto_start", auto_start)):
            if value is not None:
                patch[key] = value
        if builder is not None:
            patch["builder"] = builder or None  # '' asks for the installation's default
        return dict(self.client.call("PATCH", path("api", "tools", name), data=patch)["tool"])

    # -- operations ------------------------------------------------------------------------

    def install(
        self,
        url: str,
        name: str | None,
        ref: str | None,
        credentials: tuple[str, str] | None,
        overrides: Data,
    ) -> Data:
        request: Data = {"url": url, **overrides}
        if name:
            request["name"] = name
        if ref:
            request["ref"] = ref
        if credentials:
            request["credentials"] = {"username": credentials[0], "password": credentials[1]}
        return _operation(self.client.call("POST", "/api/tools", data=request))

    def upload(
        self,
        stream: BinaryIO,
        *,
        name: str | None = None,
        filename: str | None = None,
        tool: str | None = None,
        overrides: Data | None = None,
    ) -> Data:
        if tool is not None:
            where = path("api", "tools", tool, "deploy")
            query: dict[str, Any] = {}
        else:
            where = "/api/tools"
            query = {k: v for k, v in (overrides or {}).items() if k != "build_args"}
            query["build_arg"] = [
                f"{k}={v}" for k, v in (overrides or {}).get("build_args", {}).items()
            ]
            query.update({k: v for k, v in (("name", name), ("filename", filename)) if v})
        answer = self.client.call(
            "POST",
            where,
            query={k: v for k, v in query.items() if v not in (None, [])},
            body=stream,
            content_type="application/octet-stream",
            timeout=3600,
        )
        return _operation(answer)

    def submit(self, kind: str, name: str, wait: bool, params: Data) -> Data:
        if kind == "remove":
            method, where, data = "DELETE", path("api", "tools", name), None
            query: dict[str, Any] = {"purge": "true"} if params.get("purge") else {}
        else:
            method, where, data = "POST", path("api", "tools", name, kind), params
            query = {}
        try:
            return _operation(self.client.call(method, where, query=query or None, data=data))
        except RemoteError as exc:
            if not wait or exc.code != "tool_busy":
                raise
            waiting_line(exc.message.partition(";")[0])
        while True:
            try:
                answer = self.client.call(
                    method,
                    where,
                    query={**query, "wait": MAX_WAIT_S},
                    data=data,
                    timeout=MAX_WAIT_S + 60,
                )
                return _operation(answer)
            except RemoteError as exc:
                if exc.code != "tool_busy":
                    raise

    def run(self, op: Data, progress: Progress | None) -> Data:
        final: Data | None = None
        for message in self._follow_json(path("api", "operations", op["id"], "progress")):
            kind = message.get("type")
            if kind == "line" and progress is not None:
                progress.line(str(message["text"]))
            elif kind == "step" and progress is not None and message.get("state") == "started":
                progress.step(int(message["index"]), int(message["total"]), str(message["step"]))
            elif kind == "end":
                final = dict(message["operation"])
        if final is None:  # the stream ended early (the server stopped): read the record
            final = self.operation(op["id"])
        return final

    @property
    def can_detach(self) -> bool:
        return True

    def operations(self, tool: str | None) -> list[Data]:
        where = "/api/operations" if tool is None else path("api", "tools", tool, "operations")
        return list(self.client.get(where)["operations"])

    def operation(self, op_id: str) -> Data:
        return dict(self.client.get(path("api", "operations", op_id))["operation"])

    def operation_log(self, op_id: str) -> str:
        parts, offset = [], 0
        while True:
            chunk = self.client.get(path("api", "operations", op_id, "log"), {"offset": offset})
            parts.append(chunk["text"])
            if chunk["next_offset"] <= offset or not chunk["text"]:
                return "".join(parts)
            offset = chunk["next_offset"]

    def follow_operation_log(self, op_id: str) -> Iterator[str]:
        return self._follow(path("api", "operations", op_id, "log", "follow"))

    def cancel(self, op_id: str) -> bool:
        answer = self.client.call("POST", path("api", "operations", op_id, "cancel"), accept=(409,))
        if "cancelling" in answer:
            return bool(answer["cancelling"])
        if answer.get("error_code") == "operation_ended":
            return False
        raise self.client.error_from(409, answer)

    def events(self, last: int, tool: str | None, follow: bool) -> Iterator[Data]:
        query: dict[str, Any] = {"last": last}
        if tool:
            query["tool"] = tool
        listing = self.client.get("/api/events", query)
        yield from listing["events"]
        if follow:
            query = {"after": listing["last_id"], **({"tool": tool} if tool else {})}
            yield from self._follow_json("/api/events", query)

    def plugins(self) -> list[Data]:
        return list(self.client.get("/api/plugins")["plugins"])

    # -- people and programs -----------------------------------------------------------------

    def whoami(self) -> Data:
        return dict(self.client.get("/api/auth/me"))

    def users(self) -> list[Data]:
        return list(self.client.get("/api/users")["users"])

    def add_user(self, name: str, role: str, password: str | None, service: bool) -> Data:
        data: Data = {"name": name, "role": role, "service": service}
        if password is not None:
            data["password"] = password
        return dict(self.client.call("POST", "/api/users", data=data)["user"])

    def change_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> Data:
        data: Data = {}
        if role is not None:
            data["role"] = role
        if disabled is not None:
            data["disabled"] = disabled
        return dict(self.client.call("PATCH", path("api", "users", name), data=data)["user"])

    def reset_password(self, name: str, password: str) -> Data:
        answer = self.client.call(
            "POST", path("api", "users", name, "password"), data={"password": password}
        )
        return dict(answer["user"])

    def teams(self) -> list[Data]:
        return list(self.client.get("/api/teams")["teams"])

    def add_team(self, name: str) -> Data:
        return dict(self.client.call("POST", "/api/teams", data={"name": name})["team"])

    def delete_team(self, name: str) -> None:
        self.client.call("DELETE", path("api", "teams", name))

    def set_member(self, team: str, user: str, member: bool) -> None:
        self.client.call("PUT" if member else "DELETE", path("api", "teams", team, "members", user))

    def grant(self, tool: str, role: str | None, *, user: str | None, team: str | None) -> None:
        kind, name = ("team", team) if team else ("user", user)
        if role is None:
            self.client.call("DELETE", path("api", "tools", tool, "grants", kind, name or ""))
        else:
            self.client.call(
                "PUT", path("api", "tools", tool, "grants"), data={kind: name, "role": role}
            )

    def tokens(self, user: str | None) -> list[Data]:
        return list(self.client.get("/api/tokens", {"user": user} if user else None)["tokens"])

    def create_token(
        self,
        name: str,
        scopes: tuple[str, ...],
        tools: tuple[str, ...],
        days: int | None,
        user: str | None,
    ) -> Data:
        data: Data = {"name": name, "scopes": list(scopes), "tools": list(tools)}
        if days is not None:
            data["expires_days"] = days
        if user is not None:
            data["user"] = user
        answer = self.client.call("POST", "/api/tokens", data=data)
        return {"token": answer["token"], "record": answer["record"]}

    def revoke_token(self, token_id: str) -> None:
        self.client.call("DELETE", path("api", "tokens", token_id))

    def audit(
        self, tool: str | None, actor: str | None, since: float | None, limit: int
    ) -> list[Data]:
        query: dict[str, Any] = {"limit": limit}
        for key, value in (("tool", tool), ("actor", actor), ("since", since)):
            if value is not None:
                query[key] = value
        return list(self.client.get("/api/audit", query)["audit"])

    def hook(self, tool: str, change: str, value: int | None = None) -> Data:
        where = path("api", "tools", tool, "hook")
        if change == "show":
            answer = self.client.get(where)
        elif change == "enable":
            answer = self.client.call("PUT", where)
        elif change == "disable":
            answer = self.client.call("DELETE", where)
        elif change == "rotate":
            grace = {"grace": value} if value is not None else {}
            answer = self.client.call("POST", where + "/rotate", data=grace)
        else:
            answer = self.client.call("PUT", where + "/poll", data={"seconds": value})
        return {
            "hook": answer.get("hook"),
            "url": answer.get("url"),
            "secret": answer.get("secret"),
        }

    def hook_deliveries(self, tool: str, limit: int) -> list[Data]:
        where = path("api", "tools", tool, "hook", "deliveries")
        return list(self.client.get(where, {"limit": str(limit)})["deliveries"])

    def notify_channels(self, tool: str | None) -> list[Data]:
        where = path("api", "tools", tool, "notifications") if tool else "/api/notifications"
        return list(self.client.get(where)["channels"])

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
        where = path("api", "tools", tool, "notifications") if tool else "/api/notifications"
        body = {"name": name, "kind": kind, "target": target, "events": events, "tools": tools}
        answer = self.client.call("POST", where, data=body)
        return {"channel": answer["channel"], "secret": answer.get("secret")}

    def notify_change(self, name: str, *, enabled: bool | None, events: list[str] | None) -> Data:
        body: Data = {}
        if enabled is not None:
            body["enabled"] = enabled
        if events is not None:
            body["events"] = events
        answer = self.client.call("PATCH", path("api", "notifications", name), data=body)
        return dict(answer["channel"])

    def notify_remove(self, name: str) -> None:
        self.client.call("DELETE", path("api", "notifications", name))

    def notify_test(self, name: str) -> int:
        answer = self.client.call("POST", path("api", "notifications", name, "test"))
        return int(answer["delivery"])

    def notify_deliveries(self, name: str, limit: int) -> list[Data]:
        where = path("api", "notifications", name, "deliveries")
        return list(self.client.get(where, {"limit": str(limit)})["deliveries"])

    def domains(self, tool: str | None) -> list[Data]:
        where = path("api", "tools", tool, "domains") if tool else "/api/domains"
        return list(self.client.get(where)["domains"])

    def domain_add(self, tool: str, name: str, tls: str) -> Data:
        body = {"name": name, "tls": tls}
        answer = self.client.call("POST", path("api", "tools", tool, "domains"), data=body)
        return dict(answer["domain"])

    def domain_remove(self, tool: str, name: str) -> None:
        self.client.call("DELETE", path("api", "tools", tool, "domains", name))

    def ingress(self) -> Data:
        return dict(self.client.get("/api/ingress")["ingress"])

    def ingress_ca(self) -> str | None:
        found = self.client.get("/api/ingress/ca")["root_certificate"]
        return str(found) if found else None


def _operation(answer: Any) -> Data:
    op = answer.get("operation") if isinstance(answer, dict) else None
    if not isinstance(op, dict) or "id" not in op:
        raise BadResponseError("the server's answer names no operation")
    return op
