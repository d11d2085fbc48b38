"""Operator commands: `python -m gateway.admin create-manager --email … --name …` (`make create-manager`).

A deployment must not belong to whoever registers first: with FIRST_USER_MANAGER=false nobody gets
a manager account by registering, and an operator creates one here. It works against DATABASE_URL,
or, when that is unset, against the embedded PostgreSQL of `make run`'s data dir (IMS_DATA_DIR): the
running one if `make run` is up, else started for the command and stopped after it. Migrations are
applied first (they are idempotent). The password comes from IMS_MANAGER_PASSWORD, or is asked for
when the command runs in a terminal. An e-mail that already has an account is refused (exit 1):
this command never changes an existing account; a manager can promote it (PATCH /users/{id}).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from localenv import datadir, servers

PASSWORD_ENV = "IMS_MANAGER_PASSWORD"


def _password() -> str:
    password = os.environ.get(PASSWORD_ENV, "")
    if password:
        return password
    if not sys.stdin.isatty():
        raise SystemExit(f"set {PASSWORD_ENV} (no terminal to ask for the password)")
    password = getpass.getpass("Password for the new manager: ")
    if getpass.getpass("Again: ") != password:
        raise SystemExit("the two passwords differ")
    return password


def create_manager(email: str, name: str) -> int:
    from pydantic import ValidationError

    from shared import errors
    from shared.models import UserCreate

    try:
        data = UserCreate.model_validate({"email": email, "full_name": name, "password": _password(),
                                          "role": "manager"})
    except ValidationError as exc:
        for err in exc.errors():
            print(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2
    # Settings are read whole; this command needs only the database. Its user_changed event goes to
    # the running `make run`'s Redis when there is one, else the relay publishes it later.
    embedded_redis = servers.redis_socket(datadir.data_dir())
    if not os.environ.get("DATABASE_URL") and embedded_redis.is_socket():
        os.environ.setdefault("REDIS_URL", f"unix://{embedded_redis}")
    if not os.environ.get("REDIS_URL"):  # nothing to tell: the outbox keeps the event, no outage to report
        os.environ["REDIS_URL"] = "redis://127.0.0.1:1/0"
        logging.getLogger("ims.events").setLevel(logging.CRITICAL)
    os.environ.setdefault("JWT_SECRET", "unused-by-create-manager-" + "x" * 32)
    with servers.database():
        from shared import migrate
        from shared.services import users

        migrate.migrate()
        try:
            user = users.create_manager(data.email, data.full_name, data.password, operator=getpass.getuser())
        except errors.Conflict:
            print(f"{data.email} already has an account; nothing was changed "
                  "(a manager can promote it with PATCH /users/{id}).", file=sys.stderr)
            return 1
    print(f"created manager {user['email']} (id {user['id']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-manager", help="create an active manager account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="the full name")
    args = parser.parse_args(argv)
    return create_manager(args.email, args.name)


if __name__ == "__main__":
    sys.exit(main())
