"""Three-way merge of graph documents: a save made from an older version than the flow's merges the saver's
changes into the flow as it is now, when the two did not change the same thing (issue 16: a node moved in one tab
and a setting changed in another both stay). Pure functions over the graph document (flows/selectors/graph.py's
shape): the caller has the base (the version the saver edited, from FlowSnapshot), theirs (the flow now) and mine
(the document being saved).

What is compared is what a person edits: each processor's fields and position, each socket's fields, which
processor it is in and its place among that processor's sockets, each plug's fields and ends, the flow's name and
description. An object added on one side is kept; one deleted on one side is deleted unless the other side changed
it (a conflict). Two different changes of the same field are a conflict; the same change on both sides is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.services.graph import PLUG_FIELDS, PROCESSOR_FIELDS, SOCKET_FIELDS

_SOCKET_KEYS = (*SOCKET_FIELDS, "queue")
_TOP = ("name", "description")


class NotMergeable(Exception):
    """The document cannot be merged (a plug names its sockets rather than giving their ids)."""


@dataclass
class Merged:
    doc: dict[str, Any]
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def _id(value: Any) -> str:
    return str(value) if value else ""


def _canonical(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"top": {...}, "processors": {id: {...}}, "sockets": {id: {...}}, "plugs": {id: {...}}} of a document whose
    objects all have ids; new objects without one are left out (the caller keeps them as they are)."""
    processors, sockets, plugs = {}, {}, {}
    for proc in doc.get("processors", []):
        pid = _id(proc.get("id"))
        if not pid:
            continue
        values = {name: proc.get(name) for name in PROCESSOR_FIELDS if name in proc}
        position = proc.get("position")
        values["position"] = {"x": float(position["x"]), "y": float(position["y"])} if position else None
        values["socket_order"] = [_id(s.get("id")) for s in proc.get("sockets", [])]
        processors[pid] = values
        for sock in proc.get("sockets", []):
            sid = _id(sock.get("id"))
            if sid:
                sockets[sid] = {**{name: sock.get(name) for name in _SOCKET_KEYS if name in sock}, "processor": pid}
    for plug in doc.get("plugs", []):
        gid = _id(plug.get("id"))
        if not gid:
            continue
        plugs[gid] = {
            **{name: plug.get(name) for name in PLUG_FIELDS if name in plug},
            "source": _id(plug.get("source")),
            "target": _id(plug.get("target")),
        }
    return {"top": {k: doc.get(k) for k in _TOP}, "processors": processors, "sockets": sockets, "plugs": plugs}


def _merge_values(
    kind: str, label: str, base: dict[str, Any], theirs: dict[str, Any], mine: dict[str, Any], conflicts: list[Any]
) -> dict[str, Any]:
    out = dict(theirs)
    for name in set(base) | set(theirs) | set(mine):
        b, t, m = base.get(name), theirs.get(name), mine.get(name, base.get(name))
        if m in (b, t):
            continue
        if t == b or name == "socket_order":
            # Socket order: yours when both changed it; merge() then drops the sockets that went and appends the
            # ones that came, so adding a socket there and reordering here is no clash.
            out[name] = m
        else:
            conflicts.append({"object": f"{kind} {label}", "field": name, "yours": m, "theirs": t})
    return out


