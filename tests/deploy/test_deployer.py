"""DigitalOcean's deployer library reads and builds `make bundle`'s project, within the platform's limits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway import bundle as bundler
from gateway import manifest
from tests.deploy.conftest import PLATFORMS, REQUIRED_ONLY, bundle, deployer

FUNCTIONS = manifest.load()


def actions(report: dict) -> dict[str, dict]:
    return {f"{pkg['name']}/{a['name']}": a for pkg in report["packages"] for a in pkg["actions"]}


def test_the_repository_manifest_as_is_would_be_refused(node_modules: Path, tmp_path: Path) -> None:
    """Why the bundle rewrites project.yml: the deployer refuses an unset ${VAR}."""
    out = tmp_path / "do"
    bundle(out, REQUIRED_ONLY)
    shutil.copyfile(manifest.DEFAULT_MANIFEST, out / "project.yml")
    report = deployer(node_modules, "read", out)
    assert "The following substitutions could not be resolved" in report["error"]
    assert "MAILER_SECRET" in report["unresolved"]


def test_deployer_reads_every_function_with_only_the_required_settings(
        node_modules: Path, required_only_bundle: Path) -> None:
    report = deployer(node_modules, "read", required_only_bundle)
    assert report.get("error") is None and report["unresolved"] == [], report
    assert report["environment"] == REQUIRED_ONLY  # strings, and nothing an operator did not set
    found = actions(report)
    assert sorted(found) == sorted(f.qualified for f in FUNCTIONS)
    for fn in FUNCTIONS:
        action = found[fn.qualified]
        assert action["runtime"] == "python:3.11"
        assert action["build"] == "remote", action  # build.sh runs on the platform (--remote-build)
        assert action["web"] == fn.web
        assert action["file"] == f"packages/{fn.qualified}"
        assert action.get("annotations", {}) == fn.annotations
        assert action.get("webSecure") is None  # no MAILER_SECRET: the mailer refuses HTTP itself
        assert action.get("triggers", []) == fn.triggers
    assert all(pkg.get("environment") is None for pkg in report["packages"])


def test_optional_settings_reach_the_functions_as_strings(node_modules: Path, tmp_path: Path) -> None:
    """Numbers, and characters that mean something in YAML, arrive as the strings that were set."""
    optional = {"MAIL_TIMEOUT_SECONDS": "2.5", "LOGIN_WINDOW_SECONDS": "600", "FIRST_USER_MANAGER": "false",
                "CORS_ORIGINS": "https://a.example, https://b.example", "SMTP_URL": "smtp://u:p%23w@mail:587",
                "MAIL_FROM": 'IMS "stock" <ims@example.com> # not a comment', "MAILER_SECRET": "0123456789"}
    env = {**REQUIRED_ONLY, **optional, "JWT_SECRET": 'a"quote\\and: colon #' + "z" * 32}
    out = tmp_path / "do"
    printed = bundle(out, env)
    assert "MAIL_TIMEOUT_SECONDS" not in printed.split("defaults:")[-1]
    report = deployer(node_modules, "read", out, env=env)
    assert report.get("error") is None, report
    mail = next(pkg for pkg in report["packages"] if pkg["name"] == "notify")
    merged = {**report["environment"], **mail["environment"]}
    assert merged == env
    assert actions(report)["notify/low-stock-mailer"]["webSecure"] == "0123456789"


def test_a_required_setting_unset_at_deploy_is_named_by_the_deployer(
        node_modules: Path, required_only_bundle: Path) -> None:
    env = {k: v for k, v in REQUIRED_ONLY.items() if k != "JWT_SECRET"}
    report = deployer(node_modules, "read", required_only_bundle, env=env)
    assert report["unresolved"] == ["JWT_SECRET"]


def test_bundle_refuses_a_mailer_secret_that_cannot_travel_as_a_header() -> None:
    with pytest.raises(bundler.BundleError, match="MAILER_SECRET may hold only"):
        bundler.deployable(manifest.DEFAULT_MANIFEST.read_text(), {"MAILER_SECRET": "has space"})


def test_at_most_three_scheduled_triggers() -> None:
    """DigitalOcean allows 3 scheduled triggers per namespace; project.yml uses them all."""
    doc = yaml.safe_load(manifest.DEFAULT_MANIFEST.read_text())
    assert len(bundler._scheduled(doc)) <= bundler.MAX_SCHEDULED_TRIGGERS == 3
    fourth = {"name": "hourly", "sourceType": "scheduler", "sourceDetails": {"cron": "0 * * * *", "withBody": {}}}
    doc["packages"][0]["functions"][0]["triggers"] = [fourth]
    with pytest.raises(bundler.BundleError, match="4 scheduled triggers, DigitalOcean allows 3"):
        bundler.deployable(yaml.safe_dump(doc), {})


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.name != "__deployer__.zip" and not p.is_dir())


def test_every_built_function_fits_in_48_mb(node_modules: Path, wheelhouse: Path, tmp_path: Path) -> None:
    """The deployer's local build runs build.sh (virtualenv + pip, offline from the platform's wheels)
    once per distinct requirements set; each function is that build plus its own __main__.py."""
    out = tmp_path / "do"
    bundle(out, REQUIRED_ONLY)
    groups: dict[str, list[manifest.Function]] = {}
    for fn in FUNCTIONS:
        groups.setdefault((out / "packages" / fn.qualified / "requirements.txt").read_text(), []).append(fn)
    assert len(groups) == 3  # the mail functions carry SendGrid's client, the label function segno, the others neither
    representatives = [members[0].qualified for members in groups.values()]
    venv_bin = str(Path(sys.executable).parent)  # virtualenv and pip, pinned in requirements-dev.txt
    pip_env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "PIP_ONLY_BINARY": ":all:",
               "PIP_PYTHON_VERSION": "3.11", "PIP_IMPLEMENTATION": "cp", "PIP_PLATFORM": " ".join(PLATFORMS),
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull}
    env = {**REQUIRED_ONLY, **pip_env, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    report = deployer(node_modules, "build", out, *representatives, env=env)
    assert report.get("error") is None, report
    built = actions(report)
    assert sorted(built) == sorted(representatives)
    figures = []
    for members in groups.values():
        first = members[0]
        action = built[first.qualified]
        assert action["build"] == "build.sh" and action.get("buildError") is None, report["messages"]
        folder = out / "packages" / first.qualified
        site = folder / "virtualenv" / "lib" / "python3.11" / "site-packages"
        assert (site / "pydantic_core").is_dir() and (site / "bcrypt").is_dir()
        assert action["zipped"] and (folder / "__deployer__.zip").is_file()  # collected as for upload
        base = _size(folder) - (folder / "__main__.py").stat().st_size
        for fn in members:
            size = base + fn.source.stat().st_size
            figures.append((fn.qualified, size))
            assert size <= bundler.MAX_FUNCTION_BYTES, f"{fn.qualified} is {size / 2**20:.1f} MB built"
        print(f"{first.qualified} and {len(members) - 1} like it: {base / 2**20:.1f} MB built, "
              f"{(folder / '__deployer__.zip').stat().st_size / 2**20:.1f} MB zipped")
    assert len(figures) == len(FUNCTIONS)


def test_build_script_runs_as_the_deployer_would_find_it(required_only_bundle: Path) -> None:
    for fn in FUNCTIONS:
        script = required_only_bundle / "packages" / fn.qualified / "build.sh"
        assert os.access(script, os.X_OK)
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
