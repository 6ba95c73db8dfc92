"""`manage.py housekeeping`: the beat process of DESIGN §2 — schedules, lineage, due retries, and placement passes
(which mark silent nodes down and move their replicas).

Agents and workers do the same chores under Redis locks and once-only keys, so running this beside them is safe;
it keeps schedules and lineage going on a cluster where no agent happens to be up.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from backend.cluster import placement
from flows.runtime import schedules
from flows.runtime.housekeeping import Housekeeper


class Command(BaseCommand):
    help = "Run schedules, lineage flushing, due retries and placement passes until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        housekeeper = Housekeeper(interval=options["interval"])
        last_placement = 0.0
        while not stopping.wait(options["interval"]):
            housekeeper.tick()
            try:
                schedules.fire_due()
                if time.monotonic() - last_placement > 1:
                    placement.plan()
                    last_placement = time.monotonic()
            except DatabaseError as exc:
                self.stderr.write(f"housekeeping: database unavailable ({exc}); retrying")
                close_old_connections()
