"""The Prometheus metrics: HTTP requests by route template, and batch steps.

One registry for the process. Labels are route templates (`/v1/people/{person_id}/score`),
never raw paths, so no id becomes a label and the number of series stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kaimen.telemetry.step_runs import last_runs

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

HTTP_LABELS = ("method", "route", "status")
HTTP_REQUESTS = Counter(
    "kaimen_http_requests",
    "HTTP requests answered, by method, route template and status.",
    HTTP_LABELS,
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "kaimen_http_request_duration_seconds",
    "Time from receiving a request to sending its last byte, by method, route and status.",
    HTTP_LABELS,
    registry=REGISTRY,
)
# Batch steps take from milliseconds (an empty seal) to an hour (training on millions).
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
STEP_DURATION = Histogram(
    "kaimen_batch_step_duration_seconds",
    "Duration of each batch step run in this process.",
    ("step",),
    buckets=STEP_BUCKETS,
    registry=REGISTRY,
)
STEP_RUNS = Counter(
    "kaimen_batch_step_runs",
    "Batch steps run in this process, by outcome (ok, refused, failed).",
    ("step", "outcome"),
    registry=REGISTRY,
)


class LastStepRuns(Collector):
    """Each step's last run, from the files any kaimen process sharing the home wrote."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        duration = GaugeMetricFamily(
            "kaimen_batch_step_last_duration_seconds",
            "Duration of the last run of each batch step, in any kaimen process.",
            labels=("step",),
        )
        finished = GaugeMetricFamily(
            "kaimen_batch_step_last_run_timestamp_seconds",
            "When the last run of each batch step ended (Unix time).",
            labels=("step",),
        )
        succeeded = GaugeMetricFamily(
            "kaimen_batch_step_last_success_timestamp_seconds",
            "When each batch step last ended successfully (Unix time).",
            labels=("step",),
        )
        for run in last_runs(self._directory):
            duration.add_metric((run.step,), run.duration_seconds)
            finished.add_metric((run.step,), run.finished_at)
            if run.last_success_at is not None:
                succeeded.add_metric((run.step,), run.last_success_at)
        yield from (duration, finished, succeeded)


def exposition(step_runs: Path) -> bytes:
    """The Prometheus text format: this process's metrics and every step's last run."""
    return generate_latest(REGISTRY) + generate_latest(LastStepRuns(step_runs))
