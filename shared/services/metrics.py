"""The business gauges (inventory, alerts, users, outbox, stream) as a prometheus_client collector.

Only the ops/metrics function and the gateway's own /metrics import this module: prometheus_client
costs tens of milliseconds to import, which no other function's cold start should pay. The self-hosted
front adds its request metrics here (`also`), so one scrape is one exposition in one format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from shared import db, events
from shared.services.ops import BACKUP_STATE, OUTBOX_STATE

_GAUGES = f"""
SELECT (SELECT count(*) FROM items) AS items,
       (SELECT coalesce(sum(quantity), 0) FROM items) AS stock_quantity,
       (SELECT count(*) FROM items WHERE quantity < low_stock_threshold) AS low_stock_items,
       (SELECT count(*) FROM alerts WHERE resolved_at IS NULL) AS open_alerts,
       (SELECT count(*) FROM users WHERE is_active) AS active_users,
       outbox.unpublished AS outbox_pending,
       coalesce(extract(epoch FROM now() - outbox.oldest_unpublished_at), 0) AS outbox_oldest_seconds,
       extract(epoch FROM backup.last_success_at) AS backup_last_success_timestamp_seconds,
       backup.last_size_bytes AS backup_last_size_bytes,
       extract(epoch FROM backup.last_failure_at) AS backup_last_failure_timestamp_seconds
FROM ({OUTBOX_STATE}) AS outbox, ({BACKUP_STATE}) AS backup"""

# Each gauge is `ims_<column>`, in this order; stream_length comes from Redis, not from _GAUGES.
_HELP = {
    "items": "Items in the inventory.",
    "stock_quantity": "Sum of all item quantities.",
    "low_stock_items": "Items below their low-stock threshold.",
    "open_alerts": "Low-stock alerts not yet resolved.",
    "active_users": "Active user accounts.",
    "outbox_pending": "Outbox events not yet marked published by the relay.",
    "outbox_oldest_seconds": "Age of the oldest event the relay has not marked published.",
    "backup_last_success_timestamp_seconds": "When the last successful backup finished (absent: none yet).",
    "backup_last_size_bytes": "Size of the last successful backup's dump.",
    "backup_last_failure_timestamp_seconds": "When the last failed backup run ended (absent: none failed).",
    "stream_length": "Entries in the Redis stream ims:events.",
}


class BusinessCollector:
    """Reads the database (one statement) and the stream's length at every scrape.

    A database that cannot be read raises out of `collect()`, as any query would; Redis down only
    leaves `ims_stream_length` out, rather than reporting a false zero.
    """

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so registering reads nothing and name clashes still show."""
        return [GaugeMetricFamily(f"ims_{name}", text) for name, text in _HELP.items()]

    def collect(self) -> Iterator[Metric]:
        values: dict[str, Any] = dict(db.one(_GAUGES) or {})
        try:
            values["stream_length"] = events.redis_client().xlen(events.STREAM)
        except Exception:
            values["stream_length"] = None
        for name, text in _HELP.items():
            if values.get(name) is not None:
                yield GaugeMetricFamily(f"ims_{name}", text, value=float(values[name]))


_registry = CollectorRegistry()
_registry.register(BusinessCollector())


def also(collector: Any) -> None:
    """Expose `collector` alongside the business gauges (the self-hosted front's request metrics,
    gateway.http_metrics): encoded together, so an OpenMetrics answer has one `# EOF`, at its end."""
    _registry.register(collector)


def exposition(accept: str | None) -> tuple[str, str]:
    """(body, Content-Type) of the business gauges and what `also` added, in the format the scraper's
    Accept header asks for: Prometheus text 0.0.4 unless it names OpenMetrics or text 1.0.0. A database
    that cannot be read fails the whole scrape (503), request metrics included: Prometheus then records
    the target as down (`up == 0`), which is what the gauges' alerts should see, rather than half an answer."""
    encode, content_type = choose_encoder(accept or "")
    return encode(_registry).decode(), content_type
