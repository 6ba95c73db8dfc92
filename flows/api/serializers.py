"""Input and output shapes of the flows API. Field names are DESIGN.md §3's; no business logic lives here."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend import jsonlimits
from backend.api.serializers import StrictMixin
from backend.cluster.models import Scheduler
from flows.models import Call, Flow, Plug, PlugKind, Processor, Queue, Socket
from flows.runtime.schedules import ScheduleError, parse_cron
from flows.selectors.calls import RUN_STATUSES
from flows.validators import (
    address_name,
    autoscale_problem,
    function_name,
    module_path,
    replicas_problem,
    storable_json,
)


def validate_schedule(value: Any) -> Any:
    if value is None:
        return None
    storable_json(value)  # first: a NUL in a cron string is that, not a bad day-of-week
    if not isinstance(value, dict) or set(value) - {"interval", "cron"} or len(value) != 1:
        raise serializers.ValidationError(
            'Give {"interval": seconds} or {"cron": "m h dom mon dow"} (standard cron, in UTC), or null.'
        )
    if "interval" in value:
        interval = value["interval"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0.1:
            raise serializers.ValidationError("interval is a number of seconds, at least 0.1.")
    else:
        try:
            parse_cron(str(value["cron"]))
        except ScheduleError as error:
            raise serializers.ValidationError(str(error)) from None
    return value


class RightsSerializer(serializers.Serializer):
    change = serializers.BooleanField()
    delete = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why the flow is read-only for the caller; empty when it is not.")


class FlowSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    rights = serializers.SerializerMethodField(help_text="What the caller may do with this flow.")

    class Meta:
        model = Flow
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "layout",
            "chaos",
            "version",
            "created_at",
            "updated_at",
            "rights",
        ]
        read_only_fields = ["id", "owner", "version", "created_at", "updated_at"]

    @extend_schema_field(RightsSerializer)
    def get_rights(self, flow: Flow) -> dict[str, Any] | None:
        """From the view's context ("rights": {flow id: rights}), computed for a whole page at once."""
        rights = self.context.get("rights")
        return rights.get(flow.pk) if rights is not None else None


class FlowInputSerializer(StrictMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    layout = serializers.DictField(required=False, validators=[storable_json])
    chaos = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=45,
        help_text="A chaos drill: percent of calls (0 to 45) failed with an injected ChaosError before their "
        "function runs, as ElasticFlow's chaos_spirits. 0 is off. Only the flow's owner may set it.",
    )
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you edited; a stale one answers 409."
    )


