"""The dashboard's ring buffer of samples, and its charts."""

from __future__ import annotations

import uuid

from alligator import Gator
from alligator.dashboard import charts
from alligator.dashboard.data import Overview, Store
from alligator.dashboard.sampler import Sampler
from alligator.presence import WorkerInfo


class FakeWorkers(Store):
    """A store whose live workers the test sets."""

    live: list[WorkerInfo] | None = []

    def workers(self) -> list[WorkerInfo] | None:
        return self.live


def test_samples_keep_counts_and_drop_the_oldest() -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", queue_name="q", allow=["builtins"])
    sampler = Sampler(Store(gator.conn_string, gator), interval=10.0, keep=3)
    for n in range(5):
        gator.task(abs, -n)
        sampler.sample()
    history = sampler.history()
    assert [s.counts["q"].waiting for s in history] == [3, 4, 5]


def test_throughput_comes_from_the_workers_counters() -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", queue_name="q", allow=["builtins"])
    store = FakeWorkers(gator.conn_string, gator)
    sampler = Sampler(store)

    def worker(worker_id: str, handled: int, started: float) -> WorkerInfo:
        return WorkerInfo(worker_id, "host", 1, ("q",), 1, started, started, handled)

    store.live = [worker("a", 10, 0.0)]
    first = sampler.sample()
    assert first is not None and first.finished is None  # nothing to compare with yet
    store.live = [worker("a", 15, 0.0), worker("b", 2, first.at + 1)]
    second = sampler.sample()
    assert second is not None and second.finished == 7
    store.live = None  # the registry went away
    third = sampler.sample()
    assert third is not None and third.finished is None


def test_a_failing_store_does_not_stop_the_sampler() -> None:
    class Broken(Store):
        def overview(self) -> Overview:
            raise ConnectionError("down")

    gator = Gator(f"locmem://{uuid.uuid4().hex}")
    sampler = Sampler(Broken(gator.conn_string, gator))
    assert sampler.sample() is None and sampler.history() == []


def test_charts_are_plain_svg_with_escaped_labels() -> None:
    svg = charts.line_chart([(0, 1.0), (10, None), (20, 4.0), (30, 2.0)], 0, 60, "<script>x</script>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1  # the gap splits the line
    assert ">5<" in svg  # the top of the value axis: a round number over the maximum
    assert "no data yet" in charts.line_chart([], 0, 60, "empty")
