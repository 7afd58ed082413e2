"""The CLI's commands, one module per area. Each module imports only click and light helpers
at the top; the core and the plugins load inside the commands (``machete --help`` stays fast)."""
