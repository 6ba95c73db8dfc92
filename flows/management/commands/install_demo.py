"""`manage.py install_demo`: make run's demo (a local git repository of examples/sample and a started flow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from flows.models import Socket
from flows.services.demo import demo_install, demo_repository


class Command(BaseCommand):
    help = "Create the demo repository and flow for the admin user and ask its processors to run."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--owner", default="admin")
        parser.add_argument("--no-start", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"user {options['owner']} does not exist (run ensure_admin first)")
        url = demo_repository(Path(settings.DATA_DIR) / "demo-repo")
        flow = demo_install(user=owner, repo_url=url, start=not options["no_start"])
        socket = Socket.objects.get(flow=flow, name="do_something")
        self.stdout.write(f"demo flow {flow.name} ({flow.pk}); send it a message: socket do_something = {socket.pk}")
