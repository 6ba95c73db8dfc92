"""Settings read the environment through typed helpers; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from backend.settings.env import env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
GOOD = {
    "SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://u:p@db:5432/ec",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_HOSTS": "ec.example.org",
}


def import_prod(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {*GOOD, "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.DATABASES; print('ok')"],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backend.settings.prod", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_prod_starts_with_every_secret_given() -> None:
    result = import_prod(**GOOD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_prod_refuses_to_start_without(missing: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != missing}
    result = import_prod(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_prod_refuses_a_short_secret_key() -> None:
    result = import_prod(**{**GOOD, "SECRET_KEY": "short"})
    assert result.returncode != 0 and "at least 40 characters" in result.stderr


def test_prod_refuses_a_database_that_is_not_postgres() -> None:
    result = import_prod(**{**GOOD, "DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0 and "PostgreSQL" in result.stderr


def test_env_helpers_name_the_variable_on_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EC_TEST_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="EC_TEST_INT must be an integer"):
        env_int("EC_TEST_INT", 1)
    monkeypatch.setenv("EC_TEST_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="EC_TEST_BOOL must be a boolean"):
        env_bool("EC_TEST_BOOL")
    monkeypatch.setenv("EC_TEST_LIST", "a, b,,c")
    assert env_list("EC_TEST_LIST") == ["a", "b", "c"]


def test_dev_settings_reach_the_broker_make_run_was_started_with(tmp_path: Path) -> None:
    """Found by a newcomer: with `make run` on RabbitMQ, `make celery` and `make flower` (dev settings, no
    CELERY_BROKER_URL of their own) looked at the Redis and found no worker. The running stack's broker is used."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "stack.json").write_text(
        '{"database_url": "postgres://u:p@127.0.0.1:5/ec", "redis_url": "redis://127.0.0.1:6/0", '
        '"broker_url": "amqp://guest:guest@127.0.0.1:5672//"}'
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.CELERY_BROKER_URL)"],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backend.settings.dev", "ELASTICCODE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "amqp://guest:guest@127.0.0.1:5672//"