def _merge_objects(
    kind: str,
    base: dict[str, dict[str, Any]],
    theirs: dict[str, dict[str, Any]],
    mine: dict[str, dict[str, Any]],
    conflicts: list[Any],
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in [*theirs, *(k for k in mine if k not in theirs)]:
        b, t, m = base.get(key), theirs.get(key), mine.get(key)
        label = str((m or t or b or {}).get("name") or key)
        if b is None:  # added on one side (ids are new uuids: never on both)
            out[key] = t if t is not None else m  # type: ignore[assignment]
        elif t is None and m is None:
            continue
        elif t is None:  # they deleted it
            if m != b:
                conflicts.append({"object": f"{kind} {label}", "field": "", "yours": "changed", "theirs": "deleted"})
        elif m is None:  # I deleted it
            if t != b:
                conflicts.append({"object": f"{kind} {label}", "field": "", "yours": "deleted", "theirs": "changed"})
        else:
            out[key] = _merge_values(kind, label, b, t, m, conflicts)
    return out


def _socket_out(sid: str, sock: dict[str, Any]) -> dict[str, Any]:
    out = {"id": sid, **{k: v for k, v in sock.items() if k != "processor"}}
    if not out.get("queue") or str(out["queue"]).startswith("q."):
        out.pop("queue", None)  # its automatic queue: left out, as the designer leaves it out
    return out


def merge(base: dict[str, Any], theirs: dict[str, Any], mine: dict[str, Any]) -> Merged:
    """`mine`'s changes since `base`, applied to `theirs`: a document to save as is (with theirs' version), and the
    conflicts that keep it from being saved (each {"object", "field", "yours", "theirs"}); NotMergeable when `mine`
    is not in the designer's shape (plug ends given by name)."""
    for proc in mine.get("processors", []):
        if _id(proc.get("id")) and any(not _id(s.get("id")) for s in proc.get("sockets", [])):
            raise NotMergeable("a socket of a saved processor has no id")
    ids = {_id(s.get("id")) for p in mine.get("processors", []) for s in p.get("sockets", [])}
    for plug in mine.get("plugs", []):
        if _id(plug.get("source")) not in ids or _id(plug.get("target")) not in ids:
            raise NotMergeable("a plug names a socket that has no id in the document")
    b, t, m = _canonical(base), _canonical(theirs), _canonical(mine)
    conflicts: list[dict[str, Any]] = []
    top = _merge_values("flow", str(theirs.get("name")), b["top"], t["top"], m["top"], conflicts)
    processors = _merge_objects("processor", b["processors"], t["processors"], m["processors"], conflicts)
    sockets = _merge_objects("socket", b["sockets"], t["sockets"], m["sockets"], conflicts)
    plugs = _merge_objects("plug", b["plugs"], t["plugs"], m["plugs"], conflicts)
    # Sockets follow the processor the merge put them in, in the merged order, new ones last.
    for pid, proc in processors.items():
        mine_here = [sid for sid, s in sockets.items() if s["processor"] == pid]
        order = [sid for sid in proc.get("socket_order") or [] if sid in sockets and sockets[sid]["processor"] == pid]
        proc["socket_order"] = order + [sid for sid in mine_here if sid not in order]
    for sid, sock in sockets.items():
        if sock["processor"] not in processors:
            conflicts.append(
                {
                    "object": f"socket {sock.get('name') or sid}",
                    "field": "processor",
                    "yours": "kept",
                    "theirs": "deleted",
                }
            )
    for gid, plug in plugs.items():
        if plug["source"] not in sockets or plug["target"] not in sockets:
            conflicts.append(
                {
                    "object": f"plug {plug.get('name') or gid}",
                    "field": "",
                    "yours": "kept",
                    "theirs": "its socket deleted",
                }
            )
    new_processors = [p for p in mine.get("processors", []) if not _id(p.get("id"))]
    doc = {
        **{k: v for k, v in mine.items() if k not in ("processors", "plugs", *_TOP)},
        **top,
        "processors": [
            {
                "id": pid,
                **{k: v for k, v in proc.items() if k not in ("socket_order",)},
                "sockets": [_socket_out(sid, sockets[sid]) for sid in proc["socket_order"]],
            }
            for pid, proc in processors.items()
        ]
        + new_processors,
        "plugs": [{"id": gid, **plug} for gid, plug in plugs.items()]
        + [p for p in mine.get("plugs", []) if not _id(p.get("id"))],
    }
    return Merged(doc=doc, conflicts=conflicts)
