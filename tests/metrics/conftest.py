"""Fixtures of the metrics tests."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from backend.metrics import rollups
from flows.runtime import broker, keys


@pytest.fixture
def minute() -> Iterator[int]:
    """A minute of the year 2000 no other test uses; its keys (and any rolling copy) are removed afterwards."""
    start = 946684800 + random.randrange(500_000) * 60
    yield start
    client = broker.client()
    for m in (start, start + 60):
        client.zrem(keys.METRIC_MINUTES, str(m))
        client.delete(keys.metric_minute(m))
        for key in client.zrangebyscore(rollups.PENDING, m, m):
            client.delete(key)
            client.zrem(rollups.PENDING, key)
