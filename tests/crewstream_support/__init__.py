"""Helpers shared by the test suite (importable as `crewstream_support` through the `pythonpath` ini key)."""

INNER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
"""The ini file of inner pytester runs: keeps them free of pytest-asyncio's warning."""
