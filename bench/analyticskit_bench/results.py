"""Every part's result, as one run of the bench produced them."""

from __future__ import annotations

from dataclasses import dataclass

from .business import Business
from .common import Sizes
from .end_to_end import EndToEnd
from .logs import LogsEndToEnd
from .memory import Memory
from .per_call import PerCall
from .profile import Profile
from .storm import Storm
from .worker import WorkerTime


@dataclass(frozen=True)
class Results:
    """Parts 1 to 7 (numbered as the report prints them) and ``--profile``'s."""

    sizes: Sizes
    per_call: PerCall  # 1
    end_to_end: EndToEnd  # 2
    memory: Memory  # 3
    logs: LogsEndToEnd  # 4
    storm: Storm  # 5
    business: Business  # 6
    worker: WorkerTime  # 7
    profile: Profile | None  # --profile
