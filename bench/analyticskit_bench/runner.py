"""Runs every part, the capture server up for the parts that deliver."""

from __future__ import annotations

from .business import business_burst
from .common import Sizes
from .end_to_end import end_to_end
from .logs import end_to_end_logs
from .memory import rss_burst
from .per_call import per_call
from .profile import profile_emit
from .results import Results
from .server import RemoteServer
from .storm import storm_total
from .worker import worker_time


def run(sizes: Sizes, profile: bool) -> Results:
    """The parts that deliver run first, against one capture server; the memory burst
    (a fresh interpreter, PostHog down) and the worker's time after it has stopped."""
    server = RemoteServer()
    try:
        part1 = per_call(server, sizes)
        part2 = end_to_end(server, sizes)
        part4 = end_to_end_logs(server, sizes)
        part5 = storm_total(server, sizes.storm)
        part6 = business_burst(server, sizes.business)
    finally:
        server.stop()
    return Results(
        sizes=sizes,
        per_call=part1,
        end_to_end=part2,
        memory=rss_burst(sizes.burst),
        logs=part4,
        storm=part5,
        business=part6,
        worker=worker_time(sizes),
        profile=profile_emit(sizes) if profile else None,
    )
