"""Placement's autoscaler: a processor's replicas follow its backlog, between `replicas` and `replicas_max`.

This scales replicas (Celery workers, on other nodes when there are any); within one worker, Celery's own
autoscaler grows the slots up to `autoscale_max` (flows/runtime/pool.py). Each placement pass, for every running
processor with `replicas_max` above `replicas`:

- its socket queues hold more than ELASTICCODE_SCALE_DEPTH messages per replica for ELASTICCODE_SCALE_AFTER
  seconds: one replica more, if a node has the CPU slots (otherwise a `blocked` decision, once per busy spell);
- its queues are empty for ELASTICCODE_SCALE_IDLE seconds: one replica less, down to `replicas` (its agent stops
  it warmly: what it had taken finishes, nothing is lost).

One step at a time, and the clock starts again after each, so a backlog grows the replicas steadily rather than all
at once. The spells are kept in Redis, so whichever agent runs the next pass carries on. Every decision is logged
with its reason and written as a ScaleEvent, which the dashboard shows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from backend.cluster.models import ScaleEvent
from flows.models import Processor
from flows.runtime import broker, keys

log = logging.getLogger("elasticcode.autoscale")
SPELLS = f"{keys.PREFIX}:scale:spells"  # hash: processor id → {"busy": since, "idle": since, "blocked": bool}


@dataclass(frozen=True)
class Decision:
    action: str  # grow, shrink, blocked
    target: int
    reason: str


def decide(processor: Processor, depth: int, now: float, *, room: bool) -> Decision | None:
    """The autoscaler's decision for one processor whose queues hold `depth` messages now (`room`: a node could take
    one more replica); None to leave it as it is. Updates the processor's spell in Redis."""
    client = broker.client()
    raw = client.hget(SPELLS, str(processor.pk))
    spell: dict[str, Any] = json.loads(raw) if raw else {}
    current = processor.replicas_wanted
    threshold = settings.ELASTICCODE_SCALE_DEPTH
    decision = None
    if depth > threshold * current:
        spell.pop("idle", None)
        busy = float(spell.setdefault("busy", now))
        if now - busy >= settings.ELASTICCODE_SCALE_AFTER and current < processor.replicas_max:
            why = f"{depth} messages waiting ({depth // current} per replica, above {threshold}) for {now - busy:.0f} s"
            if room:
                decision = Decision("grow", current + 1, why)
                spell = {"busy": now}
            elif not spell.get("blocked"):
                decision = Decision("blocked", current, f"{why}, but no allowed node has the CPU slots")
                spell["blocked"] = True
    elif depth == 0:
        spell = {"idle": spell.get("idle", now)}
        idle = float(spell["idle"])
        if now - idle >= settings.ELASTICCODE_SCALE_IDLE and current > processor.replicas:
            decision = Decision("shrink", current - 1, f"its queues were empty for {now - idle:.0f} s")
            spell = {"idle": now}
    else:
        spell = {}
    client.hset(SPELLS, str(processor.pk), json.dumps(spell))
    return decision


def apply(processor: Processor, decision: Decision) -> None:
    """Record the decision; a grow or shrink moves the processor's target, which placement then makes so."""
    before = processor.replicas_wanted
    if decision.action != "blocked":
        Processor.objects.filter(pk=processor.pk).update(scaled_replicas=decision.target)
        processor.scaled_replicas = decision.target
    ScaleEvent.objects.create(
        processor=processor,
        action=decision.action,
        replicas_from=before,
        replicas_to=decision.target,
        reason=decision.reason[:500],
    )
    log.info("autoscale %s: %s %d → %d replicas: %s", processor.name, decision.action, before, decision.target,
             decision.reason)  # fmt: skip


def forget(processor_ids: list[str]) -> None:
    """Processors that no longer autoscale (stopped, bounds removed) start their spells afresh next time."""
    if processor_ids:
        broker.client().hdel(SPELLS, *processor_ids)


def prune(*, now: float | None = None) -> int:
    """Decisions older than ELASTICCODE_METRICS_RETENTION_DAYS go, as the metrics history does."""
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, tz=dt.UTC)
    cutoff = moment - dt.timedelta(days=settings.ELASTICCODE_METRICS_RETENTION_DAYS)
    deleted, _ = ScaleEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
