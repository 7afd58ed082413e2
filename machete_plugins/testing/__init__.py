"""Test suites that plugin authors can run against their own providers."""
