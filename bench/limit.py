"""The limit: a withdrawal's raw SQL through `pgbench`, against the bench database, in the same run.

Absolute times on a shared machine drift 2-3x from day to day, so the bench reports the API beside
what PostgreSQL itself does on the same machine at the same moment. The script is the movement's
UPDATE and its ledger row, in one transaction: one statement (a data-modifying CTE, as
shared.services.items runs it, one round trip), on a random item of the seeded range, prepared
(`--protocol=prepared`). What the API adds on top (the token and user check, the outbox row, the
publish to Redis, HTTP, JSON, Python) is what the ratios measure.

pgbench ships with the embedded PostgreSQL (the pgserver wheel's bin directory); with another
server, the pgbench on PATH is used. Each run logs every transaction (`--log`), so latency
percentiles come from the same samples as the throughput, after a warm-up left out as the HTTP
load runs leave theirs out.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = """\\set id random({first}, {last})
WITH moved AS (
    UPDATE items SET quantity = quantity - 1, version = version + 1, updated_at = now()
    WHERE id = :id AND quantity - 1 >= 0
    RETURNING id, quantity
)
INSERT INTO inventory_logs (item_id, user_id, action, quantity_before, quantity_after, notes, request_id)
SELECT id, NULL, 'withdraw', quantity + 1, quantity, NULL, 'pgbench' FROM moved;
"""


@dataclass
class Limit:
    concurrency: int
    seconds: float
    latencies: list[float]  # seconds, the measured window's transactions

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        from bench.load import percentile_ms

        return percentile_ms(self.latencies, p)


def pgbench() -> str:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "pgbench"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if not found:
        raise RuntimeError("pgbench not found: neither in the pgserver package nor on PATH")
    return found


def _connection(args: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """pgbench's options and environment for shared.db.connect_args' keyword arguments."""
    host = os.path.dirname(args["unix_sock"]) if "unix_sock" in args else args["host"]
    options = ["-h", host, "-p", str(args["port"]), "-U", args["user"]]
    env = {**os.environ, "PGDATABASE": args["database"] or args["user"], "PGAPPNAME": "ims-bench-limit"}
    if args.get("password"):
        env["PGPASSWORD"] = args["password"]
    if "ssl_context" in args:
        env["PGSSLMODE"] = "require"
    return options, env


def run(database_url: str, first_id: int, last_id: int, concurrency: int, warmup: float,
        seconds: float) -> Limit:
    """`concurrency` pgbench clients withdraw 1 from random items in [first_id, last_id] for
    warmup + seconds; the transactions that began in the warm-up are left out."""
    from shared.db import connect_args

    options, env = _connection(connect_args(database_url))
    with tempfile.TemporaryDirectory(prefix="ims-pgbench-") as tmp:
        script = Path(tmp) / "withdraw.sql"
        script.write_text(SCRIPT.format(first=first_id, last=last_id))
        threads = max(1, min(concurrency, os.cpu_count() or 1))
        command = [pgbench(), *options, "-n", "-f", str(script), "--protocol=prepared",
                   "-c", str(concurrency), "-j", str(threads), "-T", str(max(1, math.ceil(warmup + seconds))),
                   "--log", "--log-prefix", str(Path(tmp) / "tx")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=warmup + seconds + 120)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-2000:]}")
        # Log lines: client_id transaction_no latency_us script_no epoch_s epoch_us (when it ended).
        samples: list[tuple[float, float]] = []
        for path in glob.glob(str(Path(tmp) / "tx.*")):
            with open(path) as log:
                for line in log:
                    parts = line.split()
                    if len(parts) >= 6 and parts[2].isdigit():
                        latency = int(parts[2]) / 1e6
                        samples.append((int(parts[4]) + int(parts[5]) / 1e6 - latency, latency))
    if not samples:
        raise RuntimeError(f"pgbench logged no transactions:\n{done.stdout[-2000:]}")
    began = min(start for start, _ in samples)
    start, stop = began + warmup, began + warmup + seconds
    measured = [latency for t, latency in samples if start <= t and t + latency <= stop]
    return Limit(concurrency=concurrency, seconds=seconds, latencies=measured)
