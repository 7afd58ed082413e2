"""Unit-test fixtures shared across modules."""

from tests.support.pointing import pointing_machete

__all__ = ["pointing_machete"]
