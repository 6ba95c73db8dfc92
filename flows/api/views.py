"""Thin views: validate with a serializer, call one service or selector, serialize the answer.

Every queryset comes from flows.permissions, so an object a user may not see answers 404 like one that does not
exist, and lists never leak.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.cluster import services as cluster_services
from backend.cluster.models import Deployment
from backend.errors import Forbidden, NotFound
from flows.api import maps
from flows.api import serializers as s
from flows.models import Call, Flow, Plug, Processor, Queue, Socket
from flows.permissions import (
    flows_for,
    processors_for,
    require_flow_perm,
    require_processor_perm,
    socket_with_rights,
    sockets_for,
)
from flows.selectors.calls import call_tree, flow_runs
from flows.selectors.code import module_functions, processor_code, repository_modules
from flows.selectors.graph import flow_export, flow_graph_get
from flows.selectors.rights import flow_rights, flow_rights_many
from flows.selectors.status import processors_not_running, waiting_on
from flows.selectors.taps import tap_read
from flows.services import flows as flow_services
from flows.services import messages as message_services
from flows.services import processors as processor_services
from flows.services import queues as queue_services
from flows.services import sockets as socket_services
from flows.services.graph import flow_graph_replace
from flows.services.transfer import flow_import
from flows.services.versioning import flow_snapshot_keep

ERROR = OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}")


def _validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _force(request: Request) -> bool:
    return bool(_validated(s.ForceQuerySerializer, request.query_params)["force"])


class FlowViewSet(viewsets.ModelViewSet):
    """Flows the caller may see. Creating one needs the CREATE (ADD_FLOW) right; its creator owns it."""

    serializer_class = s.FlowSerializer
    filterset_fields = ["name"]

    def get_queryset(self) -> QuerySet[Flow]:
        if getattr(self, "swagger_fake_view", False):
            # The schema is made without a user or a database (make api-types): its filters come from the model.
            return Flow.objects.none()
        return flows_for(self.request.user).select_related("owner").order_by("name", "id")

    def _out(self, flows: list[Flow], **kwargs: Any) -> Any:
        """Flows with the caller's rights on them, computed for all of them at once."""
        rights = flow_rights_many(user=self.request.user, flows=flows)
        return s.FlowSerializer(flows if kwargs.get("many") else flows[0], context={"rights": rights}, **kwargs).data

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self._out(list(page), many=True))
        return Response(self._out(list(queryset), many=True))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._out([self.get_object()]))

    @extend_schema(request=s.FlowInputSerializer, responses={201: s.FlowSerializer, 400: ERROR, 409: ERROR})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.FlowInputSerializer, request.data)
        data.pop("version", None)
        flow = flow_services.flow_create(user=request.user, **data)
        return Response(self._out([flow]), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.FlowInputSerializer, responses={200: s.FlowSerializer, 409: ERROR})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        flow = self.get_object()
        data = _validated(s.FlowInputSerializer, request.data, partial=kwargs.get("partial", False))
        version = data.pop("version", None)
        flow = flow_services.flow_update(user=request.user, flow=flow, data=data, expected_version=version)
        return Response(self._out([flow]))

    @extend_schema(parameters=[s.ForceQuerySerializer], responses={204: None, 403: ERROR, 409: ERROR})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the flow. 409 while messages wait for its sockets, unless ?force=true (they go to the archive)."""
        flow_services.flow_delete(user=request.user, flow=self.get_object(), force=_force(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses={200: OpenApiTypes.OBJECT})
    @extend_schema(
        methods=["PUT"],
        request=s.GraphInputSerializer,
        parameters=[s.ForceQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["get", "put"])
    def graph(self, request: Request, pk: str | None = None) -> Response:
        """The whole graph in one document, with the caller's `rights` on it. PUT replaces it atomically if
        `version` is still current; sockets it drops with messages waiting only with ?force=true."""
        flow = self.get_object()
        if request.method == "PUT":
            doc = _validated(s.GraphInputSerializer, request.data)
            client = request.headers.get("X-ElasticCode-Client", "")[:64]
            flow = flow_graph_replace(user=request.user, flow=flow, doc=doc, force=_force(request), client=client)
        document = flow_graph_get(flow=flow)
        rights = flow_rights(user=request.user, flow=flow)
        if request.method == "GET" and rights["change"]:
            flow_snapshot_keep(flow=flow, document=document)  # the base this editor's save will merge from
        return Response({**document, "rights": rights})

    @extend_schema(parameters=[s.RunsQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR})
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        """The flow's latest runs, newest first: {"runs": [{trace_id, root_id, socket, socket_name, status
        (succeeded | handled | failed | running), started_at, finished_at, duration_ms, calls, failed_calls,
        handled_calls}]}. Open one with GET /api/calls/{root_id}/graph. From lineage, so a run shows about a second
        after it starts."""
        flow = self.get_object()
        query = _validated(s.RunsQuerySerializer, request.query_params)
        return Response({"runs": flow_runs(flow_id=flow.pk, status=query.get("status"), limit=query["limit"])})

    def _run(self, request: Request, action: str) -> Response:
        processors = flow_services.flow_request(user=request.user, flow=self.get_object(), action=action)
        return Response({"processors": s.ProcessorSerializer(processors, many=True).data})

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR})
    @action(detail=True, methods=["post"], url_path="start")
    def start_all(self, request: Request, pk: str | None = None) -> Response:
        """Start every processor of the flow (all or none: a missing right on one refuses the request)."""
        return self._run(request, "start")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR})
    @action(detail=True, methods=["post"], url_path="stop")
    def stop_all(self, request: Request, pk: str | None = None) -> Response:
        """Stop every processor of the flow; their messages wait in the queues."""
        return self._run(request, "stop")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR})
    @action(detail=True, methods=["post"], url_path="pause")
    def pause_all(self, request: Request, pk: str | None = None) -> Response:
        return self._run(request, "pause")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR})
    @action(detail=True, methods=["post"], url_path="resume")
    def resume_all(self, request: Request, pk: str | None = None) -> Response:
        """Resume the paused processors of the flow; the others stay as they are."""
        return self._run(request, "resume")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR})
    @action(detail=True, methods=["post"], url_path="restart")
    def restart_all(self, request: Request, pk: str | None = None) -> Response:
        return self._run(request, "restart")

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> Response:
        """A portable JSON document of the flow, for POST /api/flows/import/."""
        return Response(flow_export(flow=self.get_object()))

    @extend_schema(request=s.ImportInputSerializer, responses={201: OpenApiTypes.OBJECT, 400: ERROR})
    @action(detail=False, methods=["post"], url_path="import")
    def import_(self, request: Request) -> Response:
        """Create a new flow from an exported document: {"document": {...}, "name": optional new name}."""
        data = _validated(s.ImportInputSerializer, request.data)
        flow = flow_import(user=request.user, doc=dict(data["document"]), name=data.get("name"))
        return Response(flow_graph_get(flow=flow), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.FlowSerializer, 201: s.FlowSerializer, 403: ERROR})
    @action(detail=False, methods=["post"], url_path="default")
    def default(self, request: Request) -> Response:
        """The caller's default flow (their flow named "default"), created on first use (201): where the CLI and
        the SDK put objects made without naming a flow."""
        flow, created = flow_services.flow_default(user=request.user)
        return Response(self._out([flow]), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        request=s.DiscoverInputSerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR}
    )
    @action(detail=True, methods=["post"])
    def discover(self, request: Request, pk: str | None = None) -> Response:
        """The public functions of a module at the commit `ref` resolves to, read without running it: for a
        processor being configured. {"git_url", "ref", "commit", "module", "path", "functions": [...]}."""
        flow = self.get_object()
        require_flow_perm(request.user, "change_flow", flow)
        data = _validated(s.DiscoverInputSerializer, request.data)
        return Response(module_functions(**data))

    @extend_schema(
        request=s.ModulesInputSerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR}
    )
    @action(detail=True, methods=["post"])
    def modules(self, request: Request, pk: str | None = None) -> Response:
        """The Python modules of a trusted repository, each with the subdirectory to import it from, for a
        processor being configured: {"git_url", "ref", "commit", "modules": [{"module", "subdirectory", "path"}],
        "truncated"}. Without `ref`, the repository's default branch."""
        flow = self.get_object()
        require_flow_perm(request.user, "change_flow", flow)
        data = _validated(s.ModulesInputSerializer, request.data)
        return Response(repository_modules(**data))


