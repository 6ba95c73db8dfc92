"""`manage.py worker PROCESSOR_ID`: the worker process of one processor. Started by the agent, not by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.metrics.collector import Collector
from flows.models import Processor
from flows.runtime import sandbox, worker
from flows.runtime.context import WorkerContext
from flows.runtime.executor import Limits


class Command(BaseCommand):
    help = "Run the worker of one processor (the agent starts these)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("processor_id")
        parser.add_argument("--python", required=True, help="The processor's virtualenv interpreter.")
        parser.add_argument("--workdir", required=True, type=Path)
        parser.add_argument("--checkout", type=Path, help="The processor's checkout, which its executors may read.")
        parser.add_argument("--node", required=True)
        parser.add_argument("--name", required=True, help="The Celery worker's hostname, also the Worker row's name.")
        parser.add_argument(
            "--paused", action="store_true", help="Start consuming nothing (Celery's add_consumer resumes)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Its executors run user code, possibly as this same user: close this process's /proc entries (its
        # environment holds the database and broker URLs) to them.
        sandbox.harden_platform_process()
        try:
            processor = Processor.objects.get(pk=options["processor_id"])
        except Processor.DoesNotExist as exc:
            raise CommandError(f"processor {options['processor_id']} does not exist") from exc
        try:
            confinement = sandbox.for_processor(
                str(processor.pk), reads=[options["checkout"]] if options["checkout"] else []
            )
        except sandbox.SandboxError as exc:
            raise CommandError(str(exc)) from exc
        queue_ids = sorted({str(q) for q in processor.sockets.values_list("queue_id", flat=True)})
        context = WorkerContext(
            processor_id=str(processor.pk),
            name=options["name"],
            python=options["python"],
            module=processor.module,
            workdir=options["workdir"],
            limits=Limits.from_settings(),
            sandbox=confinement,
            commit=processor.commit,
            lineage=settings.ELASTICCODE_LINEAGE,
            metrics=Collector(
                worker=options["name"],
                processor_id=str(processor.pk),
                flow_id=str(processor.flow_id),
                concurrency=processor.concurrency,
            )
            if settings.ELASTICCODE_METRICS
            else None,
        )
        code = worker.run(
            context=context,
            queue_ids=queue_ids,
            concurrency=processor.concurrency,
            worker_hostname=options["name"],
            rate_limit=processor.rate_limit,
            autoscale_max=processor.autoscale_max,
            paused=options["paused"],
        )
        if code:
            raise SystemExit(code)
