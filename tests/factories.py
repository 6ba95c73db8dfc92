"""factory_boy factories. Objects with permissions (flows) are made through the services, as users make them."""

from __future__ import annotations

import uuid
from typing import Any

import factory
from django.contrib.auth import get_user_model

from backend.accounts.services import privilege_grant
from flows.models import Flow, Plug, Processor, Queue, Socket
from flows.services.flows import flow_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct-horse-battery")


def make_user(username: str, *rights: str) -> Any:
    user = UserFactory(username=username)
    for right in rights:
        privilege_grant(right=right, user=user, check=False)
    return get_user_model().objects.get(pk=user.pk)  # fresh: Django caches permissions per instance


def make_flow(owner: Any, name: str = "demo", **kwargs: Any) -> Flow:
    return flow_create(user=owner, name=name, **kwargs)


class ProcessorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Processor

    name = factory.Sequence(lambda n: f"proc{n}")
    git_url = "file:///srv/repos/sample.git"
    ref = "main"
    module = "sample.functions"


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    name = factory.Sequence(lambda n: f"queue{n}")


class SocketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Socket

    processor = factory.SubFactory(ProcessorFactory)
    flow = factory.LazyAttribute(lambda s: s.processor.flow)
    name = factory.Sequence(lambda n: f"socket{n}")
    function = "do_something"
    queue = factory.SubFactory(QueueFactory)


class PlugFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plug

    flow = factory.LazyAttribute(lambda p: p.source.flow)
    name = factory.Sequence(lambda n: f"plug{n}")
    kind = "result"


def bulk_processors(
    flow: Flow, count: int, functions: tuple[str, ...] = ("a", "b"), **fields: Any
) -> tuple[list[Processor], list[Socket]]:
    """`count` processors p0… with one socket (and its own queue) per function, in three bulk inserts: big flows
    for query-count tests and benchmarks. Sockets come in processor order, then function order."""
    procs = [
        Processor(flow=flow, name=f"p{i}", **{"git_url": "file:///r.git", "module": "m", **fields})
        for i in range(count)
    ]
    Processor.objects.bulk_create(procs)
    queues: list[Queue] = []
    sockets: list[Socket] = []
    for proc in procs:
        for function in functions:
            socket_id = uuid.uuid4()
            queues.append(Queue(name=f"q.{socket_id}"))
            sockets.append(
                Socket(
                    id=socket_id,
                    flow=flow,
                    processor=proc,
                    name=f"{proc.name}.{function}",
                    function=function,
                    queue=queues[-1],
                )
            )
    Queue.objects.bulk_create(queues)
    Socket.objects.bulk_create(sockets)
    return procs, sockets
