"""A clean, migrated IMS for the tests and the bench: fresh database, no `ims:*` keys in Redis."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from localenv.servers import Services, start_services


def fresh_database(url: str, name: str) -> str:
    """Drop and re-create database `name` on the server behind `url` (tests, bench); return its URL."""
    from urllib.parse import urlsplit, urlunsplit

    _admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}", name=name)
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on the server behind `url`, if it exists (the bench's restore target)."""
    _admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", name=name)


def _admin(url: str, *statements: str, name: str) -> None:
    import pg8000.native

    from shared.db import connect_args

    if not name.isidentifier():  # it goes into DDL, which takes no parameters
        raise ValueError(f"not a plain database name: {name!r}")
    admin = pg8000.native.Connection(**connect_args(url))
    try:
        for statement in statements:
            admin.run(statement)
    finally:
        admin.close()


def scratch(data_dir: Path, env_prefix: str, database: str, jwt_secret: str) -> tuple[Services, dict[str, str]]:
    """A clean, migrated IMS for tests and the bench: the servers named by <env_prefix>DATABASE_URL /
    <env_prefix>REDIS_URL (else embedded ones under data_dir), a fresh `database`, no `ims:*` keys in
    Redis. Sets the process environment and returns it with the services to stop."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
        if os.environ.get(env_prefix + name):
            os.environ[name] = os.environ[env_prefix + name]
    services = start_services(data_dir)
    env = {"DATABASE_URL": fresh_database(services.database_url, database), "REDIS_URL": services.redis_url,
           "JWT_SECRET": jwt_secret, "ALLOW_SELF_REGISTRATION": "true"}
    os.environ.update(env)

    from shared import events, migrate, settings

    settings.reset()
    redis = events.redis_client()
    _wait_until_loaded(redis)
    keys = list(redis.scan_iter("ims:*", count=1000))  # a bench run leaves ~100k publish markers
    for start in range(0, len(keys), 1000):
        redis.unlink(*keys[start:start + 1000])
    migrate.migrate()
    return services, env


def _wait_until_loaded(redis: Any, timeout: float = 120) -> None:
    """Redis answers LOADING while it reads its files back (an embedded one restarted over a bench's
    ~100k keys takes seconds): wait for it, as the supervisor does not (to it, loading is up)."""
    from redis.exceptions import BusyLoadingError

    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.ping()
            return
        except BusyLoadingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
