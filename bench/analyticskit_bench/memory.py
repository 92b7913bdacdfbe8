"""Part 3: RSS growth over a burst of records with PostHog down (a closed port), in a
fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

from .common import API_KEY

_RSS_SCRIPT = """
import gc, json, logging, os, resource, socket, sys, time

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
import analyticskit
handler = analyticskit.PostHogHandler(api_key=sys.argv[1], host=f"http://127.0.0.1:{port}",
                                      shutdown_timeout=1, rate_limit=False, dedupe_window=0)
log = logging.getLogger("bench.rss")
log.addHandler(handler); log.setLevel(logging.INFO); log.propagate = False
for i in range(1000):  # warm up: imports, caches, the worker and the SDK's threads
    log.info("user %s did %s", "u_42", "login", extra={"uid": i, "source": "auth"})
handler.flush(0.5)
gc.collect()
before, max_before = rss_kb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
for i in range(int(sys.argv[2])):
    log.info("user %s did %s", "u_42", "login", extra={"uid": i, "source": "auth"})
took = time.perf_counter() - t0
time.sleep(0.5)
after, max_after = rss_kb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
st = handler.stats()
print(json.dumps({"before_kb": before, "after_kb": after, "maxrss_before_kb": max_before,
                  "maxrss_after_kb": max_after, "seconds": took, "emitted": st.emitted,
                  "queued": st.queued, "pending": st.pending, "dropped": dict(st.dropped)}))
sys.stdout.flush()
os._exit(0)  # the exit path is measured by the tests; skip the 1 s deadline here
"""


@dataclass(frozen=True)
class Memory:
    """What the fresh interpreter reported (kB, seconds, the handler's counters)."""

    records: int
    before_kb: int
    after_kb: int
    maxrss_before_kb: int
    maxrss_after_kb: int
    seconds: float
    emitted: int
    queued: int
    pending: int
    dropped: dict[str, int]

    @property
    def growth_mb(self) -> float:
        return (self.after_kb - self.before_kb) / 1024

    @property
    def max_growth_mb(self) -> float:
        return (self.maxrss_after_kb - self.maxrss_before_kb) / 1024


def rss_burst(burst: int) -> Memory:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RSS_SCRIPT), API_KEY, str(burst)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"RSS subprocess failed: {proc.stderr}")
    return Memory(records=burst, **json.loads(proc.stdout.strip().splitlines()[-1]))
