"""`make bench`: IMS's performance figures (DESIGN.md §8), measured end to end on one machine.

A fresh `ims_bench` database seeded with 100,000 items, the real gateway in its own process, and a
load generator in this one (asyncio, one keep-alive connection per simulated client) so the client
never competes with the server for a GIL. It reports figures and their targets as ratios to figures
of the same run (pgbench's limit, a single GET, a one-model pydantic function); it never fails on them.

- `bench.seed`     the 100k items, built inside PostgreSQL with generate_series
- `bench.limit`    the limit: a withdrawal's raw SQL through pgbench, for the ratios
- `bench.load`     a minimal HTTP/1.1 keep-alive client and the timed load loop
- `bench.cold`     cold start of one function in a fresh interpreter, the platform's way
- `bench.feed`     live-feed fan-out latency and memory per connection (a realtime process, a client process)
- `bench.backups`  backup to S3 (moto on loopback) and restore of the bench database, beside a bare pg_dump
- `bench.csvio`    CSV export of every item beside COPY; a 5,000-row import beside a raw INSERT and POST /items
- `bench.__main__` start services and gateway, run everything, print the table, stop everything
"""
