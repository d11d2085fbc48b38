"""The database side: which pg_dump/pg_restore/psql to run, how to hand them the connection, and the
facts a manifest records and a restore checks (server version, migrations, row counts, the ledger).

pg_dump cannot dump a server newer than itself, so the binaries are looked for in BACKUP_PG_BIN, then
in the `pgserver` package (16.2, which `make run`'s embedded PostgreSQL runs), then on PATH; the first
whose major version is at least the server's is used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from shared import db

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")

# Per table, in the dump's own snapshot. Table names come from the catalogue, quoted with %I.
_TABLES = """SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"""
_RELATIONS = _TABLES.replace("('r', 'p')", "('r', 'p', 'v', 'm', 'S', 'f')")

# Items whose ledger does not replay to their quantity: the sum of the moves differs, or a move does
# not start where the one before it ended.
LEDGER_MISMATCHES = """
WITH moves AS (
    SELECT item_id, quantity_before, quantity_after,
           lag(quantity_after) OVER (PARTITION BY item_id ORDER BY id) AS previous_after
    FROM inventory_logs)
SELECT i.id, i.quantity, coalesce(sum(m.quantity_after - m.quantity_before), 0) AS replayed,
       count(*) FILTER (WHERE m.previous_after <> m.quantity_before) AS breaks
FROM items i LEFT JOIN moves m ON m.item_id = i.id
GROUP BY i.id
HAVING i.quantity <> coalesce(sum(m.quantity_after - m.quantity_before), 0)
    OR count(*) FILTER (WHERE m.previous_after <> m.quantity_before) > 0
ORDER BY i.id LIMIT 20"""


class ToolError(RuntimeError):
    pass


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for libpq's --dbname without its password, and the environment that carries it
    (a password on a command line is visible to every user of the machine in `ps`)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for key, variable in (("password", "PGPASSWORD"), ("sslpassword", "PGSSLPASSWORD")):
        for name, value in query:
            if name == key:
                env[variable] = value
    parts = parts._replace(query=urlencode([(k, v) for k, v in query if k not in ("password", "sslpassword")]))
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}@{host}")
    return urlunsplit(parts), env


def stderr_tail(errors: IO[bytes]) -> str:
    """The end of what a child wrote to `errors` (a temporary file), on one line: for an error message."""
    errors.seek(0)
    return " ".join(errors.read().decode(errors="replace").split())[-2000:]


def major(binary: str) -> int:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    match = _VERSION.search(out)
    if match is None:
        raise ToolError(f"cannot read the version of {binary}: {out.strip()!r}")
    return int(match[1])


def _candidates(name: str) -> list[str]:
    found = []
    if os.environ.get("BACKUP_PG_BIN"):
        found.append(str(Path(os.environ["BACKUP_PG_BIN"]) / name))
    spec = importlib.util.find_spec("pgserver")  # found without importing it
    if spec is not None and spec.submodule_search_locations:
        found.append(str(Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin" / name))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    return [path for path in dict.fromkeys(found) if os.access(path, os.X_OK)]


def binary(name: str, server_major: int) -> str:
    """The first `name` (pg_dump, pg_restore, psql) at least as new as the server."""
    seen = []
    for path in _candidates(name):
        version = major(path)
        if version >= server_major:
            return path
        seen.append(f"{path} is {version}")
    raise ToolError(f"no {name} of PostgreSQL {server_major} or newer was found "
                    f"({'; '.join(seen) or 'none at all'}); set BACKUP_PG_BIN to the directory of one")


def server_major(conn: db.Conn) -> int:
    return int(conn.row("SELECT current_setting('server_version_num')::int / 10000 AS v")["v"])


def tables(conn: db.Conn) -> list[str]:
    return [row["name"] for row in conn.query(_TABLES)]


def relations(conn: db.Conn) -> list[str]:
    """Tables, views, sequences and foreign tables in `public`: what makes a restore target not empty."""
    return [row["name"] for row in conn.query(_RELATIONS)]


def display(url: str) -> str:
    """`host:port/database` of a URL, for messages: never its user or password."""
    parts = urlsplit(url)
    socket_dir = dict(parse_qsl(parts.query)).get("host", "")
    return f"{parts.hostname or socket_dir or 'localhost'}:{parts.port or 5432}{parts.path}"


def row_counts(conn: db.Conn) -> dict[str, int]:
    names = tables(conn)
    if not names:
        return {}
    union = " UNION ALL ".join(
        f"SELECT {literal(name)} AS name, count(*) AS n FROM public.{ident(name)}" for name in names)
    return {row["name"]: int(row["n"]) for row in conn.query(union)}


def migrations(conn: db.Conn) -> list[str]:
    if "schema_migrations" not in tables(conn):
        return []
    return [row["version"] for row in conn.query("SELECT version FROM schema_migrations ORDER BY version")]


def ident(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(name: str) -> str:
    """An SQL string literal."""
    return "'" + name.replace("'", "''") + "'"
