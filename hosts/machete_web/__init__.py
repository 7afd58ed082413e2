"""The aiohttp host: REST + WebSocket API, the dashboard, one core call per handler."""

from machete_web.app import MACHETE, create_app

__all__ = ["MACHETE", "create_app"]
