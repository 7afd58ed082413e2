"""Every hook MACHETE calls. Implement them with :data:`machete_core.plugins.hookimpl`.

A plugin is a module (or object) found through the ``machete`` entry-point group. The bundled
providers in ``machete_plugins`` are registered through the very same hooks.

Registration hooks return a list of small frozen records; the core builds providers from the
records' factories and calls them only through the Protocols in
:mod:`machete_core.plugins.protocols`, inside an error boundary that names the guilty plugin.
"""

from __future__ import annotations

from collections.abc import Sequence

from machete_core.access.actions import Action, PermissionRule
from machete_core.access.authn import Authenticator
from machete_core.access.principal import Principal
from machete_core.domain.records import Event
from machete_core.plugins import hookspec
from machete_core.plugins.records import (
    BuilderProvider,
    IngressProvider,
    RuntimeProvider,
    SourceProvider,
)
from machete_core.settings import Settings


@hookspec
def machete_register_sources() -> Sequence[SourceProvider]:
    """Offer source providers: where tool trees come from.

    :return: a list of :class:`~machete_core.plugins.records.SourceProvider`. Each record's
        ``handles(url)`` says whether it takes a URL; ``factory(settings)`` builds an object
        following the :class:`~machete_core.plugins.protocols.Source` protocol, whose ``resolve``
        is cheap (e.g. ``ls-remote``) and whose ``fetch`` writes the tree into an empty folder and
        returns a :class:`~machete_core.domain.records.Revision`.

    Provider names are unique across all plugins: a clash stops start-up with an error naming
    both distributions.

    .. versionadded:: 0.1
    """


@hookspec
def machete_register_builders() -> Sequence[BuilderProvider]:
    """Offer builders: how a fetched tree becomes an image.

    :return: a list of :class:`~machete_core.plugins.records.BuilderProvider`. The factory builds
        a :class:`~machete_core.plugins.protocols.Builder`; ``availability()`` returns ``None`` or
        the reason the builder cannot be used on this machine.

    ``build(request, log)`` must stream each output line to ``log`` as it happens, honour
    ``request.cancel`` and ``request.timeout``, and raise
    :class:`~machete_core.errors.BuildError` carrying the last output lines on failure.

    .. versionadded:: 0.1
    """


@hookspec
def machete_register_runtimes() -> Sequence[RuntimeProvider]:
    """Offer runtimes: where images run as instances.

    :return: a list of :class:`~machete_core.plugins.records.RuntimeProvider` whose factory builds
        a :class:`~machete_core.plugins.protocols.Runtime` (start, stop, resume, remove, inspect,
        list by labels, logs, endpoint). Every object a runtime creates must carry the plan's
        labels so that MACHETE can find, adopt and clean up only what it owns.

    .. versionadded:: 0.1
    """


@hookspec
def machete_register_ingresses() -> Sequence[IngressProvider]:
    """Offer ingresses: what receives requests for tools and sends them on.

    :return: a list of :class:`~machete_core.plugins.records.IngressProvider` whose factory
        builds a :class:`~machete_core.plugins.protocols.Ingress`. The pipeline calls
        ``publish(route)`` with a tool's whole :class:`~machete_core.domain.routes.RouteSet`
        when a release goes live (the switch must be atomic), ``drain`` before the old
        release stops, ``withdraw(tool)`` when a tool stops or goes; the reconciler compares
        ``published()`` with the database and publishes what differs. An ingress lists,
        replaces and removes only the routes it tagged as this installation's.

    The installation uses the one named by the ``ingress`` setting (``builtin`` by default).
    Check a new ingress with :mod:`machete_plugins.testing.ingress_contract`.

    .. versionadded:: 0.3
    """


@hookspec
def machete_on_event(event: Event) -> None:
    """Observe a lifecycle event (operation started/finished, tool started/stopped, ...).

    :param event: the :class:`~machete_core.domain.records.Event`.

    The return value is ignored. An exception is logged with the plugin's name and never stops
    the operation that emitted the event.

    .. versionadded:: 0.1
    """


@hookspec
def machete_register_actions() -> Sequence[Action]:
    """Offer actions of your own for the permission table (e.g. ``reports.export``).

    :return: a list of :class:`~machete_core.access.actions.Action`: a name, the least role
        that may take it, the token scope it needs, and whether it concerns one tool. The
        built-in actions cannot be replaced; an action named like one is ignored.

    Check them with ``machete.authorize(action, tool)`` in your routes or commands.

    .. versionadded:: 0.2
    """


@hookspec
def machete_permission_rules(
    principal: Principal, action: str, tool: str | None
) -> Sequence[PermissionRule] | None:
    """Add rules to one decision, as datasette's permission hooks do.

    :param principal: who asks (:class:`~machete_core.access.principal.Principal`: kind, name,
        current role, teams, token).
    :param action: the action's name.
    :param tool: the tool's name, or None for actions that concern no tool.
    :return: :class:`~machete_core.access.actions.PermissionRule` records, or None.

    The most specific matching rules decide (naming a tool beats not; naming the actor beats
    not); among equals a deny beats an allow; nothing allowing means no. A token's scopes and
    tool restriction cap every answer. A plugin that raises here makes the answer "no" and is
    reported as failed: permission hooks fail closed.

    .. versionadded:: 0.2
    """


@hookspec
def machete_actor_from_credentials(
    scheme: str, credentials: str, settings: Settings, auth: Authenticator
) -> Principal | None:
    """Recognise credentials MACHETE does not know (``Authorization: <scheme> <credentials>``
    whose token is not a ``mch_`` token), e.g. a company's single sign-on proxy header.

    :param auth: the :class:`~machete_core.access.authn.Authenticator`; build the principal
        with ``auth.principal_for(name)``, so the user's current role and teams are read.
    :return: a :class:`~machete_core.access.principal.Principal`, or None.
        The first plugin that answers wins. A plugin that raises is reported and skipped.

    .. versionadded:: 0.2
    """
