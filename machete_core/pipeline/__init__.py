"""Operations and their steps: deploy (install, update, build) and lifecycle verbs (DESIGN §3)."""