class ProcessorFieldsSerializer(StrictMixin, serializers.Serializer):
    """The editable fields of a processor, shared by the processor endpoints and the graph document."""

    name = serializers.CharField(max_length=200)
    git_url = serializers.CharField(max_length=1000)
    ref = serializers.CharField(max_length=255, required=False, default="main")
    module = serializers.CharField(max_length=255, validators=[module_path])
    subdirectory = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    requirements = serializers.CharField(required=False, allow_blank=True, default="")
    concurrency = serializers.IntegerField(min_value=1, max_value=64, required=False, default=1)
    autoscale_max = serializers.IntegerField(
        min_value=0,
        max_value=64,
        required=False,
        default=0,
        help_text="0 for a fixed pool; above concurrency, the most slots Celery's autoscaler may grow the worker to.",
    )
    replicas = serializers.IntegerField(
        min_value=1,
        max_value=64,
        required=False,
        default=1,
        help_text="Workers on different nodes (when there are enough) consuming the same socket queues.",
    )
    replicas_max = serializers.IntegerField(
        min_value=0,
        max_value=64,
        required=False,
        default=0,
        help_text="0 for a fixed number; above replicas, placement adds replicas up to this while messages pile up.",
    )
    node = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Run only on this node (its name or host name; it need not have joined yet); blank: any node.",
    )
    scheduler = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Run only on this scheduler's nodes, placed by its strategy; blank: any node.",
    )
    retries = serializers.IntegerField(min_value=0, max_value=100, required=False, default=3)
    time_limit = serializers.IntegerField(min_value=1, max_value=86400, required=False, default=300)
    rate_limit = serializers.RegexField(
        r"^(\d+(\.\d+)?(/[smh])?)?$",
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": 'Use a rate such as "10/s", "100/m" or "5/h" (a bare number is per second).'},
    )

    def validate_scheduler(self, value: str) -> str:
        if value and not Scheduler.objects.filter(name=value).exists():
            names = ", ".join(Scheduler.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise serializers.ValidationError(
                f"no scheduler named {value!r} (there are: {names}); add it first (`ec add scheduler --name {value}`)"
            )
        return value

    def validate_rate_limit(self, value: str) -> str:
        """Celery reads a bare number as tasks per second; it is stored with its unit, so everyone reads it so. A
        rate of 0 is refused: Celery reads it as no limit at all, which nobody writing 0 means."""
        if value and float(value.split("/")[0]) == 0:
            raise serializers.ValidationError(
                "A rate of 0 means no limit to Celery. Leave it blank for no limit; to stop the processor taking "
                "messages, pause it."
            )
        return f"{value}/s" if value and "/" not in value else value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "autoscale_max" in attrs and "concurrency" in attrs:  # a PATCH of one is checked against the row (services)
            problem = autoscale_problem(attrs["concurrency"], attrs["autoscale_max"])
            if problem:
                raise serializers.ValidationError({"autoscale_max": [problem]})
        if "replicas_max" in attrs and "replicas" in attrs:
            problem = replicas_problem(attrs["replicas"], attrs["replicas_max"])
            if problem:
                raise serializers.ValidationError({"replicas_max": [problem]})
        return attrs

    def validate_subdirectory(self, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise serializers.ValidationError("Give a path inside the repository, without '..' or a leading '/'.")
        return value


class ReplicaSerializer(serializers.Serializer):
    """Where one replica runs (backend/cluster/models.py Deployment)."""

    replica = serializers.IntegerField(help_text="1, 2, …")
    node = serializers.CharField()
    cpus = serializers.IntegerField(help_text="CPU slots it takes on the node (the processor's concurrency)")
    status = serializers.CharField()
    status_message = serializers.CharField()
    worker = serializers.CharField(help_text="Its Celery worker's hostname, once started")
    moving_to = serializers.CharField(allow_null=True, help_text="Being moved: the node taking over")


def replicas_of(processor: Processor) -> list[dict[str, Any]]:
    deployments = processor.deployments.all()  # prefetched by the views (select_related node, replaced_by__node)
    return [
        {
            "replica": d.replica + 1,
            "node": d.node.name,
            "cpus": d.cpus,
            "status": d.status,
            "status_message": d.status_message,
            "worker": d.worker,
            "moving_to": d.replaced_by.node.name if d.replaced_by else None,
        }
        for d in sorted(deployments, key=lambda d: (d.replica, d.created_at))
    ]


class ProcessorSerializer(serializers.ModelSerializer):
    placement = serializers.SerializerMethodField(help_text="Where each replica runs, from the agents' reports.")

    @extend_schema_field(ReplicaSerializer(many=True))
    def get_placement(self, processor: Processor) -> list[dict[str, Any]]:
        return replicas_of(processor)

    class Meta:
        model = Processor
        fields = [
            "id",
            "flow",
            "name",
            "git_url",
            "ref",
            "commit",
            "module",
            "subdirectory",
            "requirements",
            "concurrency",
            "autoscale_max",
            "replicas",
            "replicas_max",
            "scaled_replicas",
            "node",
            "scheduler",
            "placement",
            "requested_status",
            "status",
            "status_message",
            "retries",
            "time_limit",
            "rate_limit",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MoveInputSerializer(StrictMixin, serializers.Serializer):
    """POST /api/processors/{id}/move."""

    node = serializers.CharField(max_length=200, help_text="The node to move to (its name).")
    replica = serializers.IntegerField(
        min_value=1, max_value=64, required=False, help_text="Which replica (1, 2, …); needed with several."
    )


class ProcessorCreateSerializer(ProcessorFieldsSerializer):
    flow = serializers.UUIDField()


class ProcessorUpdateSerializer(ProcessorFieldsSerializer):
    pass


class SocketFieldsSerializer(StrictMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, validators=[address_name])
    function = serializers.CharField(max_length=200, validators=[function_name])
    queue = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        validators=[address_name],
        help_text="Name of a shared queue; left out, the socket gets its own.",
    )
    arguments = serializers.ListField(
        child=serializers.JSONField(), required=False, default=list, validators=[storable_json]
    )
    schedule = serializers.JSONField(required=False, allow_null=True, default=None, validators=[validate_schedule])
    # The column is a PostgreSQL integer: a larger number would fail in the database (500) instead of here (400).
    max_queue_length = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True, default=None
    )
    pure = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Same arguments, same result, no side effects: results are memoized by (socket, commit, arguments).",
    )
    memo_ttl = serializers.IntegerField(
        min_value=1,
        max_value=30 * 24 * 3600,
        required=False,
        allow_null=True,
        default=None,
        help_text="Seconds a pure socket's result is kept; null: ELASTICCODE_MEMO_TTL.",
    )


class SocketSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(source="queue.name", read_only=True)

    class Meta:
        model = Socket
        fields = [
            "id",
            "flow",
            "processor",
            "name",
            "function",
            "queue",
            "arguments",
            "schedule",
            "max_queue_length",
            "pure",
            "memo_ttl",
            "created_at",
        ]
        read_only_fields = fields


class SocketCreateSerializer(SocketFieldsSerializer):
    processor = serializers.UUIDField()


class PlugSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plug
        fields = ["id", "flow", "name", "source", "target", "kind", "argument", "created_at"]
        read_only_fields = fields


class PlugInputSerializer(StrictMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, validators=[address_name])
    source = serializers.UUIDField()  # type: ignore[assignment]  # a field named "source", not Field.source
    target = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=PlugKind.choices, required=False, default=PlugKind.RESULT)
    argument = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class QueueSerializer(serializers.ModelSerializer):
    class Meta:
        model = Queue
        fields = ["id", "name", "max_length", "message_ttl", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "name": {"validators": [address_name]},
            "message_ttl": {"min_value": 1, "help_text": "Seconds a message may wait; an older one is dead-lettered."},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Every queue is durable: an accepted message is never lost. Clients that still send `durable: false`
        # hear so, rather than believing they got a queue that forgets.
        if self.initial_data.get("durable") is False:
            raise serializers.ValidationError(
                {"durable": ["Every queue is durable (no accepted message is ever lost); leave this field out."]}
            )
        return attrs


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = [
            "id",
            "trace_id",
            "parent_id",
            "flow",
            "socket",
            "socket_name",
            "status",
            "received_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "error",
            "traceback",
            "stdout",
            "stderr",
            "worker",
            "attempt",
            "input",
            "args",
            "output",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "received_at": {"help_text": "When the message was sent to the socket (started_at - received_at: queued)."},
            "started_at": {"help_text": "When this attempt's worker began handling it."},
            "finished_at": {"help_text": "When this attempt's outcome was known, before its children were published."},
            "duration_ms": {
                "help_text": "Milliseconds the function itself ran, timed around the call inside the executor: no "
                "queueing, routing or isolation; finished_at - started_at minus this is the worker's own part."
            },
            "attempt": {"help_text": "1 for the first run; a retry (the processor's retries) counts up."},
            "input": {
                "help_text": "The payload, JSON, cut at ELASTICCODE_LINEAGE_PREVIEW_BYTES (ends with … when cut)."
            },
            "args": {
                "help_text": 'The extra positional args after the payload, a JSON list cut the same way; "" when '
                'there were none (call("divide", 5, 4) from a function: input 5, args [4]).'
            },
            "output": {"help_text": "What it returned (and sent along named plugs), JSON, cut the same way."},
        }


# -- the graph document ---------------------------------------------------------------------------------------


class PositionSerializer(StrictMixin, serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()


class GraphSocketSerializer(SocketFieldsSerializer):
    ignored_fields = ("flow", "processor", "created_at")
    id = serializers.UUIDField(required=False, allow_null=True)


class GraphProcessorSerializer(ProcessorFieldsSerializer):
    ignored_fields = ("commit", "requested_status", "status", "status_message", "flow", "created_at", "updated_at")
    id = serializers.UUIDField(required=False, allow_null=True)
    position = PositionSerializer(required=False, allow_null=True)
    sockets = GraphSocketSerializer(many=True, required=False, default=list)


class GraphPlugSerializer(StrictMixin, serializers.Serializer):
    ignored_fields = ("flow", "created_at")
    id = serializers.UUIDField(required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, validators=[address_name])
    source = serializers.CharField(max_length=200, help_text="Socket id or socket name.")  # type: ignore[assignment]
    target = serializers.CharField(max_length=200, help_text="Socket id or socket name.")
    kind = serializers.ChoiceField(choices=PlugKind.choices, required=False, default=PlugKind.RESULT)
    argument = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class GraphInputSerializer(StrictMixin, serializers.Serializer):
    ignored_fields = ("id", "rights")  # what GET answers and PUT cannot change, so a GET document can be PUT back
    version = serializers.IntegerField(min_value=1, help_text="The version you edited; a stale one answers 409.")
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    layout = serializers.DictField(required=False, validators=[storable_json])
    processors = GraphProcessorSerializer(many=True)
    plugs = GraphPlugSerializer(many=True)


class FlowDocumentSerializer(StrictMixin, serializers.Serializer):
    """An exported flow (GET /api/flows/{id}/export), as accepted by POST /api/flows/import/."""

    format = serializers.ChoiceField(choices=["elasticcode.flow/1"])
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    layout = serializers.DictField(required=False, default=dict, validators=[storable_json])
    processors = GraphProcessorSerializer(many=True)
    plugs = GraphPlugSerializer(many=True)


class ImportInputSerializer(StrictMixin, serializers.Serializer):
    document = FlowDocumentSerializer()
    name = serializers.CharField(
        max_length=200, required=False, help_text="Name for the new flow (default: the document's)."
    )


class MessageInputSerializer(StrictMixin, serializers.Serializer):
    """POST /api/sockets/{id}/messages: the payload, and extra positional arguments (fn(payload, *args)).

    Each is held to ELASTICCODE_MAX_JSON_DEPTH counted from itself, as the worker holds what functions return (the
    parser has refused lone surrogates already)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        limit = jsonlimits.max_depth()
        fields = [("data", attrs.get("data"))] + [(f"args[{i}]", arg) for i, arg in enumerate(attrs.get("args") or [])]
        for name, value in fields:
            if (where := jsonlimits.too_deep(value, limit, name)) is not None:
                short = where if len(where) <= 60 else where[:60] + "…"
                raise serializers.ValidationError(
                    {short: [f"This value is nested more than {limit} levels deep (ELASTICCODE_MAX_JSON_DEPTH)."]}
                )
        return attrs

    data = serializers.JSONField(  # type: ignore[assignment]
        allow_null=True, help_text="The payload: any JSON value, null included (plugs and the SDK deliver null too)."
    )
    args = serializers.ListField(child=serializers.JSONField(), required=False, default=list)


class MessageWaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(required=False, min_value=0, max_value=300)


class TapQuerySerializer(serializers.Serializer):
    after = serializers.RegexField(
        r"^[0-9]{1,20}(-[0-9]{1,20})?$",
        required=False,
        default="",
        help_text="The cursor of the last answer: events after it. Left out: from now on.",
        error_messages={"invalid": "give the `cursor` of the last answer (digits-digits), or leave it out"},
    )
    wait = serializers.FloatField(
        required=False, default=10, min_value=0, max_value=30, help_text="Seconds to wait for the first event."
    )
    sample = serializers.FloatField(
        required=False, default=1.0, min_value=0.001, max_value=1.0, help_text="Share of the messages to show."
    )
    rate = serializers.FloatField(
        required=False, default=10.0, min_value=0.1, max_value=50, help_text="Events a second, at most (per worker)."
    )


class RunsQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RUN_STATUSES, required=False, help_text="Only runs with this status.")
    limit = serializers.IntegerField(min_value=1, max_value=500, required=False, default=50)


class ForceQuerySerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Delete even though messages wait: they move to the flow owner's dead-letter archive.",
    )


class PeekQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=10)


class ReplayInputSerializer(StrictMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(format="hex_verbose"),
        required=False,
        help_text="Dead letters to replay (their message ids); all of them when absent.",
    )


class DiscoverInputSerializer(StrictMixin, serializers.Serializer):
    """POST /api/flows/{id}/discover: where a processor's code is, before the processor is saved."""

    git_url = serializers.CharField(max_length=1000)
    ref = serializers.CharField(max_length=255, required=False, default="main")
    module = serializers.CharField(max_length=255, validators=[module_path])
    subdirectory = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    validate_subdirectory = ProcessorFieldsSerializer.validate_subdirectory  # the same rule as a saved processor's


class ModulesInputSerializer(StrictMixin, serializers.Serializer):
    """POST /api/flows/{id}/modules: a trusted repository to browse for modules."""

    git_url = serializers.CharField(max_length=1000)
    ref = serializers.CharField(
        max_length=255,
        required=False,
        help_text="A branch, tag or commit; the repository's default branch when absent.",
    )


class CodeQuerySerializer(serializers.Serializer):
    function = serializers.CharField(
        max_length=200, required=False, validators=[function_name], help_text="Only this function."
    )
