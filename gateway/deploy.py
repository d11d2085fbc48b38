"""`make deploy` (`python -m gateway.deploy`): check that a deployment can work, bundle, and hand the
project to `doctl serverless deploy … --remote-build`.

The preflight refuses, listing everything it found at once, when a required setting is unset or
empty (DATABASE_URL, REDIS_URL, JWT_SECRET, the environment the deployer substitutes from), or when
DATABASE_URL has migrations still to apply (read-only: it runs none; `make migrate` does). Exit
status: 0 deployed (or, with --check, ready), 1 the preflight refused, 3 `doctl` is not installed
(the bundle is written all the same), else doctl's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gateway import bundle, manifest

DOCTL_INSTALL = "https://docs.digitalocean.com/reference/doctl/how-to/install/"
NO_DOCTL = 3


def preflight() -> list[str]:
    """What stands in the way of a working deployment; [] when nothing does."""
    problems = [f"{name} is not set (or empty)" for name in bundle.REQUIRED if not os.environ.get(name)]
    secret = os.environ.get("JWT_SECRET", "")
    if secret and len(secret) < 32:
        problems.append("JWT_SECRET must be at least 32 characters")
    if problems:
        return problems  # the database check needs every setting the library reads

    from shared import db, migrate, settings

    try:
        waiting = migrate.pending()
    except migrate.MigrationError as e:
        return [str(e)]
    except settings.ConfigError as e:  # a setting the library refuses (names it)
        return [str(e)]
    except db.Error as e:
        return [f"DATABASE_URL cannot be read: {e}"]
    finally:
        db.close_pool()
    if waiting:
        return [f"DATABASE_URL has migrations to apply: {', '.join(waiting)} (run `make migrate` against it)"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=manifest.REPO_ROOT / "build" / "do",
                        help="where to write the project (default build/do)")
    parser.add_argument("--check", action="store_true", help="run the preflight only")
    args = parser.parse_args(argv)
    problems = preflight()
    if problems:
        print("make deploy: refused, nothing was deployed:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See README.md, 'Deploying: three ways', 'DigitalOcean Functions'.", file=sys.stderr)
        return 1
    print("preflight: required settings set, DATABASE_URL fully migrated")
    if args.check:
        return 0
    out = args.out.resolve()
    try:
        functions, _ = bundle.bundle(out)
    except bundle.BundleError as e:
        print(f"make deploy: {e}", file=sys.stderr)
        return 1
    print(f"bundled {len(functions)} functions into {out}")
    doctl = shutil.which("doctl")
    command = ["serverless", "deploy", str(out), "--remote-build"]
    if not doctl:
        print(f"make deploy: doctl is not installed, so nothing was deployed. Install it ({DOCTL_INSTALL}), "
              f"then `doctl auth init` and `doctl serverless install` / `doctl serverless connect`, and run "
              f"`make deploy` again (or: doctl {' '.join(command)}).", file=sys.stderr)
        return NO_DOCTL
    print(f"running: doctl {' '.join(command)}", flush=True)
    return subprocess.call([doctl, *command])


if __name__ == "__main__":
    sys.exit(main())
