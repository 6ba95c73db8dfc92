"""Create (or keep) the development superuser `admin` and print its password.

The password comes from ELASTICCODE_ADMIN_PASSWORD when set; otherwise one is generated on first use and kept
in the data directory (mode 0600), so every `make run` prints the same working password. Nothing is hard-coded.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the superuser 'admin' if missing and print its password."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        path = Path(settings.DATA_DIR) / "admin-password"
        given = os.environ.get("ELASTICCODE_ADMIN_PASSWORD")
        user = User.objects.filter(username="admin").first()
        stored = path.read_text().strip() if path.exists() else None
        if user is not None and not given and stored and not user.check_password(stored):
            self.stdout.write("log in as admin with the password you gave it (set ELASTICCODE_ADMIN_PASSWORD to reset)")
            return
        password = given or stored or secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_superuser("admin", "", password)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        if not given:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password)
            path.chmod(0o600)
        self.stdout.write(f"log in as admin / {password}")
