"""The HTTP API's version, shared by the server and its clients (the ``machete`` CLI).

Both send it in the ``Machete-API-Version`` header. It changes only when a change would break
a client of the previous version; additions (new routes, new fields) keep it. A server refuses
a request that names another version, and the CLI refuses a server that answers with one."""

from __future__ import annotations

API_VERSION = 1
HEADER = "Machete-API-Version"
