"""The agent: one per node. Makes what runs match what the database asks for (DESIGN §2, §10).

Every tick it heartbeats its Node and Agent rows, runs a placement pass (backend/cluster/placement.py: one agent
at a time places replicas, marks silent nodes down and moves their replicas), and reconciles each replica
(Deployment) placed on its node: start (resolve and pin the commit, check out, build the venv,
check the module and functions, start the worker), stop (warm shutdown: messages stay queued), pause and resume
(Celery's remote control: the worker cancels and adds its queue consumers), restart, and restart with backoff after a crash. Slow preparation runs in
a thread so heartbeats keep going. A replica being moved away stops warmly once its replacement runs. Each
replica's status is written on its Deployment and the processor's worked out from all of them
(backend/cluster/status.py), only when it changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket as socketlib
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import psutil
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from backend.cluster import placement
from backend.cluster.models import Agent, Deployment, Health, Node, Worker
from backend.cluster.status import STOPPED_MESSAGE, refresh_status
from backend.db.safe import storable_text, storable_value
from backend.devstack import die_with_parent
from backend.metrics.reporting import report_node
from flows.models import Processor, Socket
from flows.models.processor import RequestedStatus, Status
from flows.runtime import broker, schedules
from flows.runtime import sandbox as sandboxes
from flows.runtime.executor import Executor, ExecutorError, Limits
from flows.runtime.housekeeping import Housekeeper
from flows.runtime.keys import queue as queue_key
from flows.runtime.repos import CodeError, check_trusted, checkout, resolve
from flows.runtime.sandbox import SandboxError
from flows.runtime.venvs import ensure_venv
from flows.runtime.worker import hostname, ready_key
from flows.selectors.code import find_subdirectory

log = logging.getLogger("elasticcode.agent")
HEARTBEAT_EVERY = 5.0  # at most; a third of ELASTICCODE_NODE_DOWN_AFTER when that is shorter
STOP_GRACE = 30.0
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Prepared:
    commit: str
    python: str
    tree: str  # the checkout, which the processor's executors may read
    functions: dict[str, list[dict[str, object]]]


@dataclass
class Managed:
    """What this agent runs (or is getting ready to run) for one replica of a processor."""

    deployment_id: str
    processor_id: str
    replica: int
    signature: tuple[object, ...]
    preparing: Future[Prepared] | None = None
    prepared: Prepared | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: datetime | None = None
    started_mono: float = 0.0
    paused: bool = False
    crashes: int = 0
    retry_at: float = 0.0
    stopping_since: float | None = None
    moved: Deployment | None = None  # stopping because moved away: its deployment goes once stopped
    ready: bool = False
    queue_ids: list[str] = field(default_factory=list)
    hostname: str = ""


def signature(processor: Processor, sockets: list[tuple[str, str, str]]) -> tuple[object, ...]:
    """What a running worker was built from; any change restarts it."""
    return (
        processor.git_url,
        processor.ref,
        processor.module,
        processor.subdirectory,
        processor.requirements,
        processor.concurrency,
        processor.autoscale_max,
        processor.rate_limit,
        tuple(sorted(sockets)),
    )


class AgentLoop:
    def __init__(self, *, node_name: str | None = None, interval: float = 1.0) -> None:
        self.node_name = node_name or os.environ.get("ELASTICCODE_NODE_NAME") or socketlib.gethostname()
        self.interval = interval
        self.stopping = threading.Event()
        self.managed: dict[str, Managed] = {}
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ec-prepare")
        self.housekeeper = Housekeeper(interval=0.5)
        self.node: Node | None = None
        self.agent: Agent | None = None
        self._last_heartbeat = 0.0
        self._reported: dict[str, tuple[str, str]] = {}  # deployment id → the (status, message) last written
        self._last_report = 0.0
        self.logs = Path(settings.DATA_DIR) / "logs"
        self.workdirs = Path(settings.ELASTICCODE_CODE_DIR) / "work"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def run(self) -> None:
        # Whatever the agent and its workers write is the platform's alone (logs, checkouts being made); what user
        # code must read is opened up on purpose (flows/runtime/sandbox.py). The agent runs user code too (venv
        # builds, the module check), so its own /proc entries are closed (harden_platform_process).
        os.umask(0o077)
        sandboxes.harden_platform_process()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.housekeeper.start()
        log.info("agent on node %s started", self.node_name)
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:
                    log.exception("agent tick failed; retrying")
                    close_old_connections()
                    connection.close()
                self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            self.shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def shutdown(self) -> None:
        # Offline first: the next placement pass (another agent's) moves this node's replicas at once.
        with contextlib.suppress(Exception):
            Node.objects.filter(name=self.node_name).update(status=Health.OFFLINE)
        self.housekeeper.stop()
        for managed in list(self.managed.values()):
            if managed.proc and managed.proc.poll() is None:
                managed.proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for managed in list(self.managed.values()):
            if managed.proc:
                try:
                    managed.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    managed.proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            mine = Deployment.objects.filter(pk__in=list(self.managed))
            processors = list(Processor.objects.filter(pk__in=mine.values("processor_id")))
            mine.update(status=Status.STOPPED, status_message=f"agent on {self.node_name} stopped")
            for processor in processors:
                refresh_status(processor)
            Worker.objects.filter(agent=self.agent).exclude(status="stopped").update(status="stopped", pid=None)
            if self.agent:
                Agent.objects.filter(pk=self.agent.pk).update(status=Health.OFFLINE)
        except Exception:
            log.exception("could not record the agent's shutdown")
        log.info("agent on node %s stopped", self.node_name)

    # -- one pass ----------------------------------------------------------------------------------------------

    def tick(self) -> None:
        self.heartbeat()
        self.report()
        self.place()
        self.reconcile()
        schedules.fire_due()

    def report(self) -> None:
        """Node utilisation for the dashboard, at most once a second (the agent ticks faster in tests)."""
        if time.monotonic() - self._last_report < 1.0:
            return
        report_node(node=self.node_name, agent=self.agent.name if self.agent else "")
        self._last_report = time.monotonic()

    def heartbeat(self) -> None:
        every = min(HEARTBEAT_EVERY, settings.ELASTICCODE_NODE_DOWN_AFTER / 3)
        if time.monotonic() - self._last_heartbeat < every and self.node is not None:
            return
        now = timezone.now()
        memory_mb = psutil.virtual_memory().total // (1024 * 1024)
        self.node, _ = Node.objects.update_or_create(
            name=self.node_name,
            defaults={
                "hostname": settings.ELASTICCODE_NODE_HOSTNAME or socketlib.gethostname(),
                "cpus": settings.ELASTICCODE_NODE_CPUS or os.cpu_count() or 1,
                "oversubscribe": settings.ELASTICCODE_NODE_OVERSUBSCRIBE,
                "memory_mb": memory_mb,
                "status": Health.ONLINE,
                "last_heartbeat": now,
            },
        )
        self.agent, _ = Agent.objects.update_or_create(
            name=f"agent@{self.node_name}",
            defaults={
                "node": self.node,
                "pid": os.getpid(),
                "version": "0.1.0",
                "status": Health.ONLINE,
                "last_heartbeat": now,
            },
        )
        Worker.objects.filter(agent=self.agent, name__in=[m.hostname for m in self.managed.values()]).exclude(
            status="stopped"
        ).update(last_heartbeat=now)
        self._last_heartbeat = time.monotonic()

    def place(self) -> None:
        placement.plan()

    def reconcile(self) -> None:
        assert self.node is not None
        deployments = {
            str(d.pk): d
            for d in Deployment.objects.filter(node=self.node).select_related("processor__flow", "replaced_by__node")
        }
        sockets: dict[str, list[tuple[str, str, str]]] = {}
        for socket_id, processor_id, function, queue_id in Socket.objects.filter(
            processor_id__in={d.processor_id for d in deployments.values()}
        ).values_list("id", "processor_id", "function", "queue_id"):
            sockets.setdefault(str(processor_id), []).append((str(socket_id), function, str(queue_id)))
        for managed_id in list(self.managed):
            if managed_id not in deployments:
                # Taken off this node (failover, fewer replicas, a move done): stop its worker warmly.
                self._stop(self.managed[managed_id], None, gone=True)
        for deployment in deployments.values():
            self._reconcile_one(deployment, sockets.get(str(deployment.processor_id), []))

    # -- one processor -----------------------------------------------------------------------------------------

    def _reconcile_one(self, deployment: Deployment, sockets: list[tuple[str, str, str]]) -> None:
        processor = deployment.processor
        key = str(deployment.pk)
        wanted = processor.requested_status
        managed = self.managed.get(key)
        sig = signature(processor, sockets)
        # Moved away: stops, warmly, only once the replacement runs (no moment without a consumer).
        moved = deployment.replaced_by is not None and deployment.replaced_by.status == Status.RUNNING

        if wanted == RequestedStatus.STOPPED or moved:
            if managed is not None:
                self._stop(managed, processor, moved=deployment if moved else None)
            elif moved:
                self._retire(deployment)
            elif deployment.status != Status.STOPPED:
                self._status(key, processor, Status.STOPPED, STOPPED_MESSAGE)
            return

        if managed is not None and (
            managed.signature != sig
            or (
                processor.restart_requested_at
                and managed.started_at
                and processor.restart_requested_at > managed.started_at
            )
        ):
            log.info("processor %s changed or asked to restart; restarting its worker", processor.name)
            self._stop(managed, processor, then_restart=True)
            return
        if managed is None:
            if not sockets:
                self._status(
                    key, processor, Status.ERROR, "the processor has no sockets: add a socket for a function first"
                )
                return
            managed = Managed(
                deployment_id=key,
                processor_id=str(processor.pk),
                replica=deployment.replica,
                signature=sig,
                queue_ids=sorted({q for _, _, q in sockets}),
                started_at=timezone.now(),
            )
            self.managed[key] = managed
            self._status(key, processor, Status.STARTING, f"checking out {processor.git_url} at {processor.ref}")
            managed.preparing = self.pool.submit(self._prepare, processor, sockets)
            return
        if managed.stopping_since is not None:
            self._finish_stop(managed, processor)
            return
        if managed.preparing is not None:
            if not managed.preparing.done():
                return
            future, managed.preparing = managed.preparing, None
            try:
                managed.prepared = future.result()
            except (CodeError, ExecutorError) as exc:
                self._status(managed.deployment_id, processor, Status.ERROR, str(exc))
                managed.retry_at = float("inf")  # waits for a change (new signature) or a restart request
                return
            except Exception as exc:
                log.exception("preparing processor %s failed", processor.name)
                self._status(managed.deployment_id, processor, Status.ERROR, f"could not prepare the processor: {exc}")
                managed.retry_at = float("inf")
                return
            self._spawn(managed, processor)
            return
        if managed.prepared is None:
            return  # failed preparation: stays in error until the processor changes or is restarted
        if managed.proc is None or managed.proc.poll() is not None:
            self._crashed_or_respawn(managed, processor)
            return
        if not managed.ready:
            if broker.client().exists(ready_key(managed.hostname)):
                managed.ready = True
                if wanted == RequestedStatus.PAUSED:
                    self._pause(managed, processor)
                else:
                    self._status(managed.deployment_id, processor, Status.RUNNING, self._running_message(managed))
            return
        if time.monotonic() - managed.started_mono > MAX_BACKOFF:
            managed.crashes = 0
        if wanted == RequestedStatus.PAUSED and not managed.paused:
            self._pause(managed, processor)
        elif wanted == RequestedStatus.RUNNING and managed.paused:
            self._resume(managed, processor)
        elif wanted == RequestedStatus.RUNNING and processor.status != Status.RUNNING:
            self._status(managed.deployment_id, processor, Status.RUNNING, self._running_message(managed))

    def _running_message(self, managed: Managed) -> str:
        assert managed.prepared is not None
        return f"running commit {managed.prepared.commit[:7]} on {self.node_name}"

    def _log_path(self, managed: Managed) -> Path:
        """.data/logs/worker-<processor id>[-r<replica>]@<node>.log: one file per worker, whichever agents of one
        machine share the directory."""
        suffix = f"-r{managed.replica + 1}" if managed.replica else ""
        return self.logs / f"worker-{managed.processor_id}{suffix}@{self.node_name}.log"

    def _prepare(self, processor: Processor, sockets: list[tuple[str, str, str]]) -> Prepared:
        """Slow and failure-prone, so it runs in a thread; every failure is a CodeError/ExecutorError a person can
        act on."""
        try:
            check_trusted(processor.git_url)
            try:
                sandboxes.prepare_code_dir()
                sandbox = sandboxes.for_processor(str(processor.pk))
            except SandboxError as exc:
                raise CodeError(str(exc)) from exc
            commit = resolve(processor.git_url, processor.ref)
            Processor.objects.filter(pk=processor.pk).update(
                commit=commit, status_message=f"building the virtualenv for commit {commit[:7]}"
            )
            tree = checkout(processor.git_url, commit)
            sandbox = replace(sandbox, reads=(tree,))
            python = ensure_venv(
                tree, subdirectory=processor.subdirectory, requirements=processor.requirements, sandbox=sandbox
            )
            executor = Executor(
                python,
                processor.module,
                workdir=self.workdirs / str(processor.pk) / "check",
                limits=Limits.from_settings(),
                sandbox=sandbox,
            )
            try:
                executor.start()
                described = executor.describe()
            except ExecutorError as exc:
                # Found by a newcomer: the module was in a subdirectory of the repository, and the error said
                # only "not found". Say where it is, as discovery does.
                hint = ""
                if "not found" in str(exc):
                    found = find_subdirectory(Path(tree), processor.module)
                    if found is not None and found != processor.subdirectory.strip("/"):
                        hint = f"; it is in subdirectory {found!r} of the repository: set the processor's subdirectory"
                raise ExecutorError(f"{exc} at commit {commit[:7]}{hint}") from exc
            finally:
                executor.close()
            functions = {f["name"]: f.get("parameters", []) for f in described}
            missing = sorted({function for _, function, _ in sockets} - set(functions))
            if missing:
                raise CodeError(
                    f"function {', '.join(missing)} not found in module {processor.module} at commit {commit[:7]}"
                    f" (it has: {', '.join(sorted(functions)) or 'no public functions'})"
                )
            for socket_id, function, _ in sockets:
                # Parameter defaults come from user code: stored escaped if they hold what jsonb cannot.
                Socket.objects.filter(pk=socket_id).update(arguments=storable_value(functions[function]))
            return Prepared(commit=commit, python=str(python), tree=str(tree), functions=functions)
        finally:
            close_old_connections()

    def _spawn(self, managed: Managed, processor: Processor) -> None:
        assert managed.prepared is not None and self.agent is not None
        pid = managed.processor_id
        name = managed.hostname = hostname(processor.name, pid, self.node_name, managed.replica)
        broker.client().delete(ready_key(name))
        log_path = self._log_path(managed)
        command = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "worker",
            pid,
            "--python",
            managed.prepared.python,
            "--workdir",
            str(self.workdirs / pid),
            "--checkout",
            managed.prepared.tree,
            "--node",
            self.node_name,
            "--name",
            name,
        ]
        paused = processor.requested_status == RequestedStatus.PAUSED
        if paused:
            command.append("--paused")
        with open(log_path, "ab") as log_file:
            managed.proc = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=settings.BASE_DIR,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        managed.started_at = timezone.now()
        managed.started_mono = time.monotonic()
        managed.ready = False
        managed.paused = paused
        Worker.objects.update_or_create(
            name=name,
            defaults={
                "processor": processor,
                "agent": self.agent,
                "concurrency": processor.concurrency,
                "status": "running",
                "pid": managed.proc.pid,
                "started_at": managed.started_at,
                "last_heartbeat": managed.started_at,
            },
        )
        Deployment.objects.filter(pk=managed.deployment_id).update(worker=name)
        self._status(
            managed.deployment_id,
            processor,
            Status.STARTING,
            f"starting the worker for commit {managed.prepared.commit[:7]}",
        )

    def _crashed_or_respawn(self, managed: Managed, processor: Processor) -> None:
        now = time.monotonic()
        if managed.proc is not None and managed.proc.poll() is not None:
            code = managed.proc.returncode
            managed.proc = None
            managed.crashes += 1
            delay = min(2.0 ** (managed.crashes - 1), MAX_BACKOFF)
            managed.retry_at = now + delay
            tail = self._log_tail(managed)
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self._status(
                managed.deployment_id,
                processor,
                Status.ERROR,
                f"worker stopped unexpectedly ({how}); restarting in {delay:.0f} s. {tail}".strip(),
            )
            Worker.objects.filter(name=managed.hostname).update(status="crashed", pid=None)
            return
        if now >= managed.retry_at:
            self._spawn(managed, processor)

    def _log_tail(self, managed: Managed, lines: int = 3) -> str:
        path = self._log_path(managed)
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - 4000))
                text = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "Last log lines: " + " | ".join(text[-lines:]) if text else ""

    def _control(self, managed: Managed, command: str) -> bool:
        """Send Celery's remote control `command` (cancel_consumer or add_consumer) for each of the worker's socket
        queues; True once the worker has answered for all of them. A worker that has not answered (not consuming
        yet, or the broker away) is asked again at the next tick; a worker started for a paused processor starts
        consuming nothing, so a respawn never takes a message it should hold."""
        from backend.celery import app

        if managed.proc is None or managed.proc.poll() is not None or not managed.ready:
            return False
        for queue_id in managed.queue_ids:
            try:
                replies = app.control.broadcast(
                    command,
                    arguments={"queue": queue_key(queue_id)},
                    destination=[managed.hostname],
                    reply=True,
                    timeout=2.0,
                )
            except Exception as exc:
                log.warning("%s to %s failed: %s", command, managed.hostname, exc)
                return False
            if not replies:
                return False
        return True

    def _pause(self, managed: Managed, processor: Processor) -> None:
        if managed.paused or self._control(managed, "cancel_consumer"):
            managed.paused = True
            self._status(
                managed.deployment_id, processor, Status.PAUSED, "paused: messages wait in the queue until it resumes"
            )

    def _resume(self, managed: Managed, processor: Processor) -> None:
        if self._control(managed, "add_consumer"):
            managed.paused = False
            self._status(managed.deployment_id, processor, Status.RUNNING, self._running_message(managed))

    def _stop(
        self,
        managed: Managed,
        processor: Processor | None,
        *,
        then_restart: bool = False,
        gone: bool = False,
        moved: Deployment | None = None,
    ) -> None:
        if managed.preparing is not None and not managed.preparing.done():
            return  # let the checkout finish; stopping a half-built venv would only waste it
        if managed.stopping_since is None:
            managed.stopping_since = time.monotonic()
            if managed.proc is not None and managed.proc.poll() is None:
                managed.proc.terminate()  # warm stop: running calls finish, taken-but-waiting messages go back
            if processor is not None and not then_restart and managed.proc is not None:
                message = (
                    f"moving to {moved.replaced_by.node.name}: running calls finish here"
                    if moved is not None and moved.replaced_by is not None
                    else "stopping: running calls finish, queued messages stay"
                )
                current = self._reported.get(managed.deployment_id, (processor.status, ""))[0]
                self._status(managed.deployment_id, processor, current, message)
        managed.signature = ("restart",) if then_restart else managed.signature
        managed.moved = moved
        self._finish_stop(managed, processor, gone=gone)

    def _retire(self, deployment: Deployment) -> None:
        """A moved replica's worker has stopped: its deployment goes, the replacement stays."""
        Deployment.objects.filter(pk=deployment.pk).delete()
        refresh_status(deployment.processor)
        log.info("replica %d of %s moved off %s", deployment.replica + 1, deployment.processor.name, self.node_name)

    def _finish_stop(self, managed: Managed, processor: Processor | None, *, gone: bool = False) -> None:
        assert managed.stopping_since is not None
        if managed.proc is not None and managed.proc.poll() is None:
            if time.monotonic() - managed.stopping_since < STOP_GRACE:
                return
            managed.proc.kill()  # what it held goes back once unrenewed for the visibility timeout (visibility.py)
            managed.proc.wait()
        del self.managed[managed.deployment_id]
        self._reported.pop(managed.deployment_id, None)
        Worker.objects.filter(name=managed.hostname).update(status="stopped", pid=None)
        if managed.moved is not None:
            self._retire(managed.moved)
        elif processor is not None and processor.requested_status == RequestedStatus.STOPPED:
            self._status(managed.deployment_id, processor, Status.STOPPED, STOPPED_MESSAGE)

    def _status(self, deployment_id: str, processor: Processor, status: str, message: str) -> None:
        """The replica's status, then the processor's from all its replicas'. The message may quote user code (an
        import error, a build's output): stored escaped, so that a NUL in it cannot fail this write, and with it
        the agent's tick for every processor of the node."""
        message = storable_text(message, 2000)
        if self._reported.get(deployment_id) == (status, message):
            return
        Deployment.objects.filter(pk=deployment_id).update(status=status, status_message=message)
        self._reported[deployment_id] = (status, message)
        refresh_status(processor)
