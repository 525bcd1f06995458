"""`GET /metrics`: Prometheus text format, admin key required (scrape with a bearer credentials file).

Process counters (requests, latencies, and where this process runs jobs: audio transcribed, model
latency) come from the default registry; cluster-wide gauges (jobs by state, queue depth, live workers)
are read from the database and the broker at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.auth.dependencies import Caller
from app.db.session import session_scope
from app.errors import error_responses
from app.jobs import repository
from app.jobs.queue import JobQueue
from app.jobs.workers import live_workers
from app.settings import Settings

router = APIRouter(tags=["admin"])
log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ClusterCollector(Collector):
    """Gauges of the shared state: what every API node reports alike (jobs, queues, workers)."""

    def __init__(self, request: Request) -> None:
        self.factory = request.app.state.session_factory
        self.settings: Settings = request.app.state.settings
        self.queue: JobQueue = request.app.state.job_runner.queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read the database and the broker once per scrape."""
        jobs = GaugeMetricFamily("audit_jobs", "Jobs by state.", labels=["status"])
        workers = GaugeMetricFamily("audit_workers_alive", "Job-running processes with a recent heartbeat.")
        with session_scope(self.factory, read_only=True) as s:
            for status, n in repository.count_by_status(s).items():
                jobs.add_metric([status.value], n)
            workers.add_metric([], len(live_workers(s, settings=self.settings)))
        yield jobs
        yield workers
        depth = GaugeMetricFamily(
            "audit_queue_depth",
            "Messages not yet acknowledged (waiting, delayed or running).",
            labels=["queue"],
        )
        try:
            for queue, n in self.queue.depth().items():
                depth.add_metric([queue], n)
        except Exception as exc:  # the broker is away: say so by leaving the series out, not by failing
            log.warning("metrics: broker does not answer (%s)", type(exc).__name__)
        yield depth


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}, **error_responses(401, 403)},
)
def metrics(request: Request, _key: Caller) -> Response:
    """Prometheus metrics: requests and latencies, jobs by state, queue depth, workers, audio transcribed,
    model latency."""
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(ClusterCollector(request))
    body = generate_latest(REGISTRY) + generate_latest(cluster)
    return Response(content=body, media_type=CONTENT_TYPE)
