# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""The Python SDK against a live server (Daphne) and real processor workers: pipeline/parallel/funnel semantics,
nesting, errors through the nesting, timeouts, get-or-create objects, and who may see what."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from flows.client import (
    ApiError,
    CallFailed,
    CallTimeout,
    Client,
    ClientError,
    Processor,
    Queue,
    Socket,
    funnel,
    parallel,
    pipeline,
)
from flows.models import Call
from flows.models import Processor as ProcessorRow
from tests.live import daphne
from tests.rabbitmq import rabbitmq  # noqa: F401  (shared fixture)
from tests.runtime.conftest import (  # noqa: F401  (shared fixtures)
    BASE_DIR,
    Runtime,
    any_broker,
    code_dir,
    examples_repo,
    runtime,
)

pytestmark = pytest.mark.runtime


def something(message: Any, *more: Any) -> str:
    """examples/sample's do_something, here to say what the server must answer."""
    return "Something: " + (f"{message} + {', '.join(map(str, more))}" if more else str(message))


def this(message: Any, *more: Any) -> str:
    return "This: " + (f"{message} + {', '.join(map(str, more))}" if more else str(message))


class Sdk:
    def __init__(self, client: Client, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.processor = Processor(
            name="proc1",
            module="elasticcode_examples.sample",
            gitrepo=self.repo,
            subdirectory="sample",
            client=client,
            start=False,
        )
        ProcessorRow.objects.filter(pk=self.processor.id).update(retries=0)
        self.do_something = Socket(name="do_something", processor=self.processor, task="do_something")
        self.do_this = Socket(name="do_this", processor=self.processor, task="do_this")
        self.fail = Socket(name="fail", processor=self.processor, task="fail")
        self.slowly = Socket(name="slowly", processor=self.processor, task="slowly")

    repo = ""


@pytest.fixture
def server(runtime: Runtime, any_broker: str) -> Iterator[str]:
    on_broker = {k: v for k, v in runtime.overrides.items() if k == "CELERY_BROKER_URL"}
    with daphne(**on_broker) as url:
        yield url


@pytest.fixture
def sdk(runtime: Runtime, server: str, alice: Any, examples_repo: str) -> Sdk:
    Sdk.repo = examples_repo
    client = Client(server, Token.objects.get_or_create(user=alice)[0].key)
    made = Sdk(client, runtime)
    client.api.post(f"/api/processors/{made.processor.id}/start")
    runtime.start_agent()
    runtime.wait_status(ProcessorRow.objects.get(pk=made.processor.id), "running")
    return made


def test_pipeline_passes_each_result_as_the_first_argument(sdk: Sdk) -> None:
    ds, dt = sdk.do_something, sdk.do_this
    result = pipeline([ds("One"), ds("Two"), dt("Three")]).get(timeout=30)
    assert result == this(something(something("One"), "Two"), "Three")


def test_parallel_keeps_the_order_of_its_members_and_gives_each_the_input(sdk: Sdk) -> None:
    ds, dt, slowly = sdk.do_something, sdk.do_this, sdk.slowly
    # The first member finishes last: the list is still in the members' order.
    assert parallel([slowly("a", 0.3), dt("b"), ds("c")]).get(timeout=30) == ["a", this("b"), something("c")]
    inner = pipeline([ds("in"), parallel([ds("x"), dt("y")])]).get(timeout=30)
    assert inner == [something(something("in"), "x"), this(something("in"), "y")]


def test_the_seeds_complex_workflow_gives_the_nested_result(sdk: Sdk) -> None:
    """The seed's program (shared/seeds/000), with do_something bound to this flow's socket."""
    do_something = sdk.do_something
    _pipeline = pipeline(
        [
            do_something("One"),
            do_something("Two"),
            parallel([do_something("Four"), do_something("Five")]),
            do_something("Three"),
        ]
    )
    _parallel = parallel([_pipeline, do_something("Six"), do_something("Seven")])
    _funnel = funnel([do_something("Eight"), _parallel, do_something("Nine")])
    result = _funnel(do_something("Four")).get(timeout=60)

    two = something(something("One"), "Two")
    piped = something([something(two, "Four"), something(two, "Five")], "Three")
    expected = something([something("Eight"), [piped, something("Six"), something("Seven")], something("Nine")], "Four")
    assert result == expected


def test_a_failure_deep_in_the_nesting_raises_with_socket_path_and_remote_traceback(sdk: Sdk) -> None:
    ds, fail = sdk.do_something, sdk.fail
    composition = funnel([ds(1), parallel([ds(2), pipeline([ds(3), fail()])])])(ds("end"))
    with pytest.raises(CallFailed) as caught:
        composition.get(timeout=30)
    error = caught.value
    assert error.socket == "fail"
    assert error.path == "funnel[1] > parallel[1] > pipeline[1]"
    assert error.error_type == "ValueError"
    assert "cannot handle" in str(error)
    assert 'sample.py", line' in error.remote_traceback and "raise ValueError" in error.remote_traceback
    assert "Remote traceback" in str(error)


def test_a_timeout_raises_and_the_result_can_still_be_collected(sdk: Sdk) -> None:
    result = pipeline([sdk.slowly("late", 1.0), sdk.do_this("!")]).delay()
    with pytest.raises(CallTimeout):
        result.get(timeout=0.2)
    assert result.get(timeout=30) == this("late", "!")
    assert result.ready()
    with pytest.raises(CallTimeout):
        sdk.slowly("x", 2.0).get(timeout=0.3)


def test_a_composition_leaves_a_call_tree(sdk: Sdk, runtime: Runtime) -> None:
    ds = sdk.do_something
    result = pipeline([ds("root"), ds("mid"), parallel([ds(1), ds(2), ds(3)])]).delay()
    result.get(timeout=30)
    calls = runtime.calls(result.id, 5)
    tree = sdk.client.api.get(f"/api/calls/{calls[0].id}/graph")
    [root] = tree["roots"]
    [middle] = root["children"]
    assert root["socket_name"] == middle["socket_name"] == "do_something"
    assert len(middle["children"]) == 3
    assert Call.objects.filter(trace_id=result.id).count() == 5


def test_get_or_create_reuses_existing_objects(sdk: Sdk) -> None:
    again = Processor(name="proc1", client=sdk.client)
    assert again.id == sdk.processor.id
    assert Socket(name="do_something", client=sdk.client).id == sdk.do_something.id
    queue = Queue(name="sdk.q1", client=sdk.client)
    shared = Socket(name="shared", processor=sdk.processor, queue={"name": queue.name}, task="do_this")
    assert shared.data["queue"] == "sdk.q1"
    assert shared("q").get(timeout=30) == this("q")
    with pytest.raises(ClientError, match="no socket named nope"):
        Socket(name="nope", client=sdk.client)
    with pytest.raises(TypeError, match="keyword arguments"):
        sdk.do_this(message="x")


def test_charlie_can_neither_run_alices_sockets_nor_read_her_results(sdk: Sdk, server: str, charlie: Any) -> None:
    result = sdk.do_something("mine").delay()
    result.get(timeout=30)
    other = Client(server, Token.objects.get_or_create(user=charlie)[0].key)
    with pytest.raises(ApiError) as refused:
        other.api.post("/api/workflows/", {"workflow": {"call": {"socket": sdk.do_something.id, "args": [1]}}})
    assert refused.value.status == 404
    with pytest.raises(ApiError) as hidden:
        other.api.get(f"/api/workflows/{result.id}/")
    assert hidden.value.status == 404
    with pytest.raises(ClientError, match="no socket named do_something"):
        Socket(name="do_something", client=other)


def test_the_sdk_imports_no_django() -> None:
    code = "import sys, flows.client, flows.client.compose; print(sorted(m for m in sys.modules if 'django' in m))"
    out = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
