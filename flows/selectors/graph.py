"""Reads of a flow's whole graph: one document with processors, their sockets, plugs and the canvas layout.

Four queries whatever the size of the flow (flow, processors, sockets with queues, plugs).
"""

from __future__ import annotations

from typing import Any

from flows.models import Flow, Plug, Processor, Socket

FORMAT = "elasticcode.flow/1"


def _processor_doc(processor: Processor, position: Any) -> dict[str, Any]:
    return {
        "id": str(processor.pk),
        "name": processor.name,
        "git_url": processor.git_url,
        "ref": processor.ref,
        "commit": processor.commit,
        "module": processor.module,
        "subdirectory": processor.subdirectory,
        "requirements": processor.requirements,
        "concurrency": processor.concurrency,
        "retries": processor.retries,
        "time_limit": processor.time_limit,
        "rate_limit": processor.rate_limit,
        "requested_status": processor.requested_status,
        "status": processor.status,
        "status_message": processor.status_message,
        "position": position,
        "sockets": [],
    }


def _socket_doc(socket: Socket) -> dict[str, Any]:
    return {
        "id": str(socket.pk),
        "name": socket.name,
        "function": socket.function,
        "queue": socket.queue.name,
        "arguments": socket.arguments,
        "schedule": socket.schedule,
        "max_queue_length": socket.max_queue_length,
    }


def _plug_doc(plug: Plug) -> dict[str, Any]:
    return {
        "id": str(plug.pk),
        "name": plug.name,
        "source": str(plug.source_id),
        "target": str(plug.target_id),
        "kind": plug.kind,
        "argument": plug.argument,
    }


def flow_graph_get(*, flow: Flow) -> dict[str, Any]:
    positions = (flow.layout or {}).get("processors", {})
    processors: dict[Any, dict[str, Any]] = {}
    for processor in Processor.objects.filter(flow=flow).order_by("name"):
        processors[processor.pk] = _processor_doc(processor, positions.get(str(processor.pk)))
    for socket in Socket.objects.filter(flow=flow).select_related("queue").order_by("name"):
        processors[socket.processor_id]["sockets"].append(_socket_doc(socket))
    plugs = [_plug_doc(plug) for plug in Plug.objects.filter(flow=flow).order_by("name")]
    return {
        "id": str(flow.pk),
        "name": flow.name,
        "description": flow.description,
        "version": flow.version,
        "layout": flow.layout or {},
        "processors": list(processors.values()),
        "plugs": plugs,
    }


def flow_export(*, flow: Flow) -> dict[str, Any]:
    """A portable document: names instead of ids (plugs name their sockets), no run state, no owner."""
    graph = flow_graph_get(flow=flow)
    socket_names = {sock["id"]: sock["name"] for proc in graph["processors"] for sock in proc["sockets"]}
    processors = []
    for proc in graph["processors"]:
        exported = {key: value for key, value in proc.items()
                    if key not in {"id", "commit", "requested_status", "status", "status_message"}}
        exported["sockets"] = [
            {key: value for key, value in sock.items() if key != "id" and not (key == "queue" and value.startswith("q."))}
            for sock in proc["sockets"]
        ]
        processors.append(exported)
    return {
        "format": FORMAT,
        "name": graph["name"],
        "description": graph["description"],
        "layout": {key: value for key, value in graph["layout"].items() if key != "processors"},
        "processors": processors,
        "plugs": [
            {"name": plug["name"], "source": socket_names[plug["source"]], "target": socket_names[plug["target"]],
             "kind": plug["kind"], "argument": plug["argument"]}
            for plug in graph["plugs"]
        ],
    }
