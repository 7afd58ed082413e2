"""The ``docker`` runtime: one container per release on the local (or DOCKER_HOST) engine."""

from __future__ import annotations

import io
import logging
import tarfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from machete_core.domain import labels
from machete_core.domain.naming import network_name
from machete_core.domain.records import Endpoint, Instance, InstanceState, RunPlan
from machete_core.errors import (
    NetworkGuardUnavailableError,
    NotRunningError,
    RuntimeProviderError,
)
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_plugins import docker_engine
from machete_plugins.network_guard import NetworkGuard

log = logging.getLogger(__name__)

_STATE = {
    "running": "running",
    "created": "created",
    "restarting": "restarting",
    "paused": "stopped",
    "exited": "stopped",
    "dead": "stopped",
    "removing": "stopped",
}


#: 127.0.0.11 as /proc/net/tcp writes it: Docker's embedded DNS server in every container on a
#: user-defined network listens there, on a random port.
DOCKER_DNS = "0B00007F"


def _is_local_process(pid: int, container_id: str) -> bool:
    """Whether ``pid`` is a process of this host that belongs to the container (its cgroup
    names it): a remote engine's pid means nothing here."""
    try:
        return container_id[:12] in (Path("/proc") / str(pid) / "cgroup").read_text()
    except OSError:
        return False


def listening_ports_of(pid: int, container_id: str) -> set[int] | None:
    """Listening TCP ports in the network namespace of ``pid``, if ``pid`` is a process of
    this host that belongs to the container (its cgroup names it): a remote engine's pid
    means nothing here, and must not be read as if it did."""
    if pid <= 0 or not _is_local_process(pid, container_id):
        return None
    proc = Path("/proc") / str(pid)
    ports: set[int] = set()
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                address, _colon, port = fields[1].rpartition(":")
                if address == DOCKER_DNS:
                    continue  # the engine's own resolver on user-defined networks
                ports.add(int(port, 16))
    return ports if readable else None


def resolve_user(name: str, group: str, passwd: str, groups: str) -> tuple[int, int] | None:
    """``USER name[:group]`` as numbers, from the image's passwd and group files."""
    uid = gid = None
    if name.isdigit():
        uid = int(name)
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and (fields[0] == name or (uid is not None and fields[2] == name)):
            if fields[2].isdigit() and fields[3].isdigit():
                uid, gid = int(fields[2]), int(fields[3])
                break
    if group:
        gid = int(group) if group.isdigit() else None
        for line in groups.splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
                gid = int(fields[2])
    if uid is None:
        return None
    return uid, uid if gid is None else gid


def _single_file_text(tar_bytes: bytes, limit: int = 1024 * 1024) -> str:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and m.size <= limit), None)
        if member is None:
            return ""
        handle = tar.extractfile(member)
        return handle.read().decode("utf-8", "replace") if handle else ""


