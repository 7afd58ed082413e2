"""The :class:`Store` facade: every database read and write of the core goes through it.

It is assembled from one part per aggregate (tools, releases, operations, events, locks,
people, credentials, audit), each in its own module; callers see one object.
"""

from __future__ import annotations

from machete_core.state.audit import AuditStore
from machete_core.state.credentials import CredentialStore
from machete_core.state.db import make_engine, migrate
from machete_core.state.device_logins import DeviceLoginStore
from machete_core.state.domains import DomainStore
from machete_core.state.events import EventStore
from machete_core.state.locks import LockStore
from machete_core.state.notifications import NotificationStore
from machete_core.state.operations import OperationStore
from machete_core.state.people import PeopleStore
from machete_core.state.releases import ReleaseStore
from machete_core.state.tools import ToolStore
from machete_core.state.triggers import TriggerStore


class Store(
    ToolStore,
    ReleaseStore,
    OperationStore,
    EventStore,
    LockStore,
    PeopleStore,
    CredentialStore,
    AuditStore,
    DeviceLoginStore,
    TriggerStore,
    NotificationStore,
    DomainStore,
):
    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and apply migrations."""
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)
