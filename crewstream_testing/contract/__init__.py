"""The streaming contract: the rules, the checker, the assertions, ``crewstream check`` and the suite.

In the order they build on each other:

- ``routes``      the channel routing table (built-in, extended by hooks and ``routes=``);
- ``violations``  ``RULES``, ``Violation``, ``ConformanceError``, ``describe``;
- ``envelope``, ``terminal``  the envelope and terminal rules' details;
- ``checker``     ``check_frames``: one pass over a frame sequence;
- ``sessions``, ``gating``, ``settings``, ``projections``, ``reprs``  what the assertions read and check;
- ``assertions``  ``assert_conforms`` and friends (the hooks' routes are read here, then handed in);
- ``check``       ``crewstream check``: cassettes and frame files on disk;
- ``suite``       ``crewstream conformance``: promises, scenarios on real crewai, the runner.

Nothing here imports pytest; crewai only inside the suite's scenarios.
"""