class DockerRuntime(docker_engine.EngineClient):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.network_guard = NetworkGuard(
            settings.network_guard,
            installation=settings.installation,
            allow_metadata=settings.allow_cloud_metadata,
        )

    @docker_engine.engine_errors("starting the container")
    def start(self, plan: RunPlan) -> Instance:
        import docker
        from docker.types import Mount

        if plan.replicas != 1:
            raise RuntimeProviderError(
                f"the docker runtime runs one instance per release, not {plan.replicas}: "
                "use the swarm runtime (machete.runtime: swarm) for replicas"
            )
        kwargs: dict[str, Any] = {
            "image": plan.image,
            "name": plan.name,
            "labels": dict(plan.labels),
            "environment": dict(plan.environment),
            # Loopback only, on a port the engine picks: never one the platform uses.
            "ports": {f"{plan.port}/tcp": ("127.0.0.1", None)},
            "mounts": [
                Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                for m in plan.mounts
            ],
            # An init as PID 1 forwards SIGTERM and reaps zombies: tools stop promptly even
            # when their own process ignores signals as PID 1 (busybox httpd, many shells).
            "init": True,
            "detach": True,
            # Hardening (DESIGN §5): no capabilities, no privilege gain, bounded resources.
            "cap_drop": ["ALL"],
            "cap_add": list(plan.cap_add) or None,
            "security_opt": ["no-new-privileges:true"],
            "pids_limit": plan.pids_limit,
            "mem_limit": plan.memory_bytes,
            "memswap_limit": plan.memory_bytes,  # the same as memory: no swap
            "nano_cpus": plan.nano_cpus,
            "read_only": plan.read_only_root,
            "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"} if plan.read_only_root else None,
            "restart_policy": {"Name": "unless-stopped"},
            # MACHETE is the one judge of health: the image's own HEALTHCHECK would make
            # `docker ps` say otherwise (and restart nothing), so it is switched off.
            "healthcheck": {"Test": ["NONE"]},
            "network": self._ensure_network(plan) if plan.network else None,
        }
        try:
            container = self.client.containers.create(**kwargs)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            self._remove_leftover(plan)
            container = self.client.containers.create(**kwargs)
        try:
            for extra in plan.extra_networks:
                self._connect(container, extra)
            container.start()
        except (docker.errors.APIError, RuntimeProviderError):
            container.remove(force=True)
            raise
        return Instance(id=container.id, name=plan.name)

    def image_user(self, image: str) -> tuple[int, int] | None:
        """The image's ``USER`` as ``(uid, gid)``; names are looked up in the image's own
        /etc/passwd and /etc/group. None for root, or when it cannot be told."""
        import docker

        try:
            user = (self.client.api.inspect_image(image).get("Config") or {}).get("User") or ""
        except docker.errors.DockerException:
            return None
        name, _sep, group = user.partition(":")
        if name in ("", "root", "0"):
            return None
        passwd = group_file = ""
        if not (name.isdigit() and (not group or group.isdigit())):
            passwd, group_file = self._image_files(image, ("/etc/passwd", "/etc/group"))
        return resolve_user(name, group, passwd, group_file)

    def _image_files(self, image: str, paths: tuple[str, ...]) -> tuple[str, ...]:
        """Small text files of the image, read from a container that is never started."""
        import docker

        container = self.client.api.create_container(image, command=["true"], entrypoint=[])
        try:
            found = []
            for path in paths:
                try:
                    stream, _stat = self.client.api.get_archive(container["Id"], path)
                    found.append(_single_file_text(b"".join(stream)))
                except docker.errors.NotFound:
                    found.append("")
            return tuple(found)
        finally:
            self.client.api.remove_container(container["Id"], force=True)

    def listening_ports(self, instance_id: str) -> set[int] | None:
        """TCP ports the container's processes listen on, read from its network namespace
        through /proc of this host; None when that cannot be read (a remote engine)."""
        try:
            state = self.client.api.inspect_container(instance_id).get("State", {})
        except Exception:
            return None
        return listening_ports_of(int(state.get("Pid") or 0), instance_id)

    def network_endpoint(self, instance_id: str, port: int) -> Endpoint | None:
        """The container's address on its tool's network, when the engine runs on this
        host (its process is one of ours): the ingress then skips the engine's port proxy."""
        try:
            attrs = self.client.api.inspect_container(instance_id)
        except Exception:
            return None
        pid = int(attrs.get("State", {}).get("Pid") or 0)
        if pid <= 0 or not _is_local_process(pid, attrs["Id"]):
            return None
        networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
        own = network_name(
            self.settings.installation, attrs["Config"]["Labels"].get(labels.TOOL, "")
        )
        address = (networks.get(own) or {}).get("IPAddress")
        return Endpoint(host=address, port=port) if address else None

    def _connect(self, container: Any, network_name: str) -> None:
        import docker

        try:
            network = self.client.networks.get(network_name)
        except docker.errors.NotFound:
            raise RuntimeProviderError(
                f"the tool declares a connection (machete.connects_to) whose network "
                f"{network_name} does not exist: install that tool first"
            ) from None
        network.connect(container)

    def _ensure_network(self, plan: RunPlan) -> str:
        """The tool's own bridge network, made on first use and labelled as ours."""
        import docker

        assert plan.network is not None
        owner = {k: v for k, v in plan.labels.items() if k != "io.machete.release"}
        try:
            network = self.client.networks.get(plan.network)
        except docker.errors.NotFound:
            docker_engine.create_network(self.client, plan.network, owner, self.settings)
            network = self.client.networks.get(plan.network)
        if any(network.attrs.get("Labels", {}).get(k) != v for k, v in owner.items()):
            raise RuntimeProviderError(
                f"a network named {plan.network} exists and does not belong to this tool"
            )
        # Under MACHETE's own rules before the first container joins it (network_guard.py).
        self.network_guard.guard(self.client, network.attrs)
        return plan.network

    @docker_engine.engine_errors("removing the tool's network")
    def cleanup(self, selector: Mapping[str, str]) -> None:
        import docker

        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        for network in self.client.networks.list(filters=filters):
            if network.attrs.get("Scope") == "swarm":
                continue  # the swarm runtime's, removed with its services
            try:
                network.remove()
            except docker.errors.NotFound:
                pass

    def _remove_leftover(self, plan: RunPlan) -> None:
        """A container with our name left by an interrupted run: remove it if it is ours."""
        old = self.client.containers.get(plan.name)
        mine = all(
            old.labels.get(k) == v for k, v in plan.labels.items() if k != "io.machete.release"
        )
        if not mine:
            raise RuntimeProviderError(
                f"a container named {plan.name} exists and does not belong to this installation"
            )
        old.remove(force=True)

    def _get(self, instance_id: str) -> Any:
        import docker

        try:
            return self.client.containers.get(instance_id)
        except docker.errors.NotFound:
            return None

    @docker_engine.engine_errors("stopping the container")
    def stop(self, instance_id: str, timeout: float = 10.0) -> None:
        container = self._get(instance_id)
        if container is not None and container.status in ("running", "restarting", "paused"):
            container.stop(timeout=int(timeout))

    @docker_engine.engine_errors("starting the container")
    def resume(self, instance_id: str) -> None:
        container = self._get(instance_id)
        if container is None:
            raise NotRunningError(f"container {instance_id[:12]} no longer exists")
        container.start()

    @docker_engine.engine_errors("removing the container")
    def remove(self, instance_id: str) -> None:
        import docker

        container = self._get(instance_id)
        if container is not None:
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass

    @docker_engine.engine_errors("inspecting the container")
    def inspect(self, instance_id: str) -> InstanceState:
        container = self._get(instance_id)
        if container is None:
            return InstanceState(id=instance_id, name="", state="missing")
        return self._state(container)

    @staticmethod
    def _state(container: Any) -> InstanceState:
        state = container.attrs.get("State", {})
        status = _STATE.get(state.get("Status", ""), "unknown")
        restarts = int(container.attrs.get("RestartCount") or 0)
        return InstanceState(
            id=container.id,
            name=container.name,
            state=status,
            labels=dict(container.labels),
            # A running container reports 0 even right after a crash and restart: say nothing.
            exit_code=state.get("ExitCode") if status in ("stopped", "restarting") else None,
            error=state.get("Error") or None,
            started_at=state.get("StartedAt"),
            restart_count=restarts,
        )

    @docker_engine.engine_errors("listing containers")
    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        # The reconciler lists often: it is what repairs the rules after a host restart or a
        # firewall reload emptied them (a check runs at most every 30 s).
        try:
            self.network_guard.check(self.client)
        except NetworkGuardUnavailableError as exc:
            log.warning("%s", exc.message)
        return [
            self._state(c)
            for c in self.client.containers.list(all=True, filters=filters, ignore_removed=True)
            # Replicas of Swarm services carry our labels too; they belong to the swarm runtime.
            if "com.docker.swarm.service.id" not in c.labels
        ]

    def logs(
        self, instance_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        container = self._get(instance_id)
        if container is None:
            raise NotRunningError(f"container {instance_id[:12]} no longer exists")
        stream = container.logs(stream=True, follow=follow, tail="all" if tail is None else tail)
        yield from docker_engine.log_lines(stream)

    #: Container events after which what MACHETE observed of it may be stale.
    WATCHED = frozenset({"start", "die", "restart", "destroy", "stop", "kill", "pause", "unpause"})

    def watch(self, selector: Mapping[str, str], stop: threading.Event) -> Iterator[str]:
        client = docker_engine.client()  # the stream holds its connection: one of its own
        stream = client.events(
            decode=True,
            filters={"type": "container", "label": [f"{k}={v}" for k, v in selector.items()]},
        )
        done = threading.Event()

        def close_on_stop() -> None:
            # The stream blocks without a timeout: closing it is what ends the iteration.
            while not stop.wait(1.0):
                if done.is_set():
                    return
            stream.close()

        threading.Thread(target=close_on_stop, daemon=True, name="machete-events").start()
        try:
            for event in stream:
                if stop.is_set():
                    return
                if event.get("status") in self.WATCHED or event.get("Action") in self.WATCHED:
                    ident = event.get("id") or (event.get("Actor") or {}).get("ID")
                    if ident:
                        yield str(ident)
        finally:
            done.set()
            client.close()

    @docker_engine.engine_errors("reading the container's ports")
    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        container = self._get(instance_id)
        if container is None:
            raise NotRunningError(f"container {instance_id[:12]} no longer exists")
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(
            f"{port}/tcp"
        )
        if not bindings:
            raise NotRunningError(f"container {container.name} publishes no port {port}")
        host = bindings[0].get("HostIp") or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return Endpoint(host=host, port=int(bindings[0]["HostPort"]))


@hookimpl
def machete_register_runtimes() -> list[RuntimeProvider]:
    return [
        RuntimeProvider(
            name="docker",
            factory=DockerRuntime,
            description="containers on one Docker engine (docker SDK)",
            availability=docker_engine.availability,
        )
    ]
