"""The tools' own listener: a reverse proxy to each tool's live instance (HTTP and WebSocket).

It never shares an origin with the API and dashboard (a tool's page must not be able to act
as the person viewing it): ``create_tools_app`` is a second aiohttp application, served on
``MACHETE_TOOLS_PORT``, that reads the platform's state from the API application it is given.
(in ``proxy/app.py``).
"""
