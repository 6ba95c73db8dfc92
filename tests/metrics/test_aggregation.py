"""The maths of live metrics: histogram percentiles (the same vectors as frontend/src/metrics/histogram.test.ts),
the collector's per-second buckets, and their round trip through the Redis hash format."""

from __future__ import annotations

import json
import time

import pytest

from backend.metrics import histogram
from backend.metrics.collector import Collector, hash_fields
from backend.metrics.live import add_counts, empty_counts, flow_totals, forget_old_workers, parse_counts
from flows.runtime import broker, keys


def hist_with(**counts: int) -> list[int]:
    out = histogram.empty()
    for index, count in counts.items():
        out[int(index[1:])] = count
    return out


@pytest.mark.parametrize(
    ("hist", "q", "max_ms", "expected"),
    [
        (hist_with(b3=10), 0.5, None, 0.75),  # bucket (0.5, 1]: halfway
        (hist_with(b3=10), 0.5, 0.9, 0.7),  # capped by the slowest call seen
        (histogram.empty(), 0.95, None, None),
        (hist_with(b0=1, b18=1), 0.95, 90000, 87000),  # the open last bucket ends at the maximum
        (hist_with(b0=1, b18=1), 0.5, 90000, 0.1),
        (hist_with(b5=99, b12=1), 0.95, 800, pytest.approx(2.5 + 2.5 * 95 / 99)),
    ],
)
def test_percentiles_interpolate_inside_their_bucket(
    hist: list[int], q: float, max_ms: float | None, expected: object
) -> None:
    assert histogram.percentile(hist, q, max_ms) == expected


def test_durations_fall_in_the_bucket_whose_upper_bound_holds_them() -> None:
    assert [histogram.bucket_of(ms) for ms in (0.0, 0.1, 0.11, 1, 1.01, 60000, 60001)] == [0, 0, 1, 3, 4, 17, 18]
    assert histogram.merge([hist_with(b1=2), hist_with(b1=1, b4=3)]) == hist_with(b1=3, b4=3)


def test_the_collector_counts_each_call_once_in_the_second_it_finished() -> None:
    collector = Collector(worker="w", processor_id="p", flow_id="f", concurrency=2)
    error = {"socket_id": "s", "message_id": "m", "trace_id": "t", "error": "boom", "error_type": "E", "at": 0.0}
    collector.record(flow_id="f", socket_id="s", duration_ms=2.0, bytes_in=10, out=2, bytes_out=50)
    collector.record(flow_id="f", socket_id="s", duration_ms=30.0, bytes_in=10, error=error)  # type: ignore[arg-type]
    collector.held(flow_id="f", socket_id="s", ms=120.0)
    seconds, _busy = collector._take(everything=True)
    # Normally one second; two if the calls straddled a second boundary.
    counts = [sum(flows["f"].counts["s"][i] for flows in seconds.values()) for i in range(7)]
    counts[6] = max(flows["f"].counts["s"][6] for flows in seconds.values())
    assert counts == [2, 2, 1, 20, 50, 32.0, 30.0]
    assert sum(flows["f"].counts["s"][7] for flows in seconds.values()) == 120.0
    assert histogram.merge(flows["f"].hists["s"] for flows in seconds.values()) == hist_with(b4=1, b8=1)
    assert [e for flows in seconds.values() for e in flows["f"].errors] == [error]
    assert collector._take(everything=True)[0] == {}  # taken once


def test_a_hash_written_by_the_flush_reads_back_as_the_same_counts() -> None:
    counts = [3.0, 5.0, 1.0, 300.0, 900.0, 12.5, 9.25, 0.0]
    hist = hist_with(b3=2, b6=1)
    fields = hash_fields("sock", counts, hist)
    assert "sock|held_ms" not in fields[::3]  # zero fields are not written
    # What Redis holds after HINCRBY / HINCRBYFLOAT / max of those triplets, as bytes.
    stored = {
        name.encode(): str(value).encode()
        for name, _op, value in zip(fields[::3], fields[1::3], fields[2::3], strict=True)
    }
    parsed = parse_counts(stored)["sock"]
    assert (parsed["in"], parsed["out"], parsed["errors"], parsed["bytes_in"], parsed["bytes_out"]) == (
        3,
        5,
        1,
        300,
        900,
    )
    assert (parsed["time_ms"], parsed["time_max"], parsed["hist"]) == (12.5, 9.25, hist)


def test_counts_add_except_the_maximum() -> None:
    a, b = empty_counts(), empty_counts()
    a.update({"in": 2, "time_ms": 4.0, "time_max": 3.0, "hist": hist_with(b3=2)})  # type: ignore[typeddict-item]
    b.update({"in": 1, "errors": 1, "time_ms": 9.0, "time_max": 9.0, "hist": hist_with(b6=1)})  # type: ignore[typeddict-item]
    add_counts(a, b)
    assert (a["in"], a["errors"], a["time_ms"], a["time_max"]) == (3, 1, 13.0, 9.0)
    assert a["hist"] == hist_with(b3=2, b6=1)
    [total] = flow_totals({"f": {"s1": a, "s2": b}}, {"f": "demo"})
    assert (total["name"], total["in"], total["errors"], total["time_max"]) == ("demo", 4, 2, 9.0)


def test_workers_long_gone_are_forgotten_and_live_ones_kept() -> None:
    client = broker.client()
    client.hset(keys.METRIC_WORKERS, "gone-worker", json.dumps({"at": time.time() - 7200}))
    client.hset(keys.METRIC_WORKERS, "live-worker", json.dumps({"at": time.time()}))
    try:
        assert forget_old_workers() >= 1
        assert not client.hexists(keys.METRIC_WORKERS, "gone-worker")
        assert client.hexists(keys.METRIC_WORKERS, "live-worker")
    finally:
        client.hdel(keys.METRIC_WORKERS, "gone-worker", "live-worker")
