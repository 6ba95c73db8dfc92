"""A bounded schemathesis run over /api/schema/ as alice (not an admin): no 5xx, every answer as documented.

Issue 14: "bad input always gets a clear 4xx JSON error", and the OpenAPI document is what the API does. For every
operation of the served document, a few deterministic examples of three kinds:

- valid input on the demo flow's real objects (the path's `id` is alice's flow, processor, socket…);
- invalid input (a body or query parameter that breaks the schema) on those same objects, so validation runs
  rather than a 404 for an unknown id;
- invalid input with made-up path parameters (a malformed or unknown id).

Each answer must not be a 5xx, must have a documented status, content type, headers and body, and invalid input
must be refused with a 4xx. Requests run in-process through Django's WSGI handler, in this test's database
transaction; each example runs in a savepoint that is rolled back, so examples do not see each other's writes
(a DELETE of the demo flow does not starve the examples after it) and nothing is left for other tests.

Nothing is excluded. Long polls are bounded rather than skipped: a valid `wait` (POST /api/sockets/{id}/messages,
/api/workflows/) is shortened to WAIT seconds, as no worker runs here to answer. Websockets are not in the document.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from backend.accounts.models import Privilege
from tests.conftest import Demo

EXAMPLES = 5  # per operation and kind of input: about half a minute for the whole document
WAIT = 0.05  # seconds a valid ?wait is cut to
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples every run: a finding can be reproduced, and fixed
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a finding is reported as found: no shrinking
    # One database transaction for all examples is intended: each example is rolled back to a savepoint.
    suppress_health_check=list(HealthCheck),
)


class InProcessApp:
    """Django's WSGI handler as Django's test client runs it: inside the test's transaction.

    Django closes the database connection when a request ends, which would end the test's transaction; its test
    client disconnects that for the request, and so does this. Tracebacks of unhandled exceptions are kept for
    the report.
    """

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.tracebacks: list[str] = []
        got_request_exception.connect(self._keep_traceback, weak=False)

    def _keep_traceback(self, **kwargs: Any) -> None:
        self.tracebacks.append(traceback.format_exc())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()  # sends request_finished, which must not close the connection either
            return [body]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    def close(self) -> None:
        got_request_exception.disconnect(self._keep_traceback)


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


def real_ids(demo: Demo, alice: Any) -> dict[str, str]:
    """The id a path's `{id}` takes, by the resource the path starts with: objects alice may see."""
    group = Group.objects.create(name="fuzzers")
    group.user_set.add(alice)
    privilege = Privilege.objects.filter(object_pk=str(demo.flow.pk)).exclude(user=alice).get()
    return {
        "flows": str(demo.flow.pk),
        "processors": str(demo.p1.pk),
        "sockets": str(demo.s1.pk),
        "plugs": str(demo.plug.pk),
        "queues": str(demo.s1.queue_id),
        "users": str(alice.pk),
        "groups": str(group.pk),
        "privileges": str(privilege.pk),
        # No demo object: agents, nodes, schedulers, workers (alice has no cluster rights to see them), calls
        # (none until a message runs) and workflows (Redis, none until one is posted) get made-up ids (404s).
    }


def shorten_wait(case: Any) -> None:
    wait = case.query.get("wait") if isinstance(case.query, dict) else None
    if isinstance(wait, int | float) and not isinstance(wait, bool) and WAIT < wait <= 300:
        case.query["wait"] = WAIT  # still valid where the generated value was valid; invalid values stay


def run_examples(
    operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None, token: str, app: InProcessApp
) -> str | None:
    """Run a few examples of one kind; the first failure, as a report a person can reproduce, or None."""
    strategy = operation.as_strategy(mode, path_parameters=path_parameters)
    headers = {"Authorization": f"Token {token}"}

    @HYPOTHESIS
    @given(case=strategy)
    def examples(case: Any) -> None:
        shorten_wait(case)
        app.tracebacks.clear()
        with rolled_back():
            response = case.call(headers=headers)
            checks = CHECKS
            if response.status_code == 504 and "wait" in (case.query or {}):
                # The documented answer of a long poll whose time ran out (README: Messages), as it must here where
                # no worker runs: the one 5xx that is not a server error. Its body and status are still checked.
                checks = [check for check in CHECKS if check is not not_a_server_error]
            case.validate_response(response, checks=checks, headers=headers)

    try:
        examples()
    except (Exception, BaseExceptionGroup) as error:  # any failure is a finding to report, with what caused it
        tracebacks = "\n".join(app.tracebacks)
        return f"{operation.label} ({mode.value} input):\n{error}" + (
            f"\nServer traceback:\n{tracebacks}" if tracebacks else ""
        )
    return None


@pytest.fixture
def app() -> Iterator[InProcessApp]:
    handler = InProcessApp()
    yield handler
    handler.close()


def test_every_operation_answers_as_documented(demo: Demo, alice: Any, app: InProcessApp) -> None:
    token = Token.objects.create(user=alice).key
    ids = real_ids(demo, alice)
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", app, headers={"Authorization": f"Token {token}"}
    )
    started = time.monotonic()
    findings: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            findings.append(f"An operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        resource = operation.path.split("/")[2]
        path_ids = {"id": ids[resource]} if "{id}" in operation.path and resource in ids else None
        has_input = bool(len(operation.body) or len(operation.query))
        kinds = [(GenerationMode.POSITIVE, path_ids)]
        if has_input and path_ids:
            kinds.append((GenerationMode.NEGATIVE, path_ids))
        if has_input or len(operation.path_parameters):
            kinds.append((GenerationMode.NEGATIVE, None))  # nothing to get wrong where an operation takes no input
        for mode, fixed in kinds:
            finding = run_examples(operation, mode, fixed, token, app)
            if finding:
                findings.append(finding)
    elapsed = time.monotonic() - started

    assert operations > 90, f"only {operations} operations in the document"
    assert not findings, f"{len(findings)} finding(s) in {operations} operations ({elapsed:.0f} s):\n\n" + "\n\n".join(
        findings
    )
