"""Deploying to DigitalOcean Functions: the platform's own deployer library (pinned in package.json /
package-lock.json here, installed with `npm ci` once into the test data dir) reads and builds what
`make bundle` writes. It needs Node.js and npm; without them those tests skip, and the run ends with
a warning saying so (.ci/run installs both, so CI never skips them)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fasteners
import pytest

from gateway import manifest
from tests.conftest import TEST_DATA

HERE = Path(__file__).resolve().parent
ROOT = manifest.REPO_ROOT
REQUIRED_ONLY = {
    "DATABASE_URL": "postgresql://ims:pw@db.example.com:25060/ims?sslmode=require",
    "REDIS_URL": "rediss://default:pw@redis.example.com:25061/0",
    "JWT_SECRET": "deploy-test-secret-" + "y" * 32,
}
_skipped: list[str] = []


def _cache(name: str, *files: Path) -> Path:
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    return TEST_DATA / "deploy-cache" / f"{name}-{digest}"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The pinned deployer library, `npm ci`-installed once per package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        reason = ("Node.js and npm are not installed, so the DigitalOcean deployer tests did not run "
                  "(apt-get install nodejs npm; .ci/run does)")
        _skipped.append(reason)
        pytest.skip(reason)
    target = _cache("npm", HERE / "package-lock.json")
    done = target / "node_modules" / ".ims-installed"
    target.parent.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(target) + ".lock"):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(HERE / name, target / name)
            run = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=target,
                                 capture_output=True, text=True, timeout=600)
            assert run.returncode == 0, run.stdout + run.stderr
            done.touch()
    return target / "node_modules"


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The wheels of requirements*.txt for the platform's python:3.11 on x86_64 Linux, downloaded
    once, so each build.sh then installs offline (PIP_NO_INDEX) and fast."""
    files = [ROOT / "requirements.txt", ROOT / "requirements-mail.txt", ROOT / "requirements-labels.txt"]
    target = _cache("wheels", *files)
    target.parent.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(target) + ".lock"):
        if not (target / ".ims-downloaded").exists():
            shutil.rmtree(target, ignore_errors=True)
            run = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--only-binary=:all:", "--no-deps", *PLATFORM_WHEELS, "-d", str(target),
                 *[arg for f in files for arg in ("-r", str(f))]],
                capture_output=True, text=True, timeout=600)
            assert run.returncode == 0, run.stderr
            (target / ".ims-downloaded").touch()
    return target


# Wheels that run on the platform (python:3.11 on x86_64 Linux, glibc 2.34 or later), wherever pip runs.
PLATFORMS = ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
PLATFORM_WHEELS = ["--python-version", "3.11", "--implementation", "cp",
                   *[arg for platform in PLATFORMS for arg in ("--platform", platform)]]


def deployer(node_modules: Path, mode: str, project: Path, *only: str,
             env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run tests/deploy/deployer.js; its JSON report. `env`: the whole environment it sees."""
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(project.parent), **(env or REQUIRED_ONLY),
               "NODE_PATH": str(node_modules)}
    run = subprocess.run(["node", str(HERE / "deployer.js"), mode, str(project), *only], env=environ,
                         capture_output=True, text=True, timeout=600, cwd=project)
    assert run.stdout.strip(), run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 0, report
    return report


def bundle(out: Path, env: dict[str, str]) -> str:
    """`python -m gateway.bundle --out out` with exactly `env` (plus PATH); its output."""
    run = subprocess.run([sys.executable, "-m", "gateway.bundle", "--out", str(out)], cwd=ROOT,
                         env={"PATH": os.environ.get("PATH", ""), **env}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def required_only_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("deploy") / "do"
    bundle(out, REQUIRED_ONLY)
    yield out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_sep("!", "DigitalOcean deployer tests SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_skipped[0], red=True, bold=True)
