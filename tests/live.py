"""A real Daphne serving the test database, for tests and benchmarks that must go through HTTP as users do."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from django.db import connection

from backend.devstack import free_port, wait_for_port

BASE_DIR = Path(__file__).resolve().parent.parent


@contextmanager
def daphne(**extra_env: str) -> Iterator[str]:
    """Serve the current test database (use with transactional tests, so rows are committed) and yield its URL."""
    url = urlparse(os.environ["DATABASE_URL"])
    test_db = urlunparse(url._replace(path=f"/{connection.settings_dict['NAME']}"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_db, "DJANGO_SETTINGS_MODULE": "backend.settings.test", **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        # Daphne waits for open keep-alive connections (a browser still on the page) before it exits.
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