class _ProcessorScoped(viewsets.GenericViewSet):
    """Sockets, plugs and calls are visible when their flow or their processor is."""

    def visible_flows(self) -> QuerySet[Flow]:
        return flows_for(self.request.user)

    def visible_processors(self) -> QuerySet[Processor]:
        return processors_for(self.request.user)


class ProcessorViewSet(viewsets.ModelViewSet):
    serializer_class = s.ProcessorSerializer
    filterset_fields = ["flow", "name", "status", "requested_status"]

    def get_queryset(self) -> QuerySet[Processor]:
        replicas = Deployment.objects.select_related("node", "replaced_by__node")
        return (
            processors_for(self.request.user)
            .order_by("name", "id")
            .prefetch_related(Prefetch("deployments", queryset=replicas))
        )

    @extend_schema(request=s.ProcessorCreateSerializer, responses={201: s.ProcessorSerializer, 400: ERROR})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.ProcessorCreateSerializer, request.data)
        flow = get_object_or_404(flows_for(request.user), pk=data.pop("flow"))
        processor = processor_services.processor_create(user=request.user, flow=flow, data=data)
        return Response(s.ProcessorSerializer(processor).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ProcessorUpdateSerializer, responses={200: s.ProcessorSerializer, 400: ERROR})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        processor = self.get_object()
        data = _validated(s.ProcessorUpdateSerializer, request.data, partial=kwargs.get("partial", False))
        processor = processor_services.processor_update(user=request.user, processor=processor, data=data)
        return Response(s.ProcessorSerializer(processor).data)

    @extend_schema(parameters=[s.ForceQuerySerializer], responses={204: None, 403: ERROR, 409: ERROR})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the processor and its sockets. 409 while messages wait for them, unless ?force=true."""
        processor_services.processor_delete(user=request.user, processor=self.get_object(), force=_force(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _act(self, request: Request, name: str) -> Response:
        processor = processor_services.processor_request(user=request.user, processor=self.get_object(), action=name)
        return Response(s.ProcessorSerializer(processor).data)

    @extend_schema(
        request=s.MoveInputSerializer, responses={200: s.ProcessorSerializer, 400: ERROR, 403: ERROR, 409: ERROR}
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Move a running replica to another node with no message lost: the new worker consumes before the old
        one stops warmly. `placement` shows the move (`moving_to`) until it is done."""
        data = _validated(s.MoveInputSerializer, request.data)
        processor = cluster_services.processor_move(user=request.user, processor=self.get_object(), **data)
        return Response(s.ProcessorSerializer(processor).data)

    @extend_schema(request=None, responses={200: s.ProcessorSerializer, 403: ERROR})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "start")

    @extend_schema(request=None, responses={200: s.ProcessorSerializer, 403: ERROR})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "stop")

    @extend_schema(request=None, responses={200: s.ProcessorSerializer, 403: ERROR})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "pause")

    @extend_schema(request=None, responses={200: s.ProcessorSerializer, 403: ERROR, 409: ERROR})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "resume")

    @extend_schema(request=None, responses={200: s.ProcessorSerializer, 403: ERROR})
    @action(detail=True, methods=["post"])
    def restart(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "restart")

    @extend_schema(
        parameters=[s.CodeQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR}
    )
    @action(detail=True, methods=["get"])
    def code(self, request: Request, pk: str | None = None) -> Response:
        """The processor's public functions with their source, at its pinned commit (`pinned`: false when it was
        never deployed and its ref was resolved now); ?function=name for one."""
        processor = self.get_object()
        require_processor_perm(request.user, "view_code", processor)
        query = _validated(s.CodeQuerySerializer, request.query_params)
        return Response(processor_code(processor=processor, function=query.get("function")))


