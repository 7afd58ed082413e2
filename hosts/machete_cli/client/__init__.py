"""The CLI as a client of a MACHETE server: which server (``target``), the hosts file, the
running local server's address (``discovery``), HTTP (``http``) and WebSocket streams
(``streams``). Nothing here imports the core's state, pipeline or providers."""
