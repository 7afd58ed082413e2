"""The providers that ship with MACHETE, registered through the same hooks as any plugin."""

#: Handed by the hosts to the core's plugin manager (the core never imports this package).
BUILTIN_PLUGINS = (
    "machete_plugins.git_source",
    "machete_plugins.tarball_source",
    "machete_plugins.docker_builder",
    "machete_plugins.buildx_builder",
    "machete_plugins.docker_runtime",
    "machete_plugins.swarm_runtime",
    "machete_plugins.builtin_ingress",
    "machete_plugins.caddy",
)
