"""Replace a flow's whole graph (processors, sockets, plugs, layout) in one transaction.

The document is what GET /api/flows/{id}/graph returns, edited: objects keep their `id`; new ones may bring a
client-made UUID or none; anything left out is deleted. Plugs name their sockets by id or by name. Every
problem in the document is reported at once, each under the path of the field to fix, and nothing is saved
unless the whole document is good. Name uniqueness constraints are deferred to commit, so names may swap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import IntegrityError, transaction

from backend.accounts.services import privileges_forget
from backend.errors import ApplicationError, Conflict
from flows.models import Flow, FlowSnapshot, Plug, Processor, Queue, Socket
from flows.permissions import require_flow_perm
from flows.services.deletes import leaving, queues_follow, sockets_release
from flows.services.queues import AUTO_PREFIX, auto_queue_name, queues_delete_unused, queues_not_usable
from flows.services.versioning import flow_lock, flow_version_bump

PROCESSOR_FIELDS = (
    "name",
    "git_url",
    "ref",
    "module",
    "subdirectory",
    "requirements",
    "concurrency",
    "autoscale_max",
    "replicas",
    "replicas_max",
    "node",
    "scheduler",
    "retries",
    "time_limit",
    "rate_limit",
)
SOCKET_FIELDS = ("name", "function", "arguments", "schedule", "max_queue_length", "pure", "memo_ttl")
PLUG_FIELDS = ("name", "kind", "argument")
GraphModel = TypeVar("GraphModel", Processor, Socket, Plug)


@dataclass
class _Problems:
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, problem: str) -> None:
        self.fields.setdefault(path, []).append(problem)

    def raise_if_any(self) -> None:
        if self.fields:
            first, problems = next(iter(self.fields.items()))
            more = f" (and {len(self.fields) - 1} more problem(s))" if len(self.fields) > 1 else ""
            raise ApplicationError(f"The graph was not saved: {first}: {problems[0]}{more}.", {"fields": self.fields})


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _parse_ids(doc: dict[str, Any], problems: _Problems) -> None:
    """Ids as UUIDs: a GET document (or a script) brings them as strings, and every set and dict lookup below
    compares them with the UUIDs the database returns, so "abc" != UUID("abc") would make every id dangle."""
    objects = [(f"processors[{i}]", proc) for i, proc in enumerate(doc["processors"])]
    objects += [
        (f"processors[{i}].sockets[{k}]", sock)
        for i, proc in enumerate(doc["processors"])
        for k, sock in enumerate(proc["sockets"])
    ]
    objects += [(f"plugs[{j}]", plug) for j, plug in enumerate(doc["plugs"])]
    for path, obj in objects:
        if obj.get("id") is not None:
            as_id = _as_uuid(obj["id"])
            if as_id is None:
                problems.add(f"{path}.id", f"{obj['id']!r} is not a UUID; leave the id out to create a new object")
            obj["id"] = as_id


def _check_ids(flow: Flow, doc: dict[str, Any], problems: _Problems) -> None:
    """Ids must be unique in the document and may not belong to another flow."""
    seen: dict[uuid.UUID, str] = {}
    wanted: dict[type[Processor] | type[Socket] | type[Plug], dict[uuid.UUID, str]] = {
        Processor: {},
        Socket: {},
        Plug: {},
    }
    for i, proc in enumerate(doc["processors"]):
        for path, obj, model in [(f"processors[{i}]", proc, Processor)] + [
            (f"processors[{i}].sockets[{k}]", sock, Socket) for k, sock in enumerate(proc["sockets"])
        ]:
            if obj.get("id") is not None:
                if obj["id"] in seen:
                    problems.add(f"{path}.id", f"id {obj['id']} is used twice (also at {seen[obj['id']]})")
                seen[obj["id"]] = path
                wanted[model][obj["id"]] = path
    for j, plug in enumerate(doc["plugs"]):
        if plug.get("id") is not None:
            if plug["id"] in seen:
                problems.add(f"plugs[{j}].id", f"id {plug['id']} is used twice (also at {seen[plug['id']]})")
            seen[plug["id"]] = f"plugs[{j}]"
            wanted[Plug][plug["id"]] = f"plugs[{j}]"
    for graph_model, ids in wanted.items():
        if not ids:
            continue
        foreign = graph_model.objects.filter(pk__in=list(ids)).exclude(flow=flow).values_list("pk", flat=True)
        for pk in foreign:
            problems.add(f"{ids[pk]}.id", f"id {pk} belongs to another flow; leave the id out to create a new object")


def _check_names(doc: dict[str, Any], problems: _Problems) -> None:
    proc_names: dict[str, str] = {}
    socket_names: dict[str, str] = {}
    for i, proc in enumerate(doc["processors"]):
        if proc["name"] in proc_names:
            problems.add(
                f"processors[{i}].name", f"name {proc['name']!r} is used twice (also at {proc_names[proc['name']]})"
            )
        proc_names.setdefault(proc["name"], f"processors[{i}]")
        for k, sock in enumerate(proc["sockets"]):
            path = f"processors[{i}].sockets[{k}]"
            if sock["name"] in socket_names:
                problems.add(
                    f"{path}.name",
                    f"socket name {sock['name']!r} is used twice in this flow (also at {socket_names[sock['name']]})",
                )
            socket_names.setdefault(sock["name"], path)


def _resolve_plugs(doc: dict[str, Any], problems: _Problems) -> list[tuple[uuid.UUID, uuid.UUID]]:
    by_id = {sock["id"] for proc in doc["processors"] for sock in proc["sockets"]}
    by_name = {sock["name"]: sock["id"] for proc in doc["processors"] for sock in proc["sockets"]}
    ends: list[tuple[uuid.UUID, uuid.UUID]] = []
    names: dict[str, str] = {}
    edges: dict[tuple[Any, ...], str] = {}
    for j, plug in enumerate(doc["plugs"]):
        resolved = []
        for end in ("source", "target"):
            ref = plug[end]
            as_id = _as_uuid(ref)
            socket_id = as_id if as_id in by_id else by_name.get(str(ref))
            if socket_id is None:
                problems.add(f"plugs[{j}].{end}", f"no socket {ref!r} in this graph; give a socket id or name from it")
            resolved.append(socket_id)
        source, target = resolved
        if source is not None and source == target:
            problems.add(f"plugs[{j}].target", "a plug cannot join a socket to itself")
        if not plug.get("name"):
            plug["name"] = f"{plug['source']}-{plug['kind']}-{plug['target']}"[:200]
        if plug["name"] in names:
            problems.add(
                f"plugs[{j}].name", f"plug name {plug['name']!r} is used twice (also at {names[plug['name']]})"
            )
        names.setdefault(plug["name"], f"plugs[{j}]")
        edge = (source, target, plug["kind"])
        if source is not None and target is not None:
            if edge in edges:
                problems.add(f"plugs[{j}]", f"the same {plug['kind']} plug already joins these sockets ({edges[edge]})")
            edges.setdefault(edge, f"plugs[{j}]")
        ends.append((source, target))  # type: ignore[arg-type]
    return ends


def _queues_for(doc: dict[str, Any], problems: _Problems, user: Any, flow: Flow) -> dict[uuid.UUID, uuid.UUID]:
    """The queue of each socket: the named one (created when new) or the socket's own automatic queue."""
    wanted: dict[uuid.UUID, str] = {}
    for i, proc in enumerate(doc["processors"]):
        for k, sock in enumerate(proc["sockets"]):
            name = sock.get("queue") or auto_queue_name(sock["id"])
            if name.startswith(AUTO_PREFIX) and name != auto_queue_name(sock["id"]):
                problems.add(
                    f"processors[{i}].sockets[{k}].queue",
                    f"queue names starting with {AUTO_PREFIX!r} are reserved for automatic queues",
                )
            wanted[sock["id"]] = name
    forbidden = queues_not_usable(user=user, names=set(wanted.values()), flow_id=flow.pk)
    for i, proc in enumerate(doc["processors"]):
        for k, sock in enumerate(proc["sockets"]):
            if wanted[sock["id"]] in forbidden:
                problems.add(
                    f"processors[{i}].sockets[{k}].queue",
                    f"queue {wanted[sock['id']]!r} feeds a flow you may not change; use another queue",
                )
    if problems.fields:
        return {}
    existing = dict(Queue.objects.filter(name__in=set(wanted.values())).values_list("name", "pk"))
    missing = [Queue(name=name) for name in sorted(set(wanted.values()) - set(existing))]
    for queue in Queue.objects.bulk_create(missing):
        existing[queue.name] = queue.pk
    return {socket_id: existing[name] for socket_id, name in wanted.items()}


