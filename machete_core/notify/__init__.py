"""Notifications: what the platform tells people (deploys, rollbacks, health, refused
webhooks, expiring tokens), through channels an admin or a tool's maintainers set up.

``kinds`` names them, ``notices`` turns the core's events into them, ``outbox`` writes them
with their event and sends them with retries, ``transport`` carries them (HTTP pinned to a
checked address, SMTP), ``channels`` is the managing API (``Machete.notifications``).
"""
