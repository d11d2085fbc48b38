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
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gateway import manifest

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


def bundle(out: Path) -> list[manifest.Function]:
    """Wipe `out` and write the project there; return the functions bundled."""
    functions = manifest.load()  # fails loudly if project.yml and functions/ disagree
    root = manifest.REPO_ROOT
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copyfile(manifest.DEFAULT_MANIFEST, out / "project.yml")
    for fn in functions:
        target = out / "packages" / fn.package / fn.name
        target.mkdir(parents=True)
        shutil.copyfile(fn.source, target / "__main__.py")
        shutil.copytree(root / "shared", target / "shared", ignore=_SKIP)
        (target / "requirements.txt").write_text(requirements(fn))
        build = target / "build.sh"
        build.write_text(BUILD_SH)
        build.chmod(0o755)
    return functions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=manifest.REPO_ROOT / "build" / "do",
                        help="where to write the project (wiped first; default build/do)")
    out = parser.parse_args(argv).out.resolve()
    functions = bundle(out)
    print(f"bundled {len(functions)} functions into {out}; "
          f"deploy with: doctl serverless deploy {out} --remote-build")


if __name__ == "__main__":
    main()
