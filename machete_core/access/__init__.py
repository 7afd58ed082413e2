"""People, programs and what they may do (DESIGN §9): roles, the permission table, one
``authorize``, passwords, tokens, sessions, sign-in throttling and the audit log."""
