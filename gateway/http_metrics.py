"""The self-hosted front's request metrics for Prometheus, aggregated across gunicorn's workers.

prometheus_client's multiprocess mode: each worker writes its samples to files under
PROMETHEUS_MULTIPROC_DIR (gateway.serve creates that directory, empty, before the first worker starts,
and marks each worker dead as it exits), and a scrape reads them all. The names and labels are what the
seed design's alert rules query: `rate(http_requests_total{status=~"5.."}[5m])` and
`histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))`.

PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first imported: the library picks its
storage then. Without it (a single process), the samples live in this process's memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

# Our own registry, not the library's default one that the functions' collectors may use: a scrape shows
# each metric once.
_REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests_total", "HTTP requests answered, by route, method and status.",
                   ["route", "method", "status"], registry=_REGISTRY)
DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request, by route and method.",
                     ["route", "method"], registry=_REGISTRY)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being answered now.", multiprocess_mode="livesum",
                  registry=_REGISTRY)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request (an App observer)."""
    method = method if method in METHODS else "other"  # a client must not mint label values
    REQUESTS.labels(route, method, str(status)).inc()
    DURATION.labels(route, method).observe(seconds)


def counting_in_flight(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app, counted in http_requests_in_flight while it answers."""
    def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with IN_FLIGHT.track_inprogress():
            return app(environ, start_response)  # the App answers in full before it returns

    return counted


def collector() -> Any:
    """What a scrape reads: every worker's samples (multiprocess mode), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return multiprocess.MultiProcessCollector(None)
    return _REGISTRY


def worker_gone(pid: int) -> None:
    """A worker exited: drop its live gauges (its counters still count)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
