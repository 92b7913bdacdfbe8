"""The parts of analyticskit's bench (``bench/bench_handler.py`` runs them).

One module per part, each returning a typed result: ``per_call`` (1), ``end_to_end``
(2), ``memory`` (3), ``logs`` (4), ``storm`` (5), ``business`` (6), ``worker`` (7) and
``profile`` (``--profile``); ``runner`` runs them, ``targets`` reads the targets off
their results, and ``report`` prints every part in order, then the targets.
"""