def _current(model: type[GraphModel], flow: Flow, fields: tuple[str, ...]) -> dict[uuid.UUID, dict[str, Any]]:
    return {
        row[0]: dict(zip(fields, row[1:], strict=True))
        for row in model.objects.filter(flow=flow).values_list("pk", *fields)
    }


def _diff(
    model: type[GraphModel],
    flow: Flow,
    current: dict[uuid.UUID, dict[str, Any]],
    wanted: list[tuple[uuid.UUID, dict[str, Any]]],
) -> tuple[list[GraphModel], list[GraphModel]]:
    """New rows to insert and changed rows to update, as instances carrying just the values to write."""
    new: list[GraphModel] = []
    changed: list[GraphModel] = []
    for pk, values in wanted:
        row = current.get(pk)
        if row is None:
            new.append(model(id=pk, flow_id=flow.pk, **values))
        elif any(row[name] != value for name, value in values.items()):
            changed.append(model(id=pk, flow_id=flow.pk, **values))
    return new, changed


def _merged(flow: Flow, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc`, edited from an older version, merged into the flow as it is now (flows/services/merge.py), to be saved
    as the current version; Conflict (409) when the two changed the same thing, saying what, or when the version it
    was edited from is no longer kept."""
    from flows.selectors.graph import flow_graph_get
    from flows.services.merge import NotMergeable, merge

    stale = (
        f"The flow was changed by someone else (you edited version {doc['version']}, it is now at version "
        f"{flow.version})"
    )
    base = FlowSnapshot.objects.filter(flow=flow, version=doc["version"]).first()
    if base is None:
        raise Conflict(f"{stale}. Reload the flow, redo your change and save again.", {"current_version": flow.version})
    try:
        result = merge(base.document, flow_graph_get(flow=flow), doc)
    except NotMergeable:
        raise Conflict(
            f"{stale}, and this document cannot be merged (its plugs name their sockets). Reload the flow, redo your "
            "change and save again.",
            {"current_version": flow.version},
        ) from None
    if result.conflicts:
        what = "; ".join(f"{c['object']}{' ' + c['field'] if c['field'] else ''}" for c in result.conflicts[:5])
        more = f" and {len(result.conflicts) - 5} more" if len(result.conflicts) > 5 else ""
        raise Conflict(
            f"{stale}, and you both changed {what}{more}. Nothing was saved: reload to get theirs and redo yours, or "
            "export yours.",
            {"current_version": flow.version, "conflicts": result.conflicts},
        )
    return {**result.doc, "version": flow.version}


@transaction.atomic
def flow_graph_replace(*, user: Any, flow: Flow, doc: dict[str, Any], force: bool = False, client: str = "") -> Flow:
    """Validate the whole document, then apply it with bulk writes, bump the version once, return the flow.
    Sockets it drops that have messages waiting are dropped only when forced (flows/services/deletes.py). `client`
    names the saving designer tab in the `saved` notice the others get (flows/services/versioning.py)."""
    flow = flow_lock(flow_id=flow.pk)
    if doc["version"] != flow.version:
        doc = _merged(flow, doc)
    require_flow_perm(user, "change_flow", flow)
    problems = _Problems()
    _parse_ids(doc, problems)
    _check_ids(flow, doc, problems)
    _check_names(doc, problems)
    for proc in doc["processors"]:
        proc["id"] = proc.get("id") or uuid.uuid4()
        for sock in proc["sockets"]:
            sock["id"] = sock.get("id") or uuid.uuid4()
    ends = _resolve_plugs(doc, problems)
    problems.raise_if_any()
    queues = _queues_for(doc, problems, user, flow)
    problems.raise_if_any()

    # Current rows as plain values: only new or changed rows become model instances (a 500-processor save
    # that moves a few nodes instantiates a few models, not 3,500).
    procs = _current(Processor, flow, PROCESSOR_FIELDS)
    sockets = _current(Socket, flow, (*SOCKET_FIELDS, "processor_id", "queue_id", "order"))
    plugs = _current(Plug, flow, (*PLUG_FIELDS, "source_id", "target_id"))
    keep_procs = {proc["id"] for proc in doc["processors"]}
    keep_sockets = {sock["id"] for proc in doc["processors"] for sock in proc["sockets"]}
    keep_plugs = {plug["id"] for plug in doc["plugs"] if plug.get("id")}
    # Every current queue, not just those of removed sockets: a kept socket may move to another queue, leaving its
    # automatic one unused. queues_delete_unused only drops automatic queues no socket uses any more.
    old_queue_ids = [row["queue_id"] for row in sockets.values()]
    dropped = Socket.objects.filter(flow=flow).exclude(pk__in=keep_sockets)
    sockets_release(
        gone=leaving(dropped, flow_name=flow.name, owner_id=flow.owner_id), what=f"Flow {flow.name}", force=force
    )
    queues_follow((pk, row["queue_id"], queues[pk]) for pk, row in sockets.items() if pk in queues)

    # Deletes first (plugs, sockets, processors), so kept objects never point at something going away.
    Plug.objects.filter(flow=flow).exclude(pk__in=keep_plugs).delete()
    Socket.objects.filter(flow=flow).exclude(pk__in=keep_sockets).delete()
    privileges_forget(model=Processor, pks=[pk for pk in procs if pk not in keep_procs])
    Processor.objects.filter(flow=flow).exclude(pk__in=keep_procs).delete()

    wanted_procs, wanted_sockets, wanted_plugs = [], [], []
    positions = {}
    for proc in doc["processors"]:
        wanted_procs.append((proc["id"], {name: proc[name] for name in PROCESSOR_FIELDS if name in proc}))
        if proc.get("position") is not None:
            positions[str(proc["id"])] = proc["position"]
        for order, sock in enumerate(proc["sockets"]):
            values = {name: sock[name] for name in SOCKET_FIELDS if name in sock}
            values.update(processor_id=proc["id"], queue_id=queues[sock["id"]], order=order)
            wanted_sockets.append((sock["id"], values))
    for plug, (source, target) in zip(doc["plugs"], ends, strict=True):
        values = {name: plug[name] for name in PLUG_FIELDS if name in plug}
        values.update(source_id=source, target_id=target)
        wanted_plugs.append((plug.get("id") or uuid.uuid4(), values))
    new_procs, changed_procs = _diff(Processor, flow, procs, wanted_procs)
    new_sockets, changed_sockets = _diff(Socket, flow, sockets, wanted_sockets)
    new_plugs, changed_plugs = _diff(Plug, flow, plugs, wanted_plugs)

    try:
        Processor.objects.bulk_create(new_procs)
        Processor.objects.bulk_update(changed_procs, list(PROCESSOR_FIELDS))
        Socket.objects.bulk_create(new_sockets)
        Socket.objects.bulk_update(changed_sockets, [*SOCKET_FIELDS, "processor", "queue", "order"])
        Plug.objects.bulk_create(new_plugs)
        Plug.objects.bulk_update(changed_plugs, [*PLUG_FIELDS, "source", "target"])
        queues_delete_unused(queue_ids=old_queue_ids)
        layout = dict(doc.get("layout") or flow.layout or {})
        kept = {str(pk) for pk in keep_procs}
        layout["processors"] = {k: v for k, v in {**layout.get("processors", {}), **positions}.items() if k in kept}
        flow.layout = layout
        if doc.get("name") and doc["name"] != flow.name:
            if Flow.objects.filter(owner_id=flow.owner_id, name=doc["name"]).exclude(pk=flow.pk).exists():
                raise ApplicationError(
                    f"The graph was not saved: name: you already have a flow named {doc['name']!r}.",
                    {"fields": {"name": ["already taken"]}},
                )
            flow.name = doc["name"]
        if "description" in doc:
            flow.description = doc["description"]
        flow.save(update_fields=["name", "description", "layout", "updated_at"])
        flow_version_bump(flow=flow, by=user.get_username(), client=client)
        # Deferred unique constraints are checked here, inside the transaction, so a clash rolls everything back.
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError as error:
        raise ApplicationError(
            f"The graph was not saved: it breaks a database rule ({error.__cause__ or error})."
        ) from None
    return flow
