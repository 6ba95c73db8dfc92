"""Placement: which nodes run a processor's replicas (DESIGN §10). Kept apart from the agent, which only runs what
the database says is placed on its node.

Every agent calls `plan` each tick; a PostgreSQL advisory lock lets one of them do it at a time, so there is no
placement master to lose. One pass:

1. nodes whose agent missed the heartbeat window (ELASTICCODE_NODE_DOWN_AFTER) go `down`;
2. the replicas of nodes that are not online are taken off them (their workers are dead or stopping; what the
   workers had taken goes back to the queue by the broker's redelivery) and their Worker rows marked `lost`;
3. each processor that should run gets `replicas` deployments (or what the autoscaler wants, between `replicas`
   and `replicas_max`: backend/cluster/autoscale.py): a missing one is placed by the strategy, an extra one
   (replicas lowered, or scaled down) removed, which its agent sees and stops warmly;
4. the deployments of stopped processors are released once their agents have stopped them.

A replica takes `concurrency` CPU slots of its node. A strategy picks among the live nodes the processor may use
(its `node` pin, its scheduler's nodes) that have the slots free, or any of them when the node allows
oversubscription; replicas of one processor go to different nodes first. When none fits, the processor's
status_message says why and its messages wait in their queues.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from backend.cluster import autoscale
from backend.cluster.models import Agent, Deployment, Health, Node, Scheduler, Worker
from backend.cluster.status import refresh_status
from flows.models import Processor, Socket
from flows.models.processor import RequestedStatus
from flows.runtime import broker

log = logging.getLogger("elasticcode.placement")

# pg_try_advisory_xact_lock key of the placement pass ("ECPLACE" in ASCII, any constant no other lock uses).
LOCK_KEY = 0x4543504C414345


@dataclass
class Candidate:
    """A live node as placement sees it for one processor."""

    node: Node
    used: int  # CPU slots of the replicas placed on it
    mine: int  # replicas of this processor on it

    @property
    def free(self) -> int:
        return self.node.cpus - self.used

    def fits(self, cpus: int) -> bool:
        return self.node.oversubscribe or self.free >= cpus


class Strategy(Protocol):
    def choose(self, processor: Processor, cpus: int, candidates: list[Candidate]) -> Candidate | None:
        """The node for one more replica needing `cpus` slots, among live nodes the processor may use; None when
        none will do."""


class LeastLoaded:
    """Replicas of one processor on different nodes first, then the node with the most free CPU slots."""

    def choose(self, processor: Processor, cpus: int, candidates: list[Candidate]) -> Candidate | None:
        fitting = [c for c in candidates if c.fits(cpus)]
        return min(fitting, key=lambda c: (c.mine, -c.free, c.node.name), default=None)


class Packed:
    """Replicas of one processor on different nodes first, then the busiest node that fits (bin packing: whole
    nodes stay free for large processors)."""

    def choose(self, processor: Processor, cpus: int, candidates: list[Candidate]) -> Candidate | None:
        fitting = [c for c in candidates if c.fits(cpus)]
        return min(fitting, key=lambda c: (c.mine, c.free, c.node.name), default=None)


STRATEGIES: dict[str, type[Strategy]] = {"least_loaded": LeastLoaded, "packed": Packed}


def strategy_named(name: str) -> Strategy:
    """A strategy by its STRATEGIES name or a dotted path to a class; ValueError names the choices."""
    if name in STRATEGIES:
        return STRATEGIES[name]()
    if "." in name:
        try:
            return import_string(name)()  # type: ignore[no-any-return]
        except ImportError as exc:
            raise ValueError(f"placement strategy {name} cannot be imported: {exc}") from None
    raise ValueError(f"unknown placement strategy {name!r}: use one of {', '.join(STRATEGIES)} or a dotted path")


def down_after() -> timedelta:
    return timedelta(seconds=settings.ELASTICCODE_NODE_DOWN_AFTER)


def live_nodes() -> list[Node]:
    return list(
        Node.objects.filter(status=Health.ONLINE, last_heartbeat__gte=timezone.now() - down_after()).order_by("name")
    )


def allowed(processor: Processor, nodes: list[Node]) -> tuple[list[Node], str]:
    """The nodes of `nodes` the processor may run on, and when there are none, why (for its status_message)."""
    if processor.node:
        nodes = [n for n in nodes if processor.node in (n.name, n.hostname)]
        if not nodes:
            return [], f"it is pinned to node {processor.node}, which is not online"
    if processor.scheduler:
        members = set(Node.objects.filter(schedulers__name=processor.scheduler).values_list("pk", flat=True))
        nodes = [n for n in nodes if n.pk in members]
        if not nodes:
            return [], f"none of scheduler {processor.scheduler}'s nodes is online"
    if not nodes:
        return [], "no node is online (start an agent: `make run`, or `make agent NODE=n2`)"
    return nodes, ""


@dataclass
class Pass:
    """What one placement pass did, for the log and the tests."""

    down: list[str]
    evicted: int
    placed: list[str]
    removed: int
    released: int
    waiting: dict[str, str]
    scaled: list[str] = field(default_factory=list)


def plan() -> Pass | None:
    """One placement pass (see the module's docstring); None when another agent is doing it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                return None
        done = Pass(down=_mark_down(), evicted=_evict(), placed=[], removed=0, released=0, waiting={})
        _place_all(done)
    for line in _describe(done):
        log.info("%s", line)
    return done


def _mark_down() -> list[str]:
    """Nodes, and agents, that missed the heartbeat window are down."""
    silent = Q(last_heartbeat__lt=timezone.now() - down_after()) | Q(last_heartbeat__isnull=True)
    names = list(Node.objects.filter(silent, status=Health.ONLINE).values_list("name", flat=True))
    if names:
        Node.objects.filter(name__in=names).update(status=Health.DOWN)
    Agent.objects.filter(silent, status=Health.ONLINE).update(status=Health.DOWN)
    return names


def _evict() -> int:
    """Take the replicas off nodes that are not online; their Worker rows are `lost` (the dead node cannot say)."""
    gone = Deployment.objects.exclude(node__status=Health.ONLINE)
    processors = set(gone.values_list("processor_id", flat=True))
    if not processors:
        return 0
    Worker.objects.filter(agent__node__in=Node.objects.exclude(status=Health.ONLINE)).exclude(
        status__in=["stopped", "lost"]
    ).update(status="lost", pid=None)
    evicted, _ = gone.delete()
    for processor in Processor.objects.filter(pk__in=processors):
        refresh_status(processor)
    return evicted


def _place_all(done: Pass) -> None:
    nodes = live_nodes()
    used: Counter[str] = Counter()
    for node_id, cpus in Deployment.objects.values_list("node_id", "cpus"):
        used[str(node_id)] += cpus
    wanting = Processor.objects.filter(
        Q(requested_status__in=[RequestedStatus.RUNNING, RequestedStatus.PAUSED]) | Q(deployments__isnull=False)
    ).distinct()
    strategies = dict(Scheduler.objects.values_list("name", "strategy"))
    processors = list(wanting.prefetch_related("deployments"))
    depths = _backlogs([p for p in processors if p.replicas_max and p.requested_status == RequestedStatus.RUNNING])
    for processor in processors:
        deployments = list(processor.deployments.all())
        if processor.requested_status != RequestedStatus.RUNNING and processor.scaled_replicas:
            # Stopped or paused: it starts again from `replicas`, its spells forgotten.
            Processor.objects.filter(pk=processor.pk).update(scaled_replicas=0)
            processor.scaled_replicas = 0
            autoscale.forget([str(processor.pk)])
        if processor.requested_status == RequestedStatus.STOPPED:
            done.released += _release(processor, deployments)
            continue
        name = strategies.get(processor.scheduler, settings.ELASTICCODE_PLACEMENT_STRATEGY)
        if str(processor.pk) in depths:
            room = _room(processor, name, deployments, nodes, used)
            decision = autoscale.decide(processor, depths[str(processor.pk)], time.time(), room=room)
            if decision is not None:
                autoscale.apply(processor, decision)
                done.scaled.append(f"{processor.name}: {decision.action} to {decision.target} ({decision.reason})")
        deployments = _restrict(processor, name, deployments, nodes, used, done)
        wanted = processor.replicas_wanted
        active = [d for d in deployments if d.replaced_by_id is None]
        extra = [d for d in active if d.replica >= wanted]
        if extra:
            Deployment.objects.filter(pk__in=[d.pk for d in extra]).delete()
            for d in extra:
                used[str(d.node_id)] -= d.cpus
            done.removed += len(extra)
        taken = {d.replica for d in active if d.replica < wanted}
        missing = [index for index in range(wanted) if index not in taken]
        if not missing:
            if extra:
                refresh_status(processor)
            continue
        why = _place(processor, name, missing, deployments, nodes, used, done)
        if why:
            done.waiting[processor.name] = why
        refresh_status(processor, waiting=why)


def _restrict(
    processor: Processor,
    strategy_name: str,
    deployments: list[Deployment],
    nodes: list[Node],
    used: Counter[str],
    done: Pass,
) -> list[Deployment]:
    """A replica running where its processor may no longer run (its `node` pin or `scheduler` changed) moves, live,
    to a node it may use; with none that has room, it goes (its agent stops it warmly) and the replica waits for
    one, saying why. Returns the deployments as they are now."""
    usable, _ = allowed(processor, nodes)
    allowed_ids = {n.pk for n in usable}
    online = {n.pk for n in nodes}
    replacing = {d.replaced_by_id for d in deployments if d.replaced_by_id}
    wrong = [
        d
        for d in deployments
        if d.replaced_by_id is None and d.pk not in replacing and d.node_id in online and d.node_id not in allowed_ids
    ]
    if not wrong:
        return deployments
    try:
        strategy = strategy_named(strategy_name)
    except ValueError:
        strategy = LeastLoaded()
    by_pk = {n.pk: n for n in nodes}
    for deployment in wrong:
        mine = Counter(str(d.node_id) for d in deployments if d.replaced_by_id is None and d.pk != deployment.pk)
        candidates = [Candidate(n, used[str(n.pk)], mine[str(n.pk)]) for n in usable]
        chosen = strategy.choose(processor, deployment.cpus, candidates)
        source = by_pk[deployment.node_id].name
        if chosen is None:
            Deployment.objects.filter(pk=deployment.pk).delete()
            used[str(deployment.node_id)] -= deployment.cpus
            deployments = [d for d in deployments if d.pk != deployment.pk]
            done.removed += 1
            done.placed.append(f"{processor.name}#{deployment.replica + 1} off {source}: it may not run there")
            continue
        moved = start_move(processor, deployment, chosen.node, source=source)
        used[str(chosen.node.pk)] += deployment.cpus
        deployments.append(moved)
        done.placed.append(f"{processor.name}#{deployment.replica + 1}: {source} → {chosen.node.name} (restricted)")
    refresh_status(processor)
    return deployments


def start_move(processor: Processor, old: Deployment, target: Node, *, source: str | None = None) -> Deployment:
    """The new half of a live move: its agent starts it, and the old one's agent stops the old once it runs
    (backend/cluster/agent.py)."""
    moved = Deployment.objects.create(
        processor=processor,
        replica=old.replica,
        node=target,
        cpus=processor.concurrency,
        status="starting",
        status_message=f"moving here from {source or old.node.name}",
    )
    Deployment.objects.filter(pk=old.pk).update(replaced_by=moved)
    old.replaced_by_id = moved.pk
    return moved


def _backlogs(processors: list[Processor]) -> dict[str, int]:
    """Messages waiting in each processor's socket queues (one broker round trip for them all)."""
    if not processors:
        return {}
    # A queue is counted once per processor, however many of its sockets share it (found by a newcomer: two
    # sockets on one queue doubled the backlog the autoscaler saw).
    queues: dict[str, set[str]] = {}
    for processor_id, queue_id in Socket.objects.filter(processor__in=processors).values_list(
        "processor_id", "queue_id"
    ):
        queues.setdefault(str(processor_id), set()).add(str(queue_id))
    unique = sorted({q for ids in queues.values() for q in ids})
    depth = dict(zip(unique, broker.depths(unique), strict=True))
    return {str(p.pk): sum(depth[q] for q in queues.get(str(p.pk), [])) for p in processors}


def _room(
    processor: Processor, strategy_name: str, deployments: list[Deployment], nodes: list[Node], used: Counter[str]
) -> bool:
    """Whether the strategy would place one more replica of the processor now."""
    try:
        strategy = strategy_named(strategy_name)
    except ValueError:
        return False
    usable, _ = allowed(processor, nodes)
    mine = Counter(str(d.node_id) for d in deployments)
    candidates = [Candidate(n, used[str(n.pk)], mine[str(n.pk)]) for n in usable]
    return strategy.choose(processor, processor.concurrency, candidates) is not None


def _place(
    processor: Processor,
    strategy_name: str,
    missing: list[int],
    deployments: list[Deployment],
    nodes: list[Node],
    used: Counter[str],
    done: Pass,
) -> str:
    """Place the `missing` replicas; the reason the first one that could not be placed waits, or ""."""
    try:
        strategy = strategy_named(strategy_name)
    except ValueError as exc:
        return str(exc)
    usable, why = allowed(processor, nodes)
    if not usable:
        return why
    mine = Counter(str(d.node_id) for d in deployments)
    cpus = processor.concurrency
    for index in missing:
        candidates = [Candidate(n, used[str(n.pk)], mine[str(n.pk)]) for n in usable]
        chosen = strategy.choose(processor, cpus, candidates)
        if chosen is None:
            largest = max(candidates, key=lambda c: c.free)  # the first of the freest, by name
            return (
                f"replica {index + 1} needs {cpus} free CPU slot{'s' if cpus != 1 else ''}; the most any allowed "
                f"node has is {max(largest.free, 0)} ({largest.node.name})"
            )
        Deployment.objects.create(
            processor=processor,
            replica=index,
            node=chosen.node,
            cpus=cpus,
            status="starting",
            status_message=f"placed on {chosen.node.name}",
        )
        used[str(chosen.node.pk)] += cpus
        mine[str(chosen.node.pk)] += 1
        done.placed.append(f"{processor.name}#{index + 1}@{chosen.node.name}")
    return ""


def _release(processor: Processor, deployments: list[Deployment]) -> int:
    """A stopped processor's deployments whose workers have stopped free their slots."""
    stopped = [d.pk for d in deployments if d.status == "stopped"]
    if not stopped:
        return 0
    Deployment.objects.filter(pk__in=stopped).delete()
    refresh_status(processor)
    return len(stopped)


def _describe(done: Pass) -> list[str]:
    lines = [f"node {name} missed its heartbeats: down" for name in done.down]
    if done.evicted:
        lines.append(f"took {done.evicted} replica(s) off nodes that are not online")
    lines += [f"placed {what}" for what in done.placed]
    if done.removed:
        lines.append(f"removed {done.removed} replica(s) above their processors' replicas")
    lines += [f"autoscale {what}" for what in done.scaled]
    return lines
