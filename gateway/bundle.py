"""`python -m gateway.bundle [--out build/do]`: write a DigitalOcean Functions project to deploy with
`doctl serverless deploy build/do --remote-build`.

The layout, and what it relies on:
- The build uses only `project.yml`, `packages/` and `lib/` at the project root; each function is the
  folder `packages/<package>/<function>/` (Build Process reference,
  https://docs.digitalocean.com/products/functions/reference/build-process ; How to Structure Projects,
  https://docs.digitalocean.com/products/functions/how-to/structure-projects ).
- Every file in a Python function's folder is deployed unless a `.include` or `.ignore` says otherwise
  (https://docs.digitalocean.com/products/functions/how-to/include-files ), and the deployer runs a
  folder's `build.sh` there before collecting its files (digitalocean/functions-deployer,
  src/finder-builder.ts). So no `.include` is written: `shared/` sits beside `__main__.py` and goes along.
- The Python launcher runs with the function folder as working directory and first on sys.path, imports
  `__main__.py` as `main__`, and activates `./virtualenv` through `virtualenv/bin/activate_this.py`
  (apache/openwhisk-runtime-python, core/pythonActionLoop/). That file is written by `virtualenv`, not
  by `python -m venv`, hence the usual build.sh: `virtualenv --without-pip virtualenv` then
  `pip install --target virtualenv/lib/python3.11/site-packages`.
- Build with `--remote-build`: bcrypt and pydantic_core are compiled wheels, so pip must run on the
  platform's own python:3.11 image. The remote build refuses a folder holding local build leftovers
  (`.built`, `__deployer__.zip`); a fresh bundle has none.
- Settings. The deployer (@nimbella/nimbella-deployer, and DigitalOcean's fork that doctl runs)
  substitutes every `${VAR}` / `$(VAR …)` of project.yml from the environment (or a `.env` file)
  as text before reading the YAML, and refuses the whole project when one is unset *or empty*; it
  also refuses an `environment` value that is not a string. So the bundled project.yml is written
  from the repository's, with each `environment` clause as one dictionary substitution
  `$(DATABASE_URL REDIS_URL JWT_SECRET …)` naming the required settings and the optional ones set (non-
  empty) when bundling: the deployer turns it into JSON, whose values are strings whatever they hold,
  and every optional setting left out falls back to its default in shared/settings.py.
  `webSecure: ${MAILER_SECRET}` is kept (quoted) only when MAILER_SECRET is set; without it the
  function URL is open at the platform and the mailer itself refuses every HTTP call, exactly as
  the gateway does with an empty secret. Bundle and deploy in the same environment (`make deploy`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from gateway import manifest

# What a deployment cannot run without (shared/settings.py has no default for them).
REQUIRED = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")
# DigitalOcean Functions' limits (https://docs.digitalocean.com/products/functions/details/limits/).
MAX_SCHEDULED_TRIGGERS = 3  # per namespace
MAX_FUNCTION_BYTES = 48 * 1024 * 1024  # a function as built: its folder after build.sh
MAX_PAYLOAD_BYTES = 1024 * 1024  # request and result
# The X-Require-Whisk-Auth value travels as an HTTP header and as a quoted YAML scalar.
_SECRET = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
_VAR = re.compile(r"^\$\{(\w+)\}$")


class BundleError(Exception):
    """project.yml or the environment cannot make a deployable project."""


class _Quoted(str):
    """A scalar written single-quoted, so a substituted secret such as 0123 stays a string."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Quoted, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", str(value), style="'"))

BUILD_SH = """#!/bin/bash
# Run by the DigitalOcean remote build, in this folder, on the python:3.11 runtime image.
set -e
virtualenv --without-pip virtualenv
pip install -r requirements.txt --target virtualenv/lib/python3.11/site-packages
"""

_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def requirements(fn: manifest.Function) -> str:
    """requirements.txt, plus the files the function's `ims-requirements` annotation names (the
    mail functions add SendGrid's; the others stay without it and its dependencies)."""
    extra = str(fn.annotations.get("ims-requirements") or "").split()
    return "".join((manifest.REPO_ROOT / name).read_text() for name in ["requirements.txt", *extra])


def _is_set(name: str, env: dict[str, str]) -> bool:
    return bool(env.get(name))


