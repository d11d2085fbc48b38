"""`make deploy` (python -m gateway.deploy) against the real test database: the preflight refuses what
would not work, then the bundle goes to `doctl serverless deploy … --remote-build`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from gateway import manifest
from gateway.deploy import DOCTL_INSTALL, NO_DOCTL
from localenv import scratch
from shared.migrate import pending_files
from tests.conftest import JWT_SECRET


def deploy(env: dict[str, str], *args: str, path: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.deploy", *args], cwd=manifest.REPO_ROOT,
                          env={"PATH": path, **env}, capture_output=True, text=True, timeout=120)


def required(services: dict[str, str]) -> dict[str, str]:
    return {"DATABASE_URL": services["DATABASE_URL"], "REDIS_URL": services["REDIS_URL"], "JWT_SECRET": JWT_SECRET}


def test_missing_or_empty_settings_are_refused_by_name(services: dict[str, str]) -> None:
    env = {**required(services), "REDIS_URL": ""}
    del env["JWT_SECRET"]
    run = deploy(env, "--check")
    assert run.returncode == 1
    assert "REDIS_URL is not set (or empty)" in run.stderr and "JWT_SECRET is not set (or empty)" in run.stderr
    assert "DATABASE_URL is not set" not in run.stderr


def test_a_malformed_setting_is_refused_by_name_not_blamed_on_the_database(services: dict[str, str]) -> None:
    run = deploy({**required(services), "LOGIN_WINDOW_SECONDS": "abc"}, "--check")
    assert run.returncode == 1, run.stdout
    assert "LOGIN_WINDOW_SECONDS" in run.stderr and "DATABASE_URL cannot be read" not in run.stderr


def test_a_database_with_pending_migrations_is_refused(services: dict[str, str]) -> None:
    url = scratch.fresh_database(services["DATABASE_URL"], "ims_deploy_unmigrated")
    run = deploy({**required(services), "DATABASE_URL": url}, "--check")
    assert run.returncode == 1, run.stdout
    versions = [version for version, _, _ in pending_files()]
    assert f"DATABASE_URL has migrations to apply: {', '.join(versions)}" in run.stderr
    assert "make migrate" in run.stderr
    after = deploy({**required(services), "DATABASE_URL": url}, "--check")
    assert after.returncode == 1, "the preflight must not have migrated anything"


def test_a_fully_migrated_database_passes(services: dict[str, str]) -> None:
    run = deploy(required(services), "--check")
    assert run.returncode == 0, run.stderr
    assert "DATABASE_URL fully migrated" in run.stdout


def test_without_doctl_the_bundle_is_written_and_the_exit_says_how_to_install(
        services: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "do"
    run = deploy(required(services), "--out", str(out), path=str(tmp_path))  # a PATH with no doctl
    assert run.returncode == NO_DOCTL
    assert "doctl is not installed" in run.stderr and DOCTL_INSTALL in run.stderr
    assert yaml.safe_load((out / "project.yml").read_text())["environment"] == \
        "$(DATABASE_URL REDIS_URL JWT_SECRET)"


def test_with_doctl_it_deploys_the_bundle_with_a_remote_build(services: dict[str, str], tmp_path: Path) -> None:
    """doctl cannot reach DigitalOcean from here: a stand-in on PATH records how it was called."""
    bin_dir, out, record = tmp_path / "bin", tmp_path / "do", tmp_path / "doctl.args"
    bin_dir.mkdir()
    doctl = bin_dir / "doctl"
    doctl.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\necho "JWT_SECRET=${{JWT_SECRET:+set}}" >> {record}\n'
                     "exit 7\n")
    doctl.chmod(0o755)
    run = deploy(required(services), "--out", str(out), path=f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    assert run.returncode == 7, run.stderr  # doctl's own status
    assert record.read_text().splitlines() == ["serverless", "deploy", str(out), "--remote-build", "JWT_SECRET=set"]
    assert (out / "packages" / "items" / "withdraw" / "__main__.py").is_file()
