"""The metrics of one realtime process, as prometheus_client metrics in a registry of its own.

All are written by the event loop's thread; /metrics reads them at any time. Counting a frame costs
a counter increment (under prometheus_client's lock, a few hundred nanoseconds) per client and event.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import choose_encoder

ROLES = ("manager", "staff")
DROP_REASONS = ("slow", "expired", "revoked", "shutdown")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("ims_realtime_connections", "Open, authenticated WebSocket connections.",
                                 ["role"], registry=r)
        # Each counter once per process: every stream entry, even one fanned out to no client.
        self.events_received = Counter("ims_realtime_events_received_total", "Events read from the Redis stream.",
                                       registry=r)
        self.duplicates = Counter("ims_realtime_events_duplicate_total",
                                  "Stream entries skipped because their outbox event was already delivered.",
                                  registry=r)
        self.messages_sent = Counter("ims_realtime_events_sent_total", "Event messages written to clients.",
                                     registry=r)  # live and replayed
        self.replayed = Counter("ims_realtime_events_replayed_total", "Event messages sent to resuming clients.",
                                registry=r)
        self.dropped = Counter("ims_realtime_clients_dropped_total", "Connections closed by the server, by reason.",
                               ["reason"], registry=r)
        self.redis_up = Gauge("ims_realtime_redis_up", "1 when the last Redis call succeeded.", registry=r)
        self.redis_reconnects = Counter("ims_realtime_redis_reconnects_total",
                                        "Times the stream reader reconnected to Redis.", registry=r)
        self.lag_seconds = Gauge("ims_realtime_stream_lag_seconds",
                                 "How far the newest stream entry is ahead of the last one delivered.", registry=r)
        # Every known label value from the start, so a scrape shows a 0 rather than no series.
        for role in ROLES:
            self.connections.labels(role)
        for reason in DROP_REASONS:
            self.dropped.labels(reason)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, Content-Type) in the format the scraper's Accept header asks for: Prometheus text
        0.0.4 unless it names OpenMetrics or text 1.0.0."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
