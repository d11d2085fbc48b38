"""The live feed (DESIGN.md §5): a long-running WebSocket server fed from the Redis stream `ims:events`.

- `realtime.config`   its settings, read once from the environment
- `realtime.stream`   stream ids, events as sent to clients, the replay reader, retention
- `realtime.hub`      connected clients, who may see what, fan-out with a bounded buffer per client
- `realtime.tail`     the one XREAD loop per process that feeds the hub and survives Redis outages
- `realtime.auth`     access-token checks, off the event loop (the database driver is synchronous)
- `realtime.metrics`  its prometheus_client metrics and their exposition
- `realtime.registry` its connection count in the Redis hash ims:realtime:servers, for GET /system/status
- `realtime.server`   the WebSocket endpoint `/ws`, `/healthz`, `/metrics`, start and graceful stop
- `realtime.launch`   run `python -m realtime` as a child process (what `make run` does)
"""
