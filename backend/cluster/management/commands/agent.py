"""`manage.py agent`: the node agent (make run starts one). Stops its workers on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.cluster.agent import AgentLoop


class Command(BaseCommand):
    help = "Run this node's agent: starts, stops and pauses the workers of the processors placed here."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", help="Node name (default: ELASTICCODE_NODE_NAME or the hostname).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between reconciliations.")

    def handle(self, *args: Any, **options: Any) -> None:
        loop = AgentLoop(node_name=options.get("node"), interval=options["interval"])

        def stop(_signum: int, _frame: object) -> None:
            loop.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        loop.run()
