from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flows.runtime import redis_transport

        # Every Django process (web, agents, workers, management commands) takes from Redis queues safely.
        redis_transport.install()
