"""`make bundle` writes a DigitalOcean project whose every function loads and answers as deployed.

Each bundled function runs in a fresh process under tests/platform_launcher.py (the platform's way of
loading it), with nothing of the repository on sys.path: no database is needed, because the requests
are answered before one would be touched (401 for an anonymous caller, 405 for a wrong method).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import manifest
from gateway.bundle import BUILD_SH, deployable
from gateway.platform_event import build_event

ROOT = manifest.REPO_ROOT
LAUNCHER = Path(__file__).with_name("platform_launcher.py")
FUNCTIONS = manifest.load()
# Closed ports: a function that tried to reach a server would fail fast, not hang.
ENV = {
    "PATH": os.environ.get("PATH", ""),
    "DATABASE_URL": "postgresql://ims@127.0.0.1:1/ims",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "JWT_SECRET": "bundle-test-secret-at-least-32-characters",
    "MAILER_SECRET": "bundle-test-mailer-secret",
}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "do"
    out.mkdir()
    (out / "stale.txt").write_text("left over from an earlier bundle")
    run = subprocess.run([sys.executable, "-m", "gateway.bundle", "--out", str(out)], cwd=ROOT,
                         env={**ENV, "PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"bundled {len(FUNCTIONS)} functions into {out}" in run.stdout
    return out


def activation(fn: manifest.Function, n: int) -> dict[str, Any]:
    """What the platform sends for a request that needs no database."""
    if not fn.is_http:
        value: dict[str, Any] = {}  # a scheduled trigger's `withBody: {}`
    elif fn.web_secure:  # a machine's function: the right call, but without X-Require-Whisk-Auth
        value = build_event("POST", "", "", {"content-type": "application/json"}, b"{}")
    elif fn.auth == "public":
        wrong = "DELETE" if fn.method != "DELETE" else "GET"
        value = build_event(wrong, "", "", {}, b"")
    else:  # the right method and path, but no token
        path = "/1" if "{id}" in (fn.route or "") else ""
        body = b'{"quantity": 1}' if fn.method in ("POST", "PUT", "PATCH") else b""
        value = build_event(fn.method or "GET", path, "", {"content-type": "application/json"}, body)
    return {"value": value, "activation_id": f"act{n}-{fn.package}-{fn.name}", "namespace": "fn-test",
            "action_name": f"/fn-test/{fn.qualified}", "deadline": int(time.time() * 1000) + 15000}


def launch(folder: Path, fn: manifest.Function) -> tuple[list[dict[str, Any]], str]:
    lines = "".join(json.dumps(activation(fn, n)) + "\n" for n in (1, 2))
    run = subprocess.run([sys.executable, "-I", str(LAUNCHER)], cwd=folder, env=ENV, input=lines,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()], run.stderr


@pytest.fixture(scope="module")
def answers(bundle_dir: Path) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """Every function, each in its own fresh process, all at once."""
    def one(fn: manifest.Function) -> tuple[list[dict[str, Any]], str]:
        return launch(bundle_dir / "packages" / fn.package / fn.name, fn)

    with ThreadPoolExecutor(max_workers=min(16, len(FUNCTIONS))) as pool:
        return dict(zip([f.qualified for f in FUNCTIONS], pool.map(one, FUNCTIONS)))


def test_bundle_has_the_project_file_and_one_folder_per_function(bundle_dir: Path) -> None:
    # The repository's manifest, rewritten for the deployer with the settings set (tests/deploy/).
    bundled = yaml.safe_load((bundle_dir / "project.yml").read_text())
    assert bundled == yaml.safe_load(deployable((ROOT / "project.yml").read_text(), ENV)[0])
    assert bundled["environment"] == "$(DATABASE_URL REDIS_URL JWT_SECRET)"
    assert bundled["packages"][-1]["environment"] == "$(MAILER_SECRET)"
    assert sorted(p.name for p in bundle_dir.iterdir()) == ["packages", "project.yml"]
    folders = {f"{p.parent.name}/{p.name}" for p in (bundle_dir / "packages").glob("*/*")}
    assert folders == {f.qualified for f in FUNCTIONS}
    shared = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "shared").rglob("*.py"))
    for fn in FUNCTIONS:
        folder = bundle_dir / "packages" / fn.package / fn.name
        assert sorted(p.name for p in folder.iterdir()) == ["__main__.py", "build.sh", "requirements.txt", "shared"]
        assert (folder / "__main__.py").read_bytes() == fn.source.read_bytes()
        wanted = (ROOT / "requirements.txt").read_text()
        if fn.package == "notify":  # SendGrid goes only where mail is sent
            wanted += (ROOT / "requirements-mail.txt").read_text()
        assert (folder / "requirements.txt").read_text() == wanted
        assert sorted(str(p.relative_to(folder)) for p in (folder / "shared").rglob("*.py")) == shared
        build = folder / "build.sh"
        assert build.read_text() == BUILD_SH and os.access(build, os.X_OK)


def test_bundle_carries_nothing_but_the_runtime(bundle_dir: Path) -> None:
    unwanted = {"tests", "gateway", "ui", ".venv", "__pycache__", ".include", ".built", "__deployer__.zip"}
    found = sorted(str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*")
                   if p.name in unwanted or p.suffix in (".pyc", ".html", ".js", ".css"))
    assert found == []


def test_build_script_follows_the_python_runtime_convention() -> None:
    lines = BUILD_SH.splitlines()
    assert lines[0] == "#!/bin/bash" and "set -e" in lines
    assert "virtualenv --without-pip virtualenv" in lines
    assert "pip install -r requirements.txt --target virtualenv/lib/python3.11/site-packages" in lines
    # The --target path names the interpreter, so every function must run on python:3.11.
    manifest_text = (ROOT / "project.yml").read_text()
    assert manifest_text.count("runtime: python:3.11") == manifest_text.count("runtime:") == len(FUNCTIONS)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=[f.qualified for f in FUNCTIONS])
def test_bundled_function_loads_and_answers_like_on_the_platform(
        fn: manifest.Function, answers: dict[str, tuple[list[dict[str, Any]], str]], bundle_dir: Path) -> None:
    (ready, *results), logs = answers[fn.qualified]
    folder = bundle_dir / "packages" / fn.package / fn.name
    assert ready["shared"] == str(folder / "shared" / "__init__.py"), "shared must come from the bundle"
    assert len(results) == 2, logs  # main(args) and main(args, context)
    for n, result in enumerate(results, start=1):
        assert isinstance(result, dict), result
        if not fn.is_http:
            continue  # e.g. ops/relay reports {"error": ...} without a database, and does not raise
        assert "error" not in result, logs  # the launcher's catch-all: the function raised
        assert isinstance(result["statusCode"], int) and isinstance(result["body"], str), result
        assert "Traceback" not in result["body"] and 'File "' not in result["body"]
        headers = {k.lower(): v for k, v in result["headers"].items()}
        problem = json.loads(result["body"])
        assert headers["content-type"] == "application/problem+json"
        assert headers["x-request-id"] == f"act{n}-{fn.package}-{fn.name}"  # from __OW_ACTIVATION_ID
        if fn.web_secure:
            assert (result["statusCode"], problem["status"]) == (401, 401), problem
        elif fn.auth == "public":
            assert (result["statusCode"], problem["status"], headers["allow"]) == (405, 405, fn.method)
        else:
            assert (result["statusCode"], problem["status"]) == (401, 401), problem
            assert headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("change", ["unlisted folder", "listed without a folder"])
def test_manifest_refuses_a_disagreement(tmp_path: Path, change: str) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(ROOT / "functions", functions, ignore=shutil.ignore_patterns("__pycache__"))
    if change == "unlisted folder":
        (functions / "items" / "count").mkdir()
        (functions / "items" / "count" / "__main__.py").write_text("def main(args, context=None):\n    return {}\n")
    else:
        shutil.rmtree(functions / "items" / "withdraw")
    with pytest.raises(manifest.ManifestError, match="items/(count|withdraw)"):
        manifest.load(ROOT / "project.yml", functions)
