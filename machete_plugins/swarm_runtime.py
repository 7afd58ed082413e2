"""The ``swarm`` runtime: each release runs as a Docker Swarm service with its replicas.

A release's instance is one service (``machete-tool-<name>-r<N>``), so the deploy pipeline is
the same as on one engine: the new service starts beside the old, the health gate probes every
replica, the router switches, the old service drains and is removed. Within a service, Swarm
itself does the rest: replicas restart on failure, ``machete scale`` is a rolling update with
start-first ordering that rolls back on its own when new tasks fail.

Hardening is part of the service spec and read back from ``service inspect`` after creation:
a field the engine dropped (an engine older than the field) removes the service and fails the
deploy, naming the field, unless the admin accepted running without it
(``MACHETE_SWARM_ACCEPT_MISSING``). Nothing is weakened silently.

Networking: each tool gets a swarm-scoped *bridge* network, so replicas have addresses that
``machete serve`` on the node can reach (the proxy spreads requests over running replicas).
Services publish no ports.

Images: with ``MACHETE_REGISTRY`` set, each image is pushed there and the service references
it by digest (``repo@sha256:...``), which every node can pull. Without a registry, a
single-node swarm runs the local image; a swarm with more nodes is refused.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

from machete_core.domain.records import Endpoint, Instance, InstanceState, RunPlan
from machete_core.errors import NotRunningError, RuntimeProviderError
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_plugins import docker_engine

#: A service label: the replicas a stopped service returns to.
REPLICAS_LABEL = "io.machete.replicas"
#: Seconds a new task must keep running before Swarm counts an update of it as good.
UPDATE_MONITOR_S = 5


class HardeningUnsupportedError(RuntimeProviderError):
    code = "hardening_unsupported"


def hardening_spec(plan: RunPlan) -> dict[str, Any]:
    """The hardening of ``plan`` as Engine API ``ContainerSpec`` and ``Resources`` fields."""
    return {
        "ReadOnly": plan.read_only_root,
        "Init": True,
        "CapabilityDrop": ["ALL"],
        "CapabilityAdd": sorted(plan.cap_add) or None,
        "Privileges": {"NoNewPrivileges": True},
        "Limits": {
            "MemoryBytes": plan.memory_bytes,
            "NanoCPUs": plan.nano_cpus,
            "Pids": plan.pids_limit,
        },
    }


def missing_hardening(plan: RunPlan, service: Mapping[str, Any]) -> list[str]:
    """Hardening fields of ``plan`` that the service, as the engine reports it, lacks."""
    task = service.get("Spec", {}).get("TaskTemplate", {})
    spec = task.get("ContainerSpec", {})
    limits = task.get("Resources", {}).get("Limits", {})
    want = hardening_spec(plan)
    missing = []
    if bool(spec.get("ReadOnly")) != want["ReadOnly"]:
        missing.append("read_only")
    if spec.get("Init") is not True:
        missing.append("init")
    if spec.get("CapabilityDrop") != ["ALL"]:
        missing.append("cap_drop")
    if sorted(spec.get("CapabilityAdd") or []) != sorted(plan.cap_add):
        missing.append("cap_add")
    if (spec.get("Privileges") or {}).get("NoNewPrivileges") is not True:
        missing.append("no_new_privileges")
    if limits.get("MemoryBytes") != plan.memory_bytes:
        missing.append("memory")
    if limits.get("NanoCPUs") != plan.nano_cpus:
        missing.append("cpu")
    if limits.get("Pids") != plan.pids_limit:
        missing.append("pids")
    return missing


class SwarmRuntime(docker_engine.EngineClient):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._turn = itertools.count()

    # -- start ---------------------------------------------------------------------------

    @docker_engine.engine_errors("creating the service")
    def start(self, plan: RunPlan) -> Instance:
        self._require_manager()
        image = self._publish(plan)
        network = self._ensure_network(plan) if plan.network else None
        networks = [network] if network else []
        for extra in plan.extra_networks:
            networks.append(self._existing_network(swarm_network(extra)))
        hardening = hardening_spec(plan)
        container_spec = {
            "Image": image,
            "Env": [f"{k}={v}" for k, v in sorted(plan.environment.items())],
            "Labels": dict(plan.labels),
            "Mounts": [
                {"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
                for m in plan.mounts
            ],
            "ReadOnly": hardening["ReadOnly"],
            "Init": hardening["Init"],
            "CapabilityDrop": hardening["CapabilityDrop"],
            "Privileges": hardening["Privileges"],
        }
        if hardening["CapabilityAdd"]:
            container_spec["CapabilityAdd"] = hardening["CapabilityAdd"]
        if plan.read_only_root:
            container_spec["Mounts"].append(
                {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 64 * 1024**2}}
            )
        task_template = {
            "ContainerSpec": container_spec,
            "Resources": {"Limits": hardening["Limits"]},
            "RestartPolicy": {"Condition": "any", "Delay": 2 * 10**9, "MaxAttempts": 0},
            "Networks": [{"Target": n} for n in networks],
        }
        labels = {**plan.labels, REPLICAS_LABEL: str(plan.replicas)}
        self._remove_leftover(plan)
        created = self.client.api.create_service(
            task_template,
            name=plan.name,
            labels=labels,
            mode={"Replicated": {"Replicas": plan.replicas}},
            update_config={
                "Parallelism": 1,
                "Order": "start-first",
                "FailureAction": "rollback",
                "Monitor": UPDATE_MONITOR_S * 10**9,
                "MaxFailureRatio": 0,
            },
            rollback_config={"Parallelism": 1, "Order": "start-first"},
            endpoint_spec={"Mode": "dnsrr"},
        )
        service_id = created["ID"]
        missing = missing_hardening(plan, self.client.api.inspect_service(service_id))
        refused = [f for f in missing if f not in self.settings.swarm_accept_missing]
        if refused:
            self.client.api.remove_service(service_id)
            raise HardeningUnsupportedError(
                f"the engine dropped hardening from the service spec: {', '.join(refused)} "
                f"(read back from service inspect). Upgrade the engine, or accept running "
                f"without it with MACHETE_SWARM_ACCEPT_MISSING={','.join(refused)}",
                details={"missing": refused},
            )
        return Instance(id=service_id, name=plan.name)

    def _require_manager(self) -> None:
        swarm = self.client.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise RuntimeProviderError(
                "this engine is not a Swarm manager: run `docker swarm init` (or use the "
                "docker runtime)"
            )

    def _publish(self, plan: RunPlan) -> str:
        """The image reference every node can run: pushed by digest, or the local image."""
        registry = self.settings.registry.rstrip("/")
        if not registry:
            nodes = self.client.nodes.list()
            if len(nodes) > 1:
                raise RuntimeProviderError(
                    f"the swarm has {len(nodes)} nodes and no registry is configured: set "
                    "MACHETE_REGISTRY so that every node can pull the tool's image"
                )
            return plan.image
        repository = f"{registry}/machete-{self.settings.installation}/{plan.tool}"
        tag = f"r{plan.release}"
        self.client.api.tag(plan.image, repository, tag)
        auth = None
        if self.settings.registry_username:
            auth = {
                "username": self.settings.registry_username,
                "password": self.settings.registry_password,
            }
            # Also lets service creation hand the credentials to the nodes that pull.
            self.client.login(
                self.settings.registry_username,
                self.settings.registry_password,
                registry=registry.split("/")[0],
            )
        digest = None
        for line in self.client.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        ):
            if line.get("error"):
                raise RuntimeProviderError(f"pushing {repository}:{tag} failed: {line['error']}")
            digest = (line.get("aux") or {}).get("Digest", digest)
        if not digest:
            raise RuntimeProviderError(f"the registry reported no digest for {repository}:{tag}")
        return f"{repository}@{digest}"

    def _ensure_network(self, plan: RunPlan) -> str:
        import docker

        assert plan.network is not None
        name = swarm_network(plan.network)
        owner = {k: v for k, v in plan.labels.items() if k != "io.machete.release"}
        try:
            network = self.client.networks.get(name)
        except docker.errors.NotFound:
            # A bridge on each node, in swarm scope: replicas get addresses that the
            # node's own processes (machete serve) reach; services publish nothing.
            docker_engine.create_network(self.client, name, owner, self.settings, scope="swarm")
            return name
        if any(network.attrs.get("Labels", {}).get(k) != v for k, v in owner.items()):
            raise RuntimeProviderError(
                f"a network named {name} exists and does not belong to this tool"
            )
        return name

    def _existing_network(self, name: str) -> str:
        import docker

        try:
            self.client.networks.get(name)
        except docker.errors.NotFound:
            raise RuntimeProviderError(
                f"the tool declares a connection (machete.connects_to) whose network {name} "
                "does not exist: install that tool first"
            ) from None
        return name

    def _remove_leftover(self, plan: RunPlan) -> None:
        """A service with our name left by an interrupted run: remove it if it is ours."""
        import docker

        try:
            old = self.client.api.inspect_service(plan.name)
        except docker.errors.NotFound:
            return
        labels = old.get("Spec", {}).get("Labels", {})
        if any(labels.get(k) != v for k, v in plan.labels.items() if k != "io.machete.release"):
            raise RuntimeProviderError(
                f"a service named {plan.name} exists and does not belong to this installation"
            )
        self._remove_and_wait(old["ID"])

    # -- lifecycle -----------------------------------------------------------------------

    def _service(self, instance_id: str) -> dict[str, Any] | None:
        import docker

        try:
            return dict(self.client.api.inspect_service(instance_id))
        except docker.errors.NotFound:
            return None

    def _update(self, service: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        """Replace the service's spec with ``spec`` (a Swarm rolling update)."""
        self.client.api.update_service(
            service["ID"],
            version=service["Version"]["Index"],
            task_template=spec["TaskTemplate"],
            name=spec["Name"],
            labels=spec.get("Labels"),
            mode=spec.get("Mode"),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            networks=spec.get("TaskTemplate", {}).get("Networks"),
            endpoint_spec=spec.get("EndpointSpec"),
        )

    def _set_replicas(
        self, service: Mapping[str, Any], replicas: int, *, remember: bool = False
    ) -> None:
        """Run ``replicas`` tasks; ``remember`` also records them as the count to resume to."""
        spec = dict(service["Spec"], Mode={"Replicated": {"Replicas": replicas}})
        if remember:
            spec["Labels"] = {**spec.get("Labels", {}), REPLICAS_LABEL: str(replicas)}
        self._update(service, spec)

    def _existing(self, instance_id: str) -> dict[str, Any]:
        service = self._service(instance_id)
        if service is None:
            raise NotRunningError(f"service {instance_id[:12]} no longer exists")
        return service

    @docker_engine.engine_errors("stopping the service")
    def stop(self, instance_id: str, timeout: float = 10.0) -> None:
        service = self._service(instance_id)
        if service is None:
            return
        self._set_replicas(service, 0)
        deadline = time.monotonic() + timeout + 10
        while self._running_tasks(instance_id) and time.monotonic() < deadline:
            time.sleep(0.2)

    @docker_engine.engine_errors("starting the service")
    def resume(self, instance_id: str) -> None:
        service = self._existing(instance_id)
        replicas = int(service["Spec"].get("Labels", {}).get(REPLICAS_LABEL, "1"))
        self._set_replicas(service, replicas)

    @docker_engine.engine_errors("scaling the service")
    def scale(self, instance_id: str, replicas: int) -> None:
        """A rolling update to ``replicas`` (start-first; rolled back if new tasks fail)."""
        self._set_replicas(self._existing(instance_id), replicas, remember=True)

    @docker_engine.engine_errors("rolling the service back")
    def rollback(self, instance_id: str) -> bool:
        """Return the service to the spec before its last update (what ``docker service
        rollback`` does); False when there is nothing to go back to."""
        service = self._service(instance_id)
        if service is None or not service.get("PreviousSpec"):
            return False
        self._update(service, service["PreviousSpec"])
        return True

    @docker_engine.engine_errors("removing the service")
    def remove(self, instance_id: str) -> None:
        self._remove_and_wait(instance_id)

    def _remove_and_wait(self, instance_id: str) -> None:
        """Remove the service and wait until its containers are gone too (Swarm removes them
        in the background; a caller counting leftovers must not see them)."""
        import docker

        try:
            self.client.api.remove_service(instance_id)
        except docker.errors.NotFound:
            return
        deadline = time.monotonic() + 30
        selector = {"label": [f"com.docker.swarm.service.id={instance_id}"]}
        while time.monotonic() < deadline:
            # The low-level list: one call, no inspect of containers that may vanish meanwhile.
            if not self.client.api.containers(all=True, filters=selector):
                return
            time.sleep(0.2)

    # -- observing -----------------------------------------------------------------------

    def _tasks(self, instance_id: str) -> list[dict[str, Any]]:
        return list(self.client.api.tasks(filters={"service": instance_id}))

    def _running_tasks(self, instance_id: str) -> list[dict[str, Any]]:
        return [t for t in self._tasks(instance_id) if _running(t)]

    def _state(self, service: Mapping[str, Any]) -> InstanceState:
        spec = service["Spec"]
        wanted = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
        tasks = self._tasks(service["ID"])
        running = [t for t in tasks if _running(t)]
        # Failures since the service last changed: older ones belong to a spec that is gone
        # (Swarm keeps a few old tasks), and must not fail today's health gate.
        since = _timestamp(service.get("UpdatedAt") or service.get("CreatedAt"))
        failed = [
            t
            for t in tasks
            if t.get("Status", {}).get("State") in ("failed", "rejected")
            and _timestamp(t.get("CreatedAt")) >= since
        ]
        if wanted == 0:
            state = "stopped"
        elif running:
            state = "running"
        elif failed:
            state = "restarting"
        else:
            state = "created"
        last_error = next((t["Status"].get("Err") for t in failed if t["Status"].get("Err")), None)
        return InstanceState(
            id=service["ID"],
            name=spec.get("Name", ""),
            state=state,
            labels=dict(spec.get("Labels", {})),
            error=last_error if state != "running" else None,
            started_at=service.get("CreatedAt"),
            restart_count=len(failed),
        )

    @docker_engine.engine_errors("inspecting the service")
    def inspect(self, instance_id: str) -> InstanceState:
        service = self._service(instance_id)
        if service is None:
            return InstanceState(id=instance_id, name="", state="missing")
        return self._state(service)

    def logs(
        self, instance_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        if self._service(instance_id) is None:
            raise NotRunningError(f"service {instance_id[:12]} no longer exists")
        stream = self.client.api.service_logs(
            instance_id,
            stdout=True,
            stderr=True,
            follow=follow,
            tail="all" if tail is None else tail,
        )
        yield from docker_engine.log_lines(stream)

    def endpoints(self, instance_id: str, port: int) -> list[Endpoint]:
        """Every running replica's address on the tool's network (read from its container:
        on a swarm-scoped bridge the node, not the swarm, assigns addresses)."""
        import docker

        found = []
        for task in self._running_tasks(instance_id):
            container_id = task["Status"].get("ContainerStatus", {}).get("ContainerID")
            if not container_id:
                continue
            try:
                container = self.client.api.inspect_container(container_id)
            except docker.errors.NotFound:
                continue  # it went away since the task list was read
            networks = container.get("NetworkSettings", {}).get("Networks") or {}
            for name, network in sorted(networks.items()):
                if name.startswith("machete-") and name.endswith("-swarm"):
                    if network.get("IPAddress"):
                        found.append(Endpoint(host=network["IPAddress"], port=port))
                    break
        return found

    @docker_engine.engine_errors("finding the service's replicas")
    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        """One running replica, in turn: the proxy spreads requests over them."""
        found = self.endpoints(instance_id, port)
        if not found:
            raise NotRunningError(f"service {instance_id[:12]} has no running replica")
        return found[next(self._turn) % len(found)]

    @docker_engine.engine_errors("removing the tool's network")
    def cleanup(self, selector: Mapping[str, str]) -> None:
        import docker

        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        for network in self.client.networks.list(filters=filters):
            if network.attrs.get("Scope") != "swarm":
                continue
            deadline = time.monotonic() + 30
            while True:
                try:
                    network.remove()
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:
                    # A service removed a moment ago still holds it until its tasks are gone.
                    if "in use" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

    # ``list`` last: inside the class body its name would hide the builtin for mypy.
    @docker_engine.engine_errors("listing services")
    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        info = self.client.info().get("Swarm") or {}
        if info.get("LocalNodeState") != "active":
            return []  # no swarm, no services: nothing of ours to find
        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        return [self._state(s) for s in self.client.api.services(filters=filters)]


def _timestamp(value: str | None) -> float:
    """Seconds of an engine timestamp (RFC 3339 with up to nanoseconds); 0 if absent."""
    if not value:
        return 0.0
    from datetime import datetime

    head, _dot, fraction = value.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return seconds + float(f"0.{fraction or 0}")


def _running(task: Mapping[str, Any]) -> bool:
    """A task that runs and is meant to (not one being shut down by an update)."""
    return bool(
        task.get("Status", {}).get("State") == "running" and task.get("DesiredState") == "running"
    )


def swarm_network(name: str) -> str:
    """The swarm-scoped network of a tool (a different name from the docker runtime's)."""
    return f"{name}-swarm"


def availability() -> str | None:
    problem = docker_engine.availability()
    if problem:
        return problem
    c = docker_engine.client()
    try:
        swarm = c.info().get("Swarm") or {}
    finally:
        c.close()
    if swarm.get("LocalNodeState") != "active":
        return "this engine is not part of a swarm (docker swarm init)"
    return None


@hookimpl
def machete_register_runtimes() -> list[RuntimeProvider]:
    return [
        RuntimeProvider(
            name="swarm",
            factory=SwarmRuntime,
            description="Docker Swarm services: replicas, rolling updates, registry by digest",
            availability=availability,
        )
    ]
