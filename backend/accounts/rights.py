"""The seed's rights list (shared/seeds/003, "Security Model") mapped onto Django and django-guardian permissions.

A right names a set of permissions. Granted globally, the user or group gets every permission of the set as a
Django permission (it then applies to every object). Granted on one object, the user or group gets the
permissions of the set whose model is that object's model, as guardian object permissions; a right with none for
that model is refused with an error that says where it applies. README.md shows this table (`rights_table()`).
"""

from __future__ import annotations

from dataclasses import dataclass

# (app_label, model, codename)
Perm = tuple[str, str, str]

FLOW_MODELS = ("flow", "processor", "socket", "plug", "queue", "call")
CLUSTER_MODELS = ("node", "agent", "worker", "scheduler", "deployment")


def _crud(action: str, models: tuple[str, ...], app: str) -> tuple[Perm, ...]:
    return tuple((app, model, f"{action}_{model}") for model in models)


def _all(action: str, *, accounts: bool = True) -> tuple[Perm, ...]:
    """Every model's `action` permission; without `accounts`, not those of users, roles and privileges, whose
    add/change/delete would let the holder give themself any right (ADD_USER, ADD_PRIVILEGE… stay explicit)."""
    perms = _crud(action, FLOW_MODELS, "flows") + _crud(action, CLUSTER_MODELS, "cluster")
    if accounts:
        perms += _crud(action, ("user", "group"), "auth") + _crud(action, ("privilege",), "accounts")
    return perms


def _both(codename: str) -> tuple[Perm, ...]:
    """A processor right that can also be granted on a whole flow (then it covers each of its processors)."""
    return (("flows", "processor", codename), ("flows", "flow", codename))


OPERATE = tuple(
    perm
    for name in ("run_task", "start_processor", "stop_processor", "pause_processor", "resume_processor", "view_code")
    for perm in _both(name)
)


@dataclass(frozen=True)
class Right:
    name: str
    description: str
    permissions: tuple[Perm, ...]
    superuser_only: bool = False


def _object_rights(prefix: str, action: str, targets: dict[str, tuple[Perm, ...]]) -> list[Right]:
    return [
        Right(f"{prefix}_{label}", f"{action} {label.lower().replace('_', ' ')}s", perms)
        for label, perms in targets.items()
    ]


_TARGETS: dict[str, tuple[str, str]] = {
    "PROCESSOR": ("flows", "processor"),
    "AGENT": ("cluster", "agent"),
    "NODE": ("cluster", "node"),
    "PLUG": ("flows", "plug"),
    "PRIVILEGE": ("accounts", "privilege"),
    "QUEUE": ("flows", "queue"),
    "ROLE": ("auth", "group"),
    "SCHEDULER": ("cluster", "scheduler"),
    "SOCKET": ("flows", "socket"),
    "USER": ("auth", "user"),
    "WORKER": ("cluster", "worker"),
}


def _target(action: str, label: str) -> tuple[Perm, ...]:
    app, model = _TARGETS[label]
    return ((app, model, f"{action}_{model}"),)


