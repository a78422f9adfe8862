"""Benchmarks: accutics_async side by side with what a user would write by hand.

``python -m benchmarks`` (or ``nox -s bench``) runs every group, prints one
table per group and every goal as "held" / "falls short", writes
``benchmarks/results.json`` and rewrites the measured tables in
``benchmarks/README.md``; ``--quick`` is the smoke run the test suite uses.
``rate_limits`` and ``dask_scaling`` are runs of their own (``python -m
benchmarks.rate_limits``, ...), with their own sections of that README. Modules:

- ``pairs``: the four goal figures of issue 13, as medians of adjacent
  (library, raw) pairs.
- ``server``: the benchmark server, in a process of its own (pre-serialised
  pages, page-number and cursor, optional fixed latency).
- ``shapes``: the record shapes it serves, ``nested`` and ``flat``.
- ``variants``: the contenders (raw aiohttp, httpx, naive cattrs, the library).
- ``models``: the attrs classes a user would write for the typed benchmarks
  (``UserRecord`` for nested records, ``FlatRecord`` for flat ones).
- ``child``: one export or dict-mode walk in a fresh process (peak RSS).
- ``probe``: the fake server in a process of its own, for the server probe.
- ``runner``, ``goals``, ``report``: rounds, ratios, tables.
- ``readme``: each run's section of ``benchmarks/README.md``, as markdown.
"""
