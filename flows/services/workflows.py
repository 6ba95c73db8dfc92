"""Submitting SDK compositions (pipeline / parallel / funnel): check, compile, publish the first calls.

The SDK sends a tree (flows/client/compose.py):

    {"call": {"socket": "<socket id>", "args": [...]}}
    {"pipeline": [node, ...]}       Celery chain: the previous result is the first argument of the next step
    {"parallel": [node, ...]}       Celery group: the same input to every member, the results as a list
    {"funnel": {"parallel": [node, ...], "final": node}}   Celery chord: the list goes to `final`

Every socket must be one the caller may see and run (RUN_TASK); a bad tree is refused whole, with the path of the
first bad node, and nothing is published. The calls then run on the sockets' processors' workers
(flows/runtime/workflows.py); the web process only publishes the first ones.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from backend.errors import ApplicationError, Forbidden, NotFound
from flows.models import Socket
from flows.permissions import processor_rights
from flows.runtime import broker, keys, workflows
from flows.runtime.broker import client, patient
from flows.services.messages import _check_size

MAX_DEPTH = 32
KINDS = ("call", "pipeline", "parallel", "funnel")


def _invalid(path: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{path}: {problem}", {"fields": {path: [problem]}})


class _Compiler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (path, the call node, completed once sockets are known)

    def node(self, raw: Any, path: str, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _invalid(path, f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in KINDS:
            raise _invalid(path, f"give one of {', '.join(KINDS)} as the only key of each node")
        kind, body = next(iter(raw.items()))
        if kind == "call":
            return self.call(body, path)
        if kind == "funnel":
            if not isinstance(body, dict) or set(body) != {"parallel", "final"}:
                raise _invalid(path, 'a funnel is {"parallel": [node, ...], "final": node}')
            header = self.members(body["parallel"], f"{path}.funnel", "funnel", depth)
            final = self.node(body["final"], f"{path}.funnel.final", depth + 1)
            return {"t": "chain", "steps": [{"t": "group", "members": header}, final]}
        members = self.members(body, f"{path}.{kind}", kind, depth)
        if kind == "pipeline":
            return {"t": "chain", "steps": members}
        return {"t": "group", "members": members}

    def members(self, raw: Any, path: str, kind: str, depth: int) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            raise _invalid(path, f"a {kind} needs a non-empty list of calls")
        return [self.node(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(raw)]

    def call(self, body: Any, path: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not set(body) <= {"socket", "args"} or "socket" not in body:
            raise _invalid(path, 'a call is {"socket": "<socket id>", "args": [...]}')
        try:
            socket_id = str(uuid.UUID(str(body["socket"])))
        except ValueError:
            raise _invalid(f"{path}.socket", "not a socket id") from None
        args = body.get("args", [])
        if not isinstance(args, list):
            raise _invalid(f"{path}.args", "give the positional arguments as a list")
        _check_size(args, field=f"{path}.args")
        node = {"t": "call", "s": socket_id, "a": args, "p": _readable(path)}
        self.calls.append((path, node))
        if len(self.calls) > settings.ELASTICCODE_MAX_WORKFLOW_CALLS:
            raise _invalid(
                path,
                f"more than {settings.ELASTICCODE_MAX_WORKFLOW_CALLS} calls in one composition "
                "(ELASTICCODE_MAX_WORKFLOW_CALLS); split it",
            )
        return node


def _readable(path: str) -> str:
    """ "workflow.funnel[1].parallel[0]" → "funnel[1] > parallel[0]", as a person reads where a call sits."""
    parts = path.split(".")[1:]
    return " > ".join(parts) or "call"


def workflow_submit(*, user: Any, tree: Any) -> str:
    """Check and compile `tree`, publish its first calls; the composition's id (its trace id)."""
    compiler = _Compiler()
    root = compiler.node(tree, "workflow", 0)
    wanted = {node["s"] for _, node in compiler.calls}
    rows = {
        str(row["id"]): row
        for row in Socket.objects.filter(pk__in=wanted).values("id", "name", "flow_id", "queue_id", "processor_id")
    }
    # One query for the whole tree's rights, not a permission check per call: it is on every SDK call's path.
    rights = processor_rights(user, {row["processor_id"] for row in rows.values()}, ("view_processor", "run_task"))
    for path, node in compiler.calls:
        row = rows.get(node["s"])
        held = rights.get(row["processor_id"], set()) if row else set()
        if row is None or "view_processor" not in held:
            raise NotFound(
                f"{path}.socket: no socket {node['s']} that you may see.", {"fields": {f"{path}.socket": ["not found"]}}
            )
        if "run_task" not in held:
            raise Forbidden(
                f"You may not run socket {row['name']} ({path}): ask the flow's owner for the RUN_TASK right.",
                {"permission": "flows.run_task", "fields": {f"{path}.socket": ["not allowed"]}},
            )
        node.update(f=str(row["flow_id"]), q=str(row["queue_id"]), n=row["name"])
    trace_id = str(uuid.uuid4())

    def publish() -> None:
        # Who may read the answer, set before any call can finish.
        client().set(keys.workflow_owner(trace_id), str(user.pk), ex=keys.RESULT_TTL)

    patient(publish)
    broker.publish(workflows.begin(root, trace_id))
    return trace_id