_RIGHTS: list[Right] = [
    Right(
        "ALL",
        "every right below except the superuser-only ones",
        _all("view") + _all("add") + _all("change") + _all("delete") + OPERATE,
    ),
    Right(
        "CREATE",
        "create flows, queues and cluster objects (not users, roles or privileges)",
        _all("add", accounts=False),
    ),
    Right("READ", "see objects of every kind", _all("view")),
    Right(
        "UPDATE",
        "change every flow and cluster object (not users, roles or privileges)",
        _all("change", accounts=False),
    ),
    Right(
        "DELETE",
        "delete every flow and cluster object (not users, roles or privileges)",
        _all("delete", accounts=False),
    ),
    Right("DB_DROP", "drop the database (superusers only)", (), superuser_only=True),
    Right("DB_INIT", "initialise the database (superusers only)", (), superuser_only=True),
    Right(
        "START_AGENT",
        "register and run an agent on a node",
        (("cluster", "agent", "add_agent"), ("cluster", "agent", "change_agent")),
    ),
    Right("RUN_TASK", "send messages to sockets", _both("run_task")),
    Right(
        "CANCEL_TASK", "cancel (purge or replay) queued messages; the same permission as RUN_TASK", _both("run_task")
    ),
    Right("START_PROCESSOR", "start processors", _both("start_processor")),
    Right("STOP_PROCESSOR", "stop processors", _both("stop_processor")),
    Right("PAUSE_PROCESSOR", "pause processors", _both("pause_processor")),
    Right("RESUME_PROCESSOR", "resume processors", _both("resume_processor")),
    Right("LOCK_PROCESSOR", "lock a processor's configuration (= change it)", _target("change", "PROCESSOR")),
    Right("UNLOCK_PROCESSOR", "unlock a processor's configuration (= change it)", _target("change", "PROCESSOR")),
    Right("VIEW_PROCESSOR", "see processors", _target("view", "PROCESSOR")),
    Right("VIEW_PROCESSOR_CONFIG", "see processors' configuration", _target("view", "PROCESSOR")),
    Right("VIEW_PROCESSOR_CODE", "read processors' code at the pinned commit", _both("view_code")),
    Right("EDIT_PROCESSOR_CONFIG", "change processors' configuration", _target("change", "PROCESSOR")),
    Right("EDIT_PROCESSOR_CODE", "change processors' repository, ref and module", _target("change", "PROCESSOR")),
    Right("LS_PROCESSORS", "list processors", _target("view", "PROCESSOR")),
    Right("LS_USERS", "list users", _target("view", "USER")),
    Right("LS_USER", "see a user", _target("view", "USER")),
    Right("LS_PLUGS", "list plugs", _target("view", "PLUG")),
    Right("LS_SOCKETS", "list sockets", _target("view", "SOCKET")),
    Right("LS_QUEUES", "list queues", _target("view", "QUEUE")),
    Right("LS_AGENTS", "list agents", _target("view", "AGENT")),
    Right("LS_NODES", "list nodes", _target("view", "NODE")),
    Right("LS_SCHEDULERS", "list schedulers", _target("view", "SCHEDULER")),
    Right("LS_WORKERS", "list workers", _target("view", "WORKER")),
]
for _action, _prefix in (("add", "ADD"), ("change", "UPDATE"), ("delete", "DELETE"), ("view", "READ")):
    for _label in _TARGETS:
        if _label == "WORKER":
            continue  # the seed has no ADD/UPDATE/DELETE/READ_WORKER; workers belong to agents
        _RIGHTS.append(Right(f"{_prefix}_{_label}", f"{_action} {_label.lower()}s", _target(_action, _label)))
# Granting or revoking a right on one flow needs no global right: a flow's owner may share it.
_RIGHTS.append(Right("VIEW_FLOW", "see a flow and everything in it", (("flows", "flow", "view_flow"),)))
_RIGHTS.append(Right("EDIT_FLOW", "change a flow's graph and settings", (("flows", "flow", "change_flow"),)))
_RIGHTS.append(Right("DELETE_FLOW", "delete a flow", (("flows", "flow", "delete_flow"),)))
_RIGHTS.append(Right("ADD_FLOW", "create flows", (("flows", "flow", "add_flow"),)))

RIGHTS: dict[str, Right] = {right.name: right for right in _RIGHTS}


def get_right(name: str) -> Right | None:
    return RIGHTS.get(name.strip().upper())


def describe_permissions(perms: tuple[Perm, ...]) -> str:
    """Compact: 'flows.view_{flow,processor}, flows.run_task' for the docs and the API."""
    groups: dict[tuple[str, str], list[str]] = {}
    plain: list[str] = []
    for app, model, codename in perms:
        action, _, rest = codename.partition("_")
        if rest == model and action in {"view", "add", "change", "delete"}:
            groups.setdefault((app, action), []).append(model)
        elif f"{app}.{codename}" not in plain:
            plain.append(f"{app}.{codename}")
    parts = [
        f"{app}.{action}_{models[0]}" if len(models) == 1 else f"{app}.{action}_{{{','.join(sorted(models))}}}"
        for (app, action), models in sorted(groups.items())
    ]
    return ", ".join(parts + sorted(plain))


def grantable_on(right: Right) -> str:
    """Where a right can be granted: globally, and on one flow or processor if it has permissions for them."""
    if right.superuser_only:
        return "-"
    models = {
        model
        for app, model, codename in right.permissions
        if app == "flows" and model in {"flow", "processor"} and not codename.startswith("add_")
    }
    return ", ".join(["global", *sorted(models)])


def rights_table() -> list[dict[str, str]]:
    """Rows for the docs and the API: right, what it allows, where it can be granted, its Django permissions."""
    return [
        {
            "right": right.name,
            "description": right.description,
            "granted_on": grantable_on(right),
            "permissions": "superuser only" if right.superuser_only else describe_permissions(right.permissions),
        }
        for right in RIGHTS.values()
    ]


def rights_markdown() -> str:
    lines = ["| right | allows | granted on | Django permissions |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {row['right']} | {row['description']} | {row['granted_on']} | {row['permissions']} |"
        for row in rights_table()
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m backend.accounts.rights > table for README.md
    print(rights_markdown())
