"""Helpers shared by the test suite (importable as `crewstream_support` through the `pythonpath` ini key)."""

# Inner runs judge crewstream's outcomes. An event loop that crewai's provider path leaves
# unclosed in a worker thread is collected at an unpredictable later moment and would fail
# whichever inner test runs then (seen under -n 2); tests about leaks pass -W themselves.
INNER_INI = (
    "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    "filterwarnings =\n    ignore::pytest.PytestUnraisableExceptionWarning\n"
)
"""The ini file of inner pytester runs: keeps them free of pytest-asyncio's warning."""