def _environment(clause: dict[str, Any], where: str, env: dict[str, str]) -> str | None:
    """One `environment` clause as the deployer's dictionary substitution of the settings it may
    pass: the required ones always (unset, the deployer names them), the others when set."""
    names = []
    for key, value in clause.items():
        match = _VAR.match(str(value))
        if not match or match[1] != key:
            raise BundleError(f"project.yml: {where} environment {key} must be ${{{key}}}, not {value!r}")
        if key in REQUIRED or _is_set(key, env):
            names.append(key)
    return f"$({' '.join(names)})" if names else None


def _scheduled(doc: dict[str, Any]) -> list[str]:
    return [f"{pkg['name']}/{fn['name']}: {trigger.get('name')}"
            for pkg in doc.get("packages") or [] for fn in pkg.get("functions") or []
            for trigger in fn.get("triggers") or [] if trigger.get("sourceType") == "scheduler"]


def deployable(text: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The project.yml to deploy, from the repository's, for the settings set in `env` (default
    the process environment); also the optional settings left at their defaults."""
    env = dict(os.environ) if env is None else env
    doc = yaml.safe_load(text)
    triggers = _scheduled(doc)
    if len(triggers) > MAX_SCHEDULED_TRIGGERS:
        raise BundleError(f"project.yml has {len(triggers)} scheduled triggers, DigitalOcean allows "
                          f"{MAX_SCHEDULED_TRIGGERS} per namespace: {', '.join(triggers)}")
    defaulted: list[str] = []
    clauses = [(doc, "the project's")] + [(pkg, f"package {pkg['name']}'s") for pkg in doc.get("packages") or []]
    for holder, where in clauses:
        if holder.get("environment"):
            defaulted += [k for k in holder["environment"] if k not in REQUIRED and not _is_set(k, env)]
            substitution = _environment(holder["environment"], where, env)
            if substitution:
                holder["environment"] = substitution
            else:
                del holder["environment"]
    for pkg in doc.get("packages") or []:
        for fn in pkg.get("functions") or []:
            secure = fn.get("webSecure")
            if secure is None:
                continue
            match = _VAR.match(str(secure))
            if not match:
                raise BundleError(f"project.yml: {pkg['name']}/{fn['name']}: webSecure must be a ${{VAR}}")
            value = env.get(match[1], "")
            if not value:
                del fn["webSecure"]  # no secret: the function refuses HTTP calls itself
            elif not _SECRET.match(value):
                raise BundleError(f"{match[1]} may hold only letters, digits and ._~+/=- "
                                  "(e.g. the output of `openssl rand -hex 32`)")
            else:
                fn["webSecure"] = _Quoted(secure)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True), sorted(set(defaulted))


def bundle(out: Path, env: dict[str, str] | None = None) -> tuple[list[manifest.Function], list[str]]:
    """Wipe `out` and write the project there; return the functions bundled and the optional settings
    left at their defaults."""
    functions = manifest.load()  # fails loudly if project.yml and functions/ disagree
    root = manifest.REPO_ROOT
    text, defaulted = deployable(manifest.DEFAULT_MANIFEST.read_text(), env)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "project.yml").write_text(text)
    for fn in functions:
        target = out / "packages" / fn.package / fn.name
        target.mkdir(parents=True)
        shutil.copyfile(fn.source, target / "__main__.py")
        shutil.copytree(root / "shared", target / "shared", ignore=_SKIP)
        (target / "requirements.txt").write_text(requirements(fn))
        build = target / "build.sh"
        build.write_text(BUILD_SH)
        build.chmod(0o755)
    return functions, defaulted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=manifest.REPO_ROOT / "build" / "do",
                        help="where to write the project (wiped first; default build/do)")
    out = parser.parse_args(argv).out.resolve()
    try:
        functions, defaulted = bundle(out)
    except BundleError as e:
        raise SystemExit(f"make bundle: {e}") from None
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    print(f"bundled {len(functions)} functions into {out}; "
          f"deploy with: doctl serverless deploy {out} --remote-build")
    if defaulted:
        print(f"unset, so left at their defaults: {', '.join(defaulted)}")
    if missing:
        print(f"the deploy needs {', '.join(missing)} set in its environment (bundle and deploy in the same one)")


if __name__ == "__main__":
    main()
