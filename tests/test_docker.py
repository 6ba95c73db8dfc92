"""No Docker engine runs here; these checks keep docker/ consistent with the code it starts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def test_compose_services_use_existing_executable_entrypoints() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "agent", "beat"} <= set(services)
    for name in ("web", "agent", "beat"):
        # Commands name the script inside the image, where the repository is copied to /app.
        script = DOCKER.parent / services[name]["command"][0].removeprefix("/app/")
        assert script.is_file() and os.access(script, os.X_OK), script
    assert "--appendonly" in services["redis"]["command"]


def test_env_example_names_every_secret_prod_requires_without_real_values() -> None:
    example = (DOCKER / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= names
    assert "change-me" in example


def test_the_rabbitmq_variant_points_every_app_service_at_a_healthy_durable_rabbitmq() -> None:
    overlay = yaml.safe_load((DOCKER / "compose.rabbitmq.yml").read_text())
    services = overlay["services"]
    assert "healthcheck" in services["rabbitmq"] and overlay["volumes"] == {"rabbitmq-data": None}
    for name in ("web", "agent", "beat"):
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("amqp://elasticcode:")
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert "RABBITMQ_PASSWORD=" in (DOCKER / ".env.example").read_text()
