"""`manage.py housekeeping`: the beat process of DESIGN §2 — schedules, lineage, due retries, stale agents.

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
from django.utils import timezone

from backend.cluster.models import Agent, Health, Node
from backend.cluster.placement import HEARTBEAT_FRESH
from flows.runtime import schedules
from flows.runtime.housekeeping import Housekeeper


def mark_stale_agents() -> int:
    """Agents and nodes whose heartbeat stopped are offline (placement then skips them)."""
    since = timezone.now() - HEARTBEAT_FRESH
    stale = Agent.objects.filter(status=Health.ONLINE, last_heartbeat__lt=since).update(status=Health.OFFLINE)
    Node.objects.filter(status=Health.ONLINE, last_heartbeat__lt=since).update(status=Health.OFFLINE)
    return stale


class Command(BaseCommand):
    help = "Run schedules, lineage flushing, due retries and stale-agent detection until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        housekeeper = Housekeeper(interval=options["interval"])
        last_stale_check = 0.0
        while not stopping.wait(options["interval"]):
            housekeeper.tick()
            try:
                schedules.fire_due()
                if time.monotonic() - last_stale_check > 10:
                    mark_stale_agents()
                    last_stale_check = time.monotonic()
            except DatabaseError as exc:
                self.stderr.write(f"housekeeping: database unavailable ({exc}); retrying")
                close_old_connections()
