"""What the commands call: one contract (:class:`~machete_cli.backend.base.Backend`), two
ways to keep it: ``local`` works on this machine's state through the core, ``remote`` asks a
server through its API. Both answer with the API's JSON documents, so every command prints
the same text and ``--json`` in both modes."""
