"""`traces.wait` (the ingest's ?wait) on the real Redis, with the interleaving chosen: a worker's failing completion
lands between the waiter's read of the trace's error and its check that the trace is over."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from flows.runtime import broker, traces

pytestmark = pytest.mark.runtime


class CompletesAfterFirstErrorRead:
    """The real Redis client, except that right after the waiter's first GET (the error read) the worker's
    completion runs: the error and the trace's end are stored then, in one atomic script, as a worker stores them."""

    def __init__(self, trace_id: str, error: dict[str, Any] | None) -> None:
        self.redis = broker.client()
        self.trace_id = trace_id
        self.error = error
        self.gets = 0

    def get(self, key: str) -> Any:
        value = self.redis.get(key)
        self.gets += 1
        if self.gets == 1:
            traces.complete(message_id=self.trace_id, trace_id=self.trace_id, tracked=True, error=self.error, result=[])
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)


@pytest.mark.parametrize("failed", [True, False], ids=["failure", "success"])
def test_a_completion_between_the_error_read_and_the_end_check_is_answered_as_it_happened(
    monkeypatch: pytest.MonkeyPatch, failed: bool
) -> None:
    trace_id = str(uuid.uuid4())  # the first message's id is the trace's id
    traces.open_messages(trace_id, [trace_id])
    error = {"error": "ValueError: bad", "socket": "s"} if failed else None
    racing = CompletesAfterFirstErrorRead(trace_id, error)
    monkeypatch.setattr(traces, "client", lambda: racing)

    outcome = traces.wait(trace_id, 5)

    assert traces.is_done(trace_id)  # the completion did land, after the first read
    assert outcome == ({"error": error} if failed else {"results": []})