def _tap(request: Request, flow_id: Any, target_id: Any, kind: str) -> Response:
    query = _validated(s.TapQuerySerializer, request.query_params)
    return Response(
        tap_read(
            flow_id=str(flow_id),
            target_id=str(target_id),
            kind=kind,
            cursor=query["after"],
            wait=query["wait"],
            sample=query["sample"],
            rate=query["rate"],
        )
    )


TAP_DOC = (
    "Watch the messages {what} as they happen (a long poll): 200 {{target, kind, events, cursor}}; pass `cursor` "
    "back as `after`. Events are sampled and rate-limited, payloads cut to ELASTICCODE_TAP_PREVIEW_BYTES. Needs "
    "only the view right on the flow."
)


class SocketViewSet(_ProcessorScoped, viewsets.ModelViewSet):
    serializer_class = s.SocketSerializer
    filterset_fields = ["flow", "processor", "name", "function"]

    def get_queryset(self) -> QuerySet[Socket]:
        return sockets_for(self.request.user).select_related("queue").order_by("name", "id")

    @extend_schema(
        parameters=[s.TapQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR},
        description=TAP_DOC.format(what="arriving at this socket"),
    )
    @action(detail=True, methods=["get"])
    def tap(self, request: Request, pk: str | None = None) -> Response:
        socket = self.get_object()
        return _tap(request, socket.flow_id, socket.pk, "socket")

    @extend_schema(
        request=maps.MapInputSerializer,
        parameters=[maps.MapWaitQuerySerializer],
        responses={201: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR, 413: ERROR},
    )
    @action(detail=True, methods=["post"])
    def map(self, request: Request, pk: str | None = None) -> Response:
        """Start a map run: each parcel is sent to this socket, with a receipt (GET /api/maps/{id}/). 201 with the
        run's status; with ?wait=SECONDS, once every parcel has answered or the time is up."""
        return maps.map_create(request, pk)

    @extend_schema(request=s.SocketCreateSerializer, responses={201: s.SocketSerializer, 400: ERROR})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.SocketCreateSerializer, request.data)
        processor = get_object_or_404(self.visible_processors().select_related("flow"), pk=data.pop("processor"))
        socket = socket_services.socket_create(user=request.user, processor=processor, data=data)
        return Response(s.SocketSerializer(socket).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SocketFieldsSerializer, responses={200: s.SocketSerializer, 400: ERROR})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        socket = self.get_object()
        data = _validated(s.SocketFieldsSerializer, request.data, partial=kwargs.get("partial", False))
        socket = socket_services.socket_update(user=request.user, socket=socket, data=data)
        return Response(s.SocketSerializer(socket).data)

    @extend_schema(parameters=[s.ForceQuerySerializer], responses={204: None, 403: ERROR, 409: ERROR})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the socket. 409 while messages wait for it, unless ?force=true (they go to the archive)."""
        socket_services.socket_delete(user=request.user, socket=self.get_object(), force=_force(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=s.MessageInputSerializer,
        parameters=[s.MessageWaitQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 413: ERROR, 504: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        """Send a message. 202 {"id"}; with ?wait=SECONDS, 200 {"id", "results"} once the trace's sinks have
        answered, 200 {"id", "error"} when it fails with no error plug to take it, 504 {"id"} when time runs out."""
        # The socket and the caller's run_task right on it in one SQL query, instead of get_object() (a queryset
        # and a filter set built for every message sent) and a rights query (issue 14). Unseen: 404 as ever.
        socket = socket_with_rights(request.user, pk, ["run_task"])
        if socket is None:
            raise Http404
        self.check_object_permissions(request, socket)
        query = _validated(s.MessageWaitQuerySerializer, request.query_params)
        data = _validated(s.MessageInputSerializer, request.data)
        wait = query.get("wait")
        answer = message_services.message_send(
            user=request.user, socket=socket, data=data["data"], args=data["args"], wait=wait
        )
        if wait is None:
            return Response(answer, status=status.HTTP_202_ACCEPTED)
        if answer.pop("timeout", False):
            # Often the answer is late because a processor of the flow is not running: say which, and why.
            stalled = processors_not_running(flow_id=socket.flow_id)
            return Response(
                {
                    **answer,
                    "error": {
                        "code": "timeout",
                        "message": f"No complete answer within {wait:g} s: the message is queued or running "
                        "(it is not lost). Follow it with GET /api/calls/?trace_id=<id>." + waiting_on(stalled),
                        "processors": stalled,
                    },
                },
                status=status.HTTP_504_GATEWAY_TIMEOUT,
            )
        return Response(answer)


class PlugViewSet(_ProcessorScoped, viewsets.ModelViewSet):
    serializer_class = s.PlugSerializer
    filterset_fields = ["flow", "name", "source", "target", "kind"]

    @extend_schema(
        parameters=[s.TapQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR},
        description=TAP_DOC.format(what="passing along this plug"),
    )
    @action(detail=True, methods=["get"])
    def tap(self, request: Request, pk: str | None = None) -> Response:
        plug = self.get_object()
        return _tap(request, plug.flow_id, plug.pk, "plug")

    def get_queryset(self) -> QuerySet[Plug]:
        if self.request.user.is_superuser or self.request.user.has_perm("flows.view_plug"):
            return Plug.objects.all().order_by("name", "id")
        return Plug.objects.filter(flow__in=self.visible_flows().values("pk")).order_by("name", "id")

    def _socket(self, socket_id: Any, field: str) -> Socket:
        visible = Socket.objects.filter(flow__in=self.visible_flows().values("pk")).select_related("flow")
        socket = visible.filter(pk=socket_id).first()
        if socket is None:
            from backend.errors import ApplicationError

            raise ApplicationError(
                f"{field}: no socket {socket_id} that you may see; give the id of a socket.",
                {"fields": {field: ["unknown socket"]}},
            )
        return socket

    @extend_schema(request=s.PlugInputSerializer, responses={201: s.PlugSerializer, 400: ERROR})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.PlugInputSerializer, request.data)
        source = self._socket(data.pop("source"), "source")
        target = self._socket(data.pop("target"), "target")
        plug = socket_services.plug_create(user=request.user, source=source, target=target, data=data)
        return Response(s.PlugSerializer(plug).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PlugInputSerializer, responses={200: s.PlugSerializer, 400: ERROR})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        plug = self.get_object()
        data = _validated(s.PlugInputSerializer, request.data, partial=kwargs.get("partial", False))
        for end in ("source", "target"):
            if end in data:
                data[end] = self._socket(data[end], end)
        plug = socket_services.plug_update(user=request.user, plug=plug, data=data)
        return Response(s.PlugSerializer(plug).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        socket_services.plug_delete(user=request.user, plug=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueViewSet(_ProcessorScoped, viewsets.ModelViewSet):
    """Queues of the sockets the caller may see, and those they made that no socket uses yet (all of them with the
    READ_QUEUE right)."""

    serializer_class = s.QueueSerializer
    filterset_fields = ["name"]

    def get_queryset(self) -> QuerySet[Queue]:
        if self.request.user.is_superuser or self.request.user.has_perm("flows.view_queue"):
            return Queue.objects.all().order_by("name")
        sockets = Socket.objects.filter(processor__in=self.visible_processors().values("pk"))
        # Only while unused: once a socket reads it, its messages are that flow's, shown to whoever sees the flow.
        made_unused = Q(created_by=self.request.user) & ~Exists(Socket.objects.filter(queue=OuterRef("pk")))
        return Queue.objects.filter(Q(pk__in=sockets.values("queue_id")) | made_unused).order_by("name")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.QueueSerializer, request.data)
        queue = queue_services.queue_create(user=request.user, **data)
        return Response(s.QueueSerializer(queue).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queue = self.get_object()
        data = _validated(s.QueueSerializer, request.data, instance=queue, partial=kwargs.get("partial", False))
        if "name" in data and data["name"] != queue.name:
            raise Forbidden("A queue cannot be renamed (messages wait in it under its name); create a new one.")
        queue = queue_services.queue_update(user=request.user, queue=queue, data=data)
        return Response(s.QueueSerializer(queue).data)

    @extend_schema(parameters=[s.ForceQuerySerializer], responses={204: None, 403: ERROR, 409: ERROR})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a queue no socket reads. 409 while messages are in it, unless ?force=true (they go to your
        archive)."""
        queue_services.queue_delete(user=request.user, queue=self.get_object(), force=_force(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], parameters=[s.PeekQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @extend_schema(methods=["DELETE"], request=None, responses={200: OpenApiTypes.OBJECT, 403: ERROR})
    @action(detail=True, methods=["get", "delete"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        """GET peeks at the next messages (oldest first) without taking them; DELETE purges the queue."""
        queue = self.get_object()
        if request.method == "DELETE":
            purged = message_services.queue_purge(user=request.user, queue=queue)
            return Response({"purged": purged})
        query = _validated(s.PeekQuerySerializer, request.query_params)
        return Response(message_services.queue_peek(queue=queue, limit=query["limit"]))

    @extend_schema(parameters=[s.PeekQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], url_path="dead-letters")
    def dead_letters(self, request: Request, pk: str | None = None) -> Response:
        """Messages whose retries are spent, with their error and remote traceback."""
        query = _validated(s.PeekQuerySerializer, request.query_params)
        entries = message_services.dead_letters(user=request.user, queue=self.get_object(), limit=query["limit"])
        return Response({"count": len(entries), "results": entries})

    @extend_schema(request=None, responses={204: None, 403: ERROR, 404: ERROR})
    @action(detail=True, methods=["delete"], url_path=r"dead-letters/(?P<message_id>[0-9a-fA-F-]{36})")
    def dead_letter(self, request: Request, pk: str | None = None, message_id: str = "") -> Response:
        """Delete one dead letter for good, by the id of the message that died (needs the right to change its
        flow)."""
        message_services.dead_letter_delete(user=request.user, queue=self.get_object(), message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.ReplayInputSerializer, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="dead-letters/replay")
    def replay(self, request: Request, pk: str | None = None) -> Response:
        """Send dead letters (all, or those listed in "ids") back into their socket as new messages."""
        # No body means all of them; a body that is not {"ids": [...]} (null, a list) is refused, not read as "all".
        data = _validated(s.ReplayInputSerializer, request.data)
        ids = [str(i) for i in data["ids"]] if "ids" in data else None
        replayed = message_services.dead_letters_replay(user=request.user, queue=self.get_object(), message_ids=ids)
        return Response({"replayed": replayed}, status=status.HTTP_202_ACCEPTED)


class CallViewSet(_ProcessorScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Executions of sockets (lineage). Read-only; written in batches by the workers."""

    serializer_class = s.CallSerializer
    filterset_fields = ["trace_id", "parent_id", "socket", "flow", "status"]

    def get_queryset(self) -> QuerySet[Call]:
        if self.request.user.is_superuser or self.request.user.has_perm("flows.view_call"):
            return Call.objects.all()
        sockets = Socket.objects.filter(processor__in=self.visible_processors().values("pk"))
        return Call.objects.filter(socket__in=sockets.values("pk"))

    def get_object(self) -> Call:
        try:
            return super().get_object()  # type: ignore[no-any-return]
        except Http404:
            # Found by a newcomer: the id a send answers is a call's id only once the call has run, so a message
            # still waiting (its processor stopped, or busy) looked like a wrong id. Same answer for an unseen one.
            raise NotFound(
                "No call with this id that you may see. A message's call is listed about a second after it has run; "
                "a message still waiting in its queue has none yet (GET /api/processors/?flow=<id> shows which "
                "processors are not running). GET /api/calls/?trace_id=<id> lists a trace's calls as they run."
            ) from None

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def graph(self, request: Request, pk: str | None = None) -> Response:
        """The trace this call belongs to, as a tree of calls (lineage is written about a second late)."""
        return Response(call_tree(call=self.get_object(), visible=self.get_queryset()))
