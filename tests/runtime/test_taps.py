"""A tap's rate holds for the whole cluster (flows/runtime/taps.py): each worker's token bucket keeps it from sending
Redis events it would drop, and the script that adds an event counts the target's events in the current window,
shared by every worker and node. Before, each worker had its own bucket: four workers let four times the rate
through to the watcher."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from flows.runtime import broker, keys, taps
from flows.runtime.taps import Tap, TapCache


@pytest.fixture
def target() -> Iterator[str]:
    name = str(uuid.uuid4())
    yield name
    broker.client().delete(keys.tap_stream(name))


def at_a_window_start(seconds: int) -> None:
    """Sleep until a window of `seconds` has just begun, so a burst lands in one window."""
    time.sleep(seconds - time.time() % seconds + 0.01)


def test_a_taps_rate_holds_across_workers(target: str) -> None:
    tap = Tap(sample=1.0, rate=5)
    workers = [TapCache() for _ in range(4)]  # four workers, each with its own cache and bucket
    at_a_window_start(1)
    offered = 0
    for n in range(10):
        for worker in workers:
            if worker.admit(target, tap):
                offered += 1
                worker.emit([(target, {"kind": "socket", "n": n})], {target: tap})
    events = taps.read([target], {target: "0"}, None)
    assert offered == 4 * 5  # each worker's own bucket lets its burst of `rate` through
    assert len(events) == 5  # the watcher gets the rate, not four times it


def test_a_rate_under_one_a_second_widens_the_window() -> None:
    assert taps.window(50) == (50, 1)
    assert taps.window(1) == (1, 1)
    assert taps.window(0.5) == (1, 2)
    assert taps.window(0.1) == (1, 10)


def test_a_slow_tap_lets_one_event_through_its_window_across_workers(target: str) -> None:
    """A rate under one a second (`ec tap --rate 0.5`) showed nothing at all: each worker's bucket held at most 0.5
    of the one token an event takes."""
    tap = Tap(sample=1.0, rate=0.5)
    workers = [TapCache() for _ in range(3)]
    at_a_window_start(2)
    for worker in workers:
        assert worker.admit(target, tap)  # each bucket starts with its one token
        worker.emit([(target, {"kind": "socket"})], {target: tap})
    assert len(taps.read([target], {target: "0"}, None)) == 1
